"""Cost of the power features, as ratios against a baseline measured in the same run.

    python -m imgrag_desktop.bench.features COCO_DIR [--model ViT-B-32] [--images 48]

Indexes the photos into a temporary data dir with the given open_clip architecture (random
weights unless the tag's weights are cached: the compute is the same), then times: the
visual pass alone (baseline), the calibration, a tiled 2400 px canvas, a plain search vs one
with tiles and duplicate folding, and a duplicate scan. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def _timed(fn: Any, repeat: int = 1) -> tuple[float, Any]:
    out, times = None, []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def run(coco: Path, model: str, n: int) -> dict[str, Any]:
    import numpy as np
    from PIL import Image

    from imgrag_desktop.search.calibration import CalibrationBook, calibrate_library
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.search.duplicates import DuplicateFinder, FingerprintTable
    from imgrag_desktop.indexing.pipeline import Indexer
    from imgrag_desktop.models.clip import ClipEncoder, encoder_from_config
    from imgrag_desktop.search import Searcher
    from imgrag_desktop.store import Store
    from imgrag_desktop.search.tiles import TileIndexer, TileTable

    photos = sorted(coco.glob("*/*.jpg"))[:n]
    with tempfile.TemporaryDirectory(prefix="imgrag-bench-power-") as tmp:
        root = Path(tmp)
        lib = root / "lib"
        lib.mkdir()
        for p in photos:
            shutil.copy2(p, lib / p.name)
        cfg = AppConfig(data_dir=root / "data", profile="test" if model == "tiny" else "default")
        cfg.ensure_dirs()
        clip = encoder_from_config(cfg) if model == "tiny" else ClipEncoder(model, "", "", device="auto")
        clip.load()
        store = Store(cfg.db_dir)
        idx = Indexer(cfg, store, clip)
        idx._after_visual_pass = lambda *a, **k: None  # type: ignore[method-assign]  # baseline: visual pass only
        t_index, _ = _timed(lambda: idx.index_paths([str(lib)]))
        t_cal, cal = _timed(lambda: calibrate_library(store, clip))
        canvas = Image.new("RGB", (2400, 2400), "white")
        canvas.paste(Image.open(photos[0]).convert("RGB"), (900, 1200))
        canvas.save(lib / "canvas.png")
        idx.index_paths([str(lib)])
        tiles = TileIndexer(store, clip, TileTable(cfg.db_dir))
        t_tiles, rep = _timed(lambda: tiles.run())
        searcher = Searcher(store, clip, calibration=CalibrationBook(cfg.data_dir))
        q = clip.encode_texts(["a dog on a beach"])[0]
        searcher.visual_search(q, 10, collapse=False, tiles=False)  # warm caches
        searcher.visual_search(q, 10)
        t_plain, _ = _timed(lambda: searcher.visual_search(q, 10, collapse=False, tiles=False), 15)
        t_power, _ = _timed(lambda: searcher.visual_search(q, 10), 15)
        finder = DuplicateFinder(store, FingerprintTable(cfg.db_dir), clip.model_id)
        t_dups, groups = _timed(lambda: finder.groups())
        per_image = t_index / max(1, len(photos))
        return {
            "model": clip.model_id, "device": clip.device, "images": len(photos),
            "index_visual_pass_s": round(t_index, 3),
            "calibration_s": round(t_cal, 3), "calibration_vs_index": round(t_cal / t_index, 2),
            "calibration": None if cal is None else {"text_probe": cal.text_probe_accuracy, "copies": cal.copy_retrieval},
            "canvas_tiles": rep.tiles, "canvas_tile_s": round(t_tiles, 3),
            "canvas_tiles_vs_one_image": round(t_tiles / per_image, 1),
            "search_plain_ms": round(t_plain * 1000, 2), "search_with_tiles_and_folding_ms": round(t_power * 1000, 2),
            "search_ratio": round(t_power / t_plain, 2),
            "duplicate_scan_s": round(t_dups, 3), "duplicate_groups": len(groups),
            "numpy": np.__version__,
        }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("coco", type=Path)
    ap.add_argument("--model", default="tiny", help="'tiny' (test profile) or an open_clip name, e.g. ViT-B-32")
    ap.add_argument("--images", type=int, default=48)
    args = ap.parse_args(argv)
    print(json.dumps(run(args.coco, args.model, args.images), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
