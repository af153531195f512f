"""Measure a CLIP switch: the background re-embed against a foreground re-index of the same
folder, and search latency while the re-embed runs (docs/performance.md#switching-the-clip-model).

    python -m tests.support.measure_reembed [--images 120] [--arch ViT-B-32] [--work DIR]

Two checkpoints of a real architecture with random weights (the same compute as the trained
model; no weights can be downloaded here) stand for the old and the new model. The folder is
COCO photos from the shared data. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

QUERIES = ["a dog on a sofa", "a red bus in the street", "people at the beach", "a plate of food", "a cat"]


def _services(data: Path, arch: str, ckpt: Path, folder: Path) -> Any:
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.services import Services

    cfg = AppConfig.load(data, "default")
    s = cfg.settings
    s.clip_model, s.clip_pretrained, s.clip_checkpoint, s.device = arch, "", str(ckpt), "cpu"
    s.captions_enabled = s.faces_enabled = False
    s.folders = [str(folder)]
    cfg.save()
    return Services(cfg)


def _full_index(svc: Any, folder: Path) -> float:
    from imgrag_desktop.indexing.stages import run_later_stages

    t0 = time.perf_counter()
    svc.indexer().index_paths([str(folder)])
    run_later_stages(svc, threading.Event())
    return time.perf_counter() - t0


def _latency(svc: Any, rounds: int) -> list[float]:
    out = []
    for i in range(rounds):
        t0 = time.perf_counter()
        svc.searcher.search(QUERIES[i % len(QUERIES)], k=20, mode="hybrid")
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=120)
    ap.add_argument("--arch", default="ViT-B-32")
    ap.add_argument("--work", default="")
    args = ap.parse_args()
    from imgrag_desktop.indexing.stages import STAGES, run_later_stages
    from imgrag_desktop.models.clip import write_tiny_checkpoint
    from tests.support.data import COCO

    work = Path(args.work or tempfile.mkdtemp(prefix="reembed-bench-"))
    folder = work / "photos"
    folder.mkdir(parents=True, exist_ok=True)
    for p in sorted(COCO.rglob("*.jpg"))[: args.images]:
        shutil.copy2(p, folder / p.name)
    n = len(list(folder.iterdir()))
    old = write_tiny_checkpoint(work / "old.pt", args.arch, seed=1)
    new = write_tiny_checkpoint(work / "new.pt", args.arch, seed=2)

    # The foreground re-index (what a switch cost before): every row read again, OCR included.
    fg = _services(work / "fg", args.arch, new, folder)
    fg_s = _full_index(fg, folder)

    # The background switch: indexed with the old model, then the new one chosen.
    bg = _services(work / "bg", args.arch, old, folder)
    _full_index(bg, folder)
    bg = _services(work / "bg", args.arch, new, folder)
    assert bg.clip_next is not None
    bg.clip.load()
    bg.clip_next.load()
    _latency(bg, 3)  # warm: text encoders loaded, vectors in memory
    idle = _latency(bg, 15)
    result: dict[str, Any] = {}
    during: list[float] = []

    def work_thread() -> None:
        t0 = time.perf_counter()
        out = run_later_stages(bg, threading.Event(), stages=[s for s in STAGES if s.name == "reembed"])
        result.update(out.get("reembed") or {}, seconds=time.perf_counter() - t0)

    th = threading.Thread(target=work_thread)
    th.start()
    time.sleep(0.5)
    while th.is_alive() and len(during) < 200:
        during += _latency(bg, 1)
    th.join()
    print(json.dumps({
        "images": n, "arch": args.arch,
        "foreground_reindex_s": round(fg_s, 1), "foreground_rows_per_s": round(n / fg_s, 2),
        "reembed_s": round(result["seconds"], 1), "reembed_rows_per_s": round(n / result["seconds"], 2),
        "speedup": round(fg_s / result["seconds"], 2), "switched": result.get("switched"),
        "search_ms_idle_median": round(statistics.median(idle), 1),
        "search_ms_during_median": round(statistics.median(during), 1) if during else None,
        "search_ms_during_p95": round(sorted(during)[int(0.95 * (len(during) - 1))], 1) if during else None,
        "queries_during": len(during),
    }, indent=1))


if __name__ == "__main__":
    main()
