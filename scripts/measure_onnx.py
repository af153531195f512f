"""Issue 19's torch-free runtime, measured: cold `imgrag search` (wall, peak RSS) with
clip_runtime torch and auto (the ONNX exports), the window's engine ready both ways, and the
image tower alone on torch (the product's precision) and on onnxruntime, in one run.

    PYTHONPATH=. python scripts/measure_onnx.py --model ViT-B-32 --reps 3 --out onnx.json

ViT-B-32 with random weights (no download; the same architecture and cost). A measuring tool
for docs/performance.md (the issue-19 section), not part of the app.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from imgrag_desktop.bench.indexing import make_jpegs
from imgrag_desktop.bench.memory import child_env, run_measured, window_cold_start
from imgrag_desktop.config import AppConfig

CLI = [sys.executable, "-m", "imgrag_desktop.cli"]
HEAVY_PROBE = ("import runpy, sys\nsys.argv = ['imgrag', *sys.argv[1:]]\ntry:\n"
               "    runpy.run_module('imgrag_desktop.cli', run_name='__main__')\nexcept SystemExit:\n    pass\n"
               "print('HEAVY=' + ','.join(m for m in ('torch', 'open_clip', 'sentence_transformers') if m in sys.modules),"
               " file=sys.stderr)\n")


def _settings(data: Path, profile: str, **values: Any) -> None:
    cfg = AppConfig.load(data, profile)
    for k, v in values.items():
        setattr(cfg.settings, k, v)
    cfg.save()


def _searches(data: Path, profile: str, reps: int, env: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for runtime in ("torch", "auto"):
        _settings(data, profile, clip_runtime=runtime)
        for mode in ("visual", "hybrid"):
            walls, peaks, heavy = [], [], ""
            for _ in range(reps):
                rc, wall, peak, err = run_measured([sys.executable, "-c", HEAVY_PROBE, "--data-dir", str(data),
                                                    "--profile", profile, "search", "a dog on a beach", "--mode",
                                                    mode, "--json"], env, 600)
                assert rc == 0, err
                walls.append(wall)
                peaks.append(peak or 0.0)
                heavy = [ln for ln in err.splitlines() if ln.startswith("HEAVY=")][-1][6:]
            out[f"{runtime}/{mode}"] = {"wall_s_median": round(statistics.median(walls), 2),
                                        "wall_s": [round(w, 2) for w in walls],
                                        "peak_rss_mb_median": round(statistics.median(peaks)),
                                        "heavy_modules": heavy}
    return out


def _tower(model: str, onnx_dir: Path, batch: int, reps: int) -> dict[str, Any]:
    """ms per image of the image tower alone on the same batch: torch at the product's
    precision for this CPU, then onnxruntime fp32 (the export)."""
    import numpy as np
    import torch

    from imgrag_desktop.models.clip import ClipEncoder
    from imgrag_desktop.models.onnx_clip import session

    enc = ClipEncoder(model, device="cpu", runtime="torch").load()
    x = torch.randn(batch, 3, enc.image_size, enc.image_size)
    sess = session(onnx_dir / "image.onnx")
    res: dict[str, list[float]] = {"torch": [], "onnx": []}
    enc.encode_tensors(x[:2])
    sess.run(None, {"pixels": x[:2].numpy()})
    for _ in range(reps):
        t = time.perf_counter()
        enc.encode_tensors(x)
        res["torch"].append((time.perf_counter() - t) * 1000 / batch)
        t = time.perf_counter()
        sess.run(None, {"pixels": np.ascontiguousarray(x.numpy())})
        res["onnx"].append((time.perf_counter() - t) * 1000 / batch)
    return {"batch": batch, "torch_precision": enc.precision,
            "torch_ms_per_image": round(statistics.median(res["torch"]), 1),
            "onnx_ms_per_image": round(statistics.median(res["onnx"]), 1),
            "torch_ms": [round(v, 1) for v in res["torch"]], "onnx_ms": [round(v, 1) for v in res["onnx"]]}


def _tower_rss(model: str, onnx_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    """Peak RSS of a process that only encodes 64 images with the image tower, each way."""
    code = {
        "torch": ("import torch\nfrom imgrag_desktop.models.clip import ClipEncoder\n"
                  f"e = ClipEncoder({model!r}, device='cpu', runtime='torch').load()\n"
                  "for _ in range(2): e.encode_tensors(torch.randn(32, 3, e.image_size, e.image_size))\n"),
        "onnx": ("import numpy as np\nfrom pathlib import Path\nfrom imgrag_desktop.models.onnx_clip import session\n"
                 f"s = session(Path({str(onnx_dir)!r}) / 'image.onnx')\n"
                 "for _ in range(2): s.run(None, {'pixels': np.random.rand(32, 3, 224, 224).astype(np.float32)})\n"),
    }
    out = {}
    for name, c in code.items():
        rc, wall, peak, err = run_measured([sys.executable, "-c", c], env, 600)
        assert rc == 0, err
        out[f"{name}_peak_rss_mb"] = round(peak or 0.0)
    return out


def _index_runs(work: Path, model: str, images: int, env: dict[str, str]) -> dict[str, Any]:
    """`imgrag index` of fresh 640x480 JPEGs into a library whose exports exist, with the image
    batches on torch (clip_runtime auto) and on onnxruntime (onnx): wall, peak RSS, heavy modules.
    OCR and faces off: the visual pass and the text stage."""
    data = work / "data-index"
    first = work / "first"
    make_jpegs(first, 4, (640, 480), seed=11)
    _settings(data, "default", clip_model=model, clip_pretrained="", ocr_enabled=False, faces_enabled=False)
    rc, _, _, err = run_measured(CLI + ["--data-dir", str(data), "index", str(first)], env, 1800)  # the exports
    assert rc == 0, err
    out: dict[str, Any] = {"images": images}
    for i, runtime in enumerate(("auto", "onnx", "auto", "onnx")):
        folder = work / f"batch-{i}"
        make_jpegs(folder, images, (640, 480), seed=20 + i)
        _settings(data, "default", clip_runtime=runtime)
        rc, wall, peak, err = run_measured([sys.executable, "-c", HEAVY_PROBE, "--data-dir", str(data), "index",
                                            str(folder), "--json"], env, 1800)
        assert rc == 0, err
        heavy = [ln for ln in err.splitlines() if ln.startswith("HEAVY=")][-1][6:]
        out.setdefault(runtime, []).append({"wall_s": round(wall, 1), "peak_rss_mb": round(peak or 0.0),
                                            "heavy_modules": heavy})
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="ViT-B-32")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", default="")
    ap.add_argument("--index-only", type=int, default=0, metavar="N",
                    help="only `imgrag index` of N images, image batches on torch and on onnxruntime")
    args = ap.parse_args()
    env = child_env()
    result: dict[str, Any] = {"model": args.model, "date": time.strftime("%Y-%m-%d")}
    if args.index_only:
        with tempfile.TemporaryDirectory(prefix="imgrag-onnx-") as tmp:
            result["index_runs"] = _index_runs(Path(tmp), args.model, args.index_only, env)
        text = json.dumps(result, indent=1)
        if args.out:
            Path(args.out).write_text(text)
        print(text)
        return 0
    with tempfile.TemporaryDirectory(prefix="imgrag-onnx-") as tmp:
        work = Path(tmp)
        photos = work / "photos"
        make_jpegs(photos, 8, (640, 480), seed=3)
        data = work / "data"
        _settings(data, "default", clip_model=args.model, clip_pretrained="", ocr_enabled=False, faces_enabled=False)
        rc, wall, peak, err = run_measured(CLI + ["--data-dir", str(data), "index", str(photos), "--json"], env, 1800)
        assert rc == 0, err
        result["index"] = {"wall_s_with_exports": round(wall, 1), "peak_rss_mb": round(peak or 0.0)}
        onnx = data / "models" / "onnx"
        result["exports"] = sorted(p.name for p in onnx.iterdir())
        result["search"] = _searches(data, "default", args.reps, env)
        clip_dir = next(p for p in onnx.iterdir() if not p.name.startswith("text-"))
        result["image_tower"] = _tower(args.model, clip_dir, 32, args.reps)
        result["image_tower"].update(_tower_rss(args.model, clip_dir, env))
        # The window (test profile: the tiny CLIP, the real MiniLM) on a small library.
        gui = work / "data-gui"
        _settings(gui, "test", faces_enabled=False, ocr_enabled=False)
        rc, _, _, err = run_measured(CLI + ["--data-dir", str(gui), "--profile", "test", "index", str(photos)], env, 900)
        assert rc == 0, err
        for runtime in ("torch", "auto"):
            _settings(gui, "test", clip_runtime=runtime)
            runs = [window_cold_start(env, gui)[0] or {} for _ in range(max(1, args.reps - 1))]
            result[f"window/{runtime}"] = {
                "engine_ready_s": [r.get("engine_ready_s") for r in runs],
                "process_start_to_shown_s": [r.get("process_start_to_shown_s") for r in runs]}
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
