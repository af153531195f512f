"""Cost of the power features, as ratios against a baseline measured in the same run
(`imgrag bench --part features [--model ViT-B-32] [--images 48]`).

Indexes photos (the shared COCO set, or generated ones) into a temporary data dir with the
given open_clip architecture, random weights (the compute is the same as trained ones), or the
test profile's tiny model ("tiny", the default), then times: the visual pass alone (baseline),
the calibration, a tiled 2400 px canvas, a plain search vs one with tiles and duplicate
folding, and a duplicate scan.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from imgrag_desktop.bench.common import Progress, coco_images, say


def _timed(fn: Any, repeat: int = 1) -> tuple[float, Any]:
    out, times = None, []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def bench_features(work_dir: Path, n: int = 48, model: str = "tiny", device: str = "auto",
                   progress: Progress | None = None) -> dict[str, Any]:
    import numpy as np
    from PIL import Image

    from imgrag_desktop.bench.indexing import make_jpegs
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.indexing.pipeline import Indexer
    from imgrag_desktop.models.clip import ClipEncoder, encoder_from_config
    from imgrag_desktop.search import Searcher
    from imgrag_desktop.search.calibration import CalibrationBook, calibrate_library
    from imgrag_desktop.search.duplicates import DuplicateFinder, FingerprintTable
    from imgrag_desktop.search.tiles import TileIndexer, TileTable
    from imgrag_desktop.store import Store

    with tempfile.TemporaryDirectory(prefix="imgrag-bench-power-", dir=work_dir) as tmp:
        root = Path(tmp)
        lib = root / "lib"
        lib.mkdir()
        for p in coco_images(n):
            shutil.copy2(p, lib / p.name)
        have = len(list(lib.iterdir()))
        if have < n:  # no (or too few) real photos at hand: generated ones
            make_jpegs(lib, n - have, (640, 480), seed=9)
        photos = sorted(lib.iterdir())
        say(progress, f"features: {len(photos)} photos, model {model}")
        cfg = AppConfig(data_dir=root / "data", profile="test" if model == "tiny" else "default")
        cfg.ensure_dirs()
        clip = encoder_from_config(cfg) if model == "tiny" else ClipEncoder(model, "", "", device=device)
        clip.load()
        store = Store(cfg.db_dir)
        idx = Indexer(cfg, store, clip)
        idx._after_visual_pass = lambda *a, **k: None  # type: ignore[method-assign]  # baseline: visual pass only
        say(progress, "features: visual pass (baseline)")
        t_index, _ = _timed(lambda: idx.index_paths([str(lib)]))
        say(progress, "features: calibration, tiles, search, duplicates")
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
