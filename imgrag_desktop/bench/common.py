"""What every benchmark shares: the machine it ran on, timing statistics, the model with random
weights, and where real photos come from.

Kept free of heavy imports at module level (torch, Pillow, the engine): `imgrag bench --part X`
imports only what part X measures.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

DEFAULT_MODEL = "ViT-B-32"

Progress = Callable[[str], None]


def say(progress: Progress | None, msg: str) -> None:
    if progress is not None:
        progress(msg)


def stats_ms(seconds: Sequence[float]) -> dict[str, float]:
    a = np.asarray(seconds, dtype=np.float64) * 1e3
    if a.size == 0:
        return {"p50": float("nan"), "p95": float("nan"), "n": 0}
    return {"p50": round(float(np.percentile(a, 50)), 3), "p95": round(float(np.percentile(a, 95)), 3),
            "n": int(a.size)}


def time_queries(fn: Callable[[Any], Any], queries: Sequence[Any], warmup: int = 3) -> list[float]:
    for q in list(queries)[:warmup]:
        fn(q)
    times = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        times.append(time.perf_counter() - t)
    return times


def machine_info() -> dict[str, Any]:
    """What the numbers came from (they mean little without it)."""
    info: dict[str, Any] = {
        "platform": platform.platform(), "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        info["ram_gb"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    try:
        info["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        pass
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception:  # torch missing or broken: the search part still runs
        info["gpu"] = None
    info["numpy"] = np.__version__
    return info


def bench_encoder(model: str = DEFAULT_MODEL, device: str = "auto", seed: int = 0, precision: str = "auto") -> Any:
    """The real architecture with random weights (same compute as trained ones; no download).
    The same seed gives the same weights at any precision."""
    import torch

    from imgrag_desktop.models.clip import ClipEncoder

    torch.manual_seed(seed)
    enc = ClipEncoder(model, pretrained="", device=device, precision=precision)
    enc.load()
    return enc


def coco_images(limit: int | None = None) -> list[Path]:
    """Real photos to build query images and generated JPEGs from: IMGRAG_BENCH_PHOTOS, else
    the project's shared test data (COCO) beside the checkout; none is fine (see make_jpegs)."""
    shared = os.environ.get("IMGRAG_SHARED_DATA") or str(Path(__file__).resolve().parents[3] / "shared" / "data")
    for r in (os.environ.get("IMGRAG_BENCH_PHOTOS", ""), str(Path(shared) / "coco-mini")):
        if r and Path(r).is_dir():
            files = sorted(Path(r).rglob("*.jpg"))
            if files:
                return files[:limit] if limit else files
    return []


def drawn_photo(rng: np.random.Generator, w: int, h: int) -> Any:
    """A stand-in photo when no real ones are at hand: smooth gradients and soft shapes, which
    compress and decode like a photo (random noise would not)."""
    from PIL import Image, ImageDraw, ImageFilter

    sw, sh = max(8, w // 8), max(8, h // 8)
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    base = np.stack([(xx / sw * rng.uniform(80, 255)), (yy / sh * rng.uniform(80, 255)),
                     np.full_like(xx, rng.uniform(0, 255))], axis=-1)
    img = Image.fromarray(base.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, sw)), int(rng.integers(0, sh))
        draw.ellipse([x0, y0, x0 + int(rng.integers(2, sw // 2 + 3)), y0 + int(rng.integers(2, sh // 2 + 3))],
                     fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    return img.filter(ImageFilter.GaussianBlur(1)).resize((w, h), Image.Resampling.BICUBIC)
