"""`run_bench(parts=...)`: the one way every benchmark runs, behind `imgrag bench --part X`.

Every figure that is compared is measured in the same run on the same machine: the pipeline
against a naive one-image-at-a-time loop, IVF search against exact search, a feature against
the visual pass. Models are the real open_clip architectures with random weights
(`pretrained=None`): they cost the same compute as trained ones and need no download.
Everything is written to a temporary folder, never to the user's data dir or photos.
Each part's module is imported only when that part runs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from imgrag_desktop.bench.common import DEFAULT_MODEL, Progress, bench_encoder, machine_info, say
from imgrag_desktop.bench.parts import ALL, PARTS
from imgrag_desktop.types import ImgragError

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (2_000, 20_000)
# The goals of issue 7, checked in the output (on this 2-core CPU).
GOALS = {
    "index_speedup_12mp": 3.0,
    "index_speedup_640x480": 2.0,
    "text_query_p50_ms_100k": 30.0,
    "text_query_p50_ms_1m": 50.0,
    "recall_at_10_1m": 0.95,
    # issue 19: the first query after one new picture costs at most this much more than others
    "new_picture_extra_ms_1m": 50.0,
    # issue 21: a typed search through the window, copies folded: to the visible grid filled
    # (the first screenful, streamed first) and, stricter, to the whole answer (500) in the grid
    "window_first_screen_p95_ms_10k": 300.0,
    "window_first_screen_p95_ms_100k": 1000.0,
    "window_query_p95_ms_10k": 300.0,
    "window_query_p95_ms_100k": 1000.0,
    # issue 19: the indexing pass against the image tower alone (share of the ceiling), the
    # whole `imgrag index` against the seed's loop in fresh processes, and its peak memory
    "index_tower_share_640x480": 2 / 3,
    "command_speedup_12mp": 2.0,
    "command_speedup_coco": 2.0,
    "command_peak_rss_mb_12mp": 1000.0,
}
# The model of the parts that measure the product around the model rather than the model
# (features, watch): the test profile's tiny one, unless --model names another.
SMALL_MODEL = "tiny"


def _goals(result: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def put(name: str, value: float | None, ok: bool | None) -> None:
        out[name] = {"value": value, "target": GOALS[name], "met": ok}

    sets = result.get("index", {}).get("sets", {})
    for key, name in (("12mp", "index_speedup_12mp"), ("640x480", "index_speedup_640x480")):
        if key in sets:
            v = sets[key]["speedup"]
            put(name, v, v >= GOALS[name])
    if "640x480" in sets and "pipeline_vs_tower" in sets["640x480"]:
        v = sets["640x480"]["pipeline_vs_tower"]
        put("index_tower_share_640x480", v, v >= GOALS["index_tower_share_640x480"])
    if not result.get("quick"):  # a quick run's sets are too small to mean anything
        for key, cmd in (result.get("memory", {}).get("command") or {}).items():
            if f"command_speedup_{key}" in GOALS:
                put(f"command_speedup_{key}", cmd["speedup"], cmd["speedup"] >= GOALS[f"command_speedup_{key}"])
            if f"command_peak_rss_mb_{key}" in GOALS and cmd.get("command_peak_rss_mb") is not None:
                v = cmd["command_peak_rss_mb"]
                put(f"command_peak_rss_mb_{key}", v, v <= GOALS[f"command_peak_rss_mb_{key}"])
    for entry in result.get("search", {}).get("sizes", []):
        n = entry["searcher"]["rows"]
        p50 = entry["searcher"]["text_query_ms"]["p50"]
        if n == 100_000:
            put("text_query_p50_ms_100k", p50, p50 <= GOALS["text_query_p50_ms_100k"])
        if n == 1_000_000:
            put("text_query_p50_ms_1m", p50, p50 <= GOALS["text_query_p50_ms_1m"])
            ivf = entry["vectors"]["ivf"]  # the product scans the compact copy when it has one
            rec = ivf["compact"]["recall_at_10"] if ivf.get("compact", {}).get("used") else ivf["recall_at_10"]
            worst = min(rec.values())
            put("recall_at_10_1m", worst, worst >= GOALS["recall_at_10_1m"])
            extra = entry["searcher"].get("new_picture_extra_ms")
            if extra is not None:
                put("new_picture_extra_ms_1m", extra, extra <= GOALS["new_picture_extra_ms_1m"])
    for entry in result.get("window", {}).get("sizes", []):
        for n, size in ((10_000, "10k"), (100_000, "100k")):
            if entry["rows"] != n:
                continue
            for field, name in (("first_screen_ms", f"window_first_screen_p95_ms_{size}"),
                                ("query_ms", f"window_query_p95_ms_{size}")):
                p95s = [entry[m][field].get("p95") for m in entry if m != "rows"]
                if p95s and None not in p95s:
                    worst = max(p95s)
                    put(name, worst, worst <= GOALS[name])
    return out


def _bench_command(tmp: Path, quick: bool, n_big: int, clip_model: str, progress: Progress | None) -> dict[str, Any]:
    """The whole `imgrag index` against the seed's loop, fresh processes (bench/command.py): 48
    generated 12 MP photos and the shared COCO photos (a quick run: a few 1600x1200 ones)."""
    from imgrag_desktop.bench.command import bench_command
    from imgrag_desktop.bench.common import coco_images
    from imgrag_desktop.bench.indexing import make_jpegs

    folder = tmp / "jpeg-command"
    make_jpegs(folder, max(4, n_big) if quick else 48, (1600, 1200) if quick else (4000, 3000), seed=7)
    sets = {"12mp": folder}
    coco = coco_images()
    if coco and not quick:
        sets["coco"] = Path(os.path.commonpath([str(p.parent) for p in coco]))
    try:
        return bench_command(tmp, sets, clip_model, progress)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_bench(parts: Sequence[str] = ALL, quick: bool = False, sizes: Sequence[int] | None = None,
              images: int | None = None, queries: int | None = None, model: str | None = None,
              device: str = "auto", work_dir: str | os.PathLike[str] | None = None,
              progress: Progress | None = None, precision: str = "auto", **indexer_kw: Any) -> dict[str, Any]:
    """Run the selected parts (`all`: index, search and memory); returns one JSON-able dict
    with a key per part (see the README, "Performance").

    `model` is the open_clip architecture (random weights) of every part that has one: by
    default ViT-B-32 for index, search and memory, and the test profile's tiny model for
    features and watch (they measure what surrounds the model). `images` is the number of
    640x480 JPEGs to index, and of photos for features.
    """
    parts = list(ALL) if not parts or "all" in parts else list(parts)
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise ImgragError(f"unknown benchmark part {unknown[0]!r}: use {', '.join(PARTS)} or all")
    clip_model = model or DEFAULT_MODEL
    sizes = list(sizes or (QUICK_SIZES if quick else DEFAULT_SIZES))
    if any(n < 2 for n in sizes):
        raise ImgragError("search sizes must be at least 2 rows")
    queries = queries or (20 if quick else 200)
    # 256 + 64 by default: enough that one-time costs of a run (opening the store, calibrating
    # the relevance cut-off, optimize) weigh as little as they do on a real library.
    n_img = images or (6 if quick else 256)
    n_big = max(2, n_img // (2 if quick else 4))
    result: dict[str, Any] = {"machine": machine_info(), "quick": quick, "parts": parts,
                              "started_at": time.strftime("%Y-%m-%d %H:%M:%S")}
    if work_dir:
        Path(work_dir).expanduser().mkdir(parents=True, exist_ok=True)  # --work-dir names a folder to use
    tmp = Path(tempfile.mkdtemp(prefix="imgrag-bench-", dir=work_dir))
    try:
        encoder = None
        if "index" in parts or "search" in parts or "copies" in parts or "window" in parts:
            say(progress, f"loading {clip_model} (random weights)")
            t = time.perf_counter()
            encoder = bench_encoder(clip_model, device, precision=precision)
            result["model"] = {"name": clip_model, "weights": "random (same compute as trained)", "device": encoder.device,
                               "dtype": str(encoder.dtype).replace("torch.", ""), "load_s": round(time.perf_counter() - t, 2)}
        if "search" in parts:
            from imgrag_desktop.bench.search import bench_search

            result["search"] = bench_search(sizes, encoder, tmp, queries, progress)
        if "copies" in parts:
            from imgrag_desktop.bench.copies import bench_copies

            result["copies"] = bench_copies([n for n in sizes if n <= 100_000] or [10_000], encoder, tmp,
                                            12 if quick else 24, progress)
        if "window" in parts:
            try:
                from imgrag_desktop.bench.gui_search import bench_gui_search  # PySide6 and the window: only here
            except ImportError as exc:
                raise ImgragError(f"the window benchmark needs the window, which cannot start: {exc}") from exc

            result["window"] = bench_gui_search([n for n in sizes if n <= 100_000] or [10_000], encoder, tmp,
                                                12 if quick else 24, progress=progress)
        if "index" in parts:
            big = (1600, 1200) if quick else (4000, 3000)
            assert encoder is not None
            # The baseline uses open_clip's default precision (fp32), with the same weights.
            naive = encoder if encoder.precision == "fp32" else bench_encoder(clip_model, encoder.device, precision="fp32")
            from imgrag_desktop.bench.indexing import bench_index

            result["index"] = bench_index(
                encoder, tmp, {"12mp": n_big, "640x480": n_img},
                {"12mp": big, "640x480": (640, 480)}, progress, naive_encoder=naive, **indexer_kw)
            if quick:
                result["index"]["note"] = "quick run: the '12mp' set is 1600x1200"
        if "memory" in parts:
            from imgrag_desktop.bench.memory import bench_memory

            result["memory"] = bench_memory(tmp, max(4, n_big), clip_model,
                                            (1600, 1200) if quick else (4000, 3000), progress)
            result["memory"]["command"] = _bench_command(tmp, quick, n_big, clip_model, progress)
        if "features" in parts:
            from imgrag_desktop.bench.features import bench_features

            result["features"] = bench_features(tmp, images or (8 if quick else 48), model or SMALL_MODEL, device,
                                                progress)
        if "places" in parts:
            from imgrag_desktop.bench.places import bench_places

            result["places"] = bench_places(tmp, images or (10 if quick else 50), 20_000 if quick else 100_000,
                                            progress)
        if "ocr" in parts:
            from imgrag_desktop.bench.ocr import bench_ocr

            result["ocr"] = bench_ocr(tmp, quick=quick, limit=images, progress=progress)
        if "vlm" in parts:
            from imgrag_desktop.bench.vlm import bench_vlm

            (tmp / "vlm").mkdir()
            result["vlm"] = bench_vlm(tmp / "vlm", 1 if quick else 3, 1 if quick else 3, progress)
        if "watch" in parts:
            from imgrag_desktop.bench.watch import bench_watch

            opts: dict[str, Any] = (dict(files=8, interval=0.05, idle=3.0, idle_images=20, big=2_000, big_images=20)
                                    if quick else {})
            result["watch"] = bench_watch(tmp, model=model or SMALL_MODEL, progress=progress, **opts)
        if "warm" in parts:
            from imgrag_desktop.bench.warm import bench_warm

            result["warm"] = bench_warm(tmp, images or (8 if quick else 40), 2 if quick else 3, 3 if quick else 10,
                                        progress)
        if "gui" in parts:
            try:
                from imgrag_desktop.bench.gui_watch import bench_gui_watch  # PySide6 and the window: only here
            except ImportError as exc:
                raise ImgragError(f"the gui benchmark needs the window, which cannot start: {exc}") from exc

            gui_opts: dict[str, Any] = dict(files=3, burst=8, interval=0.3, idle_s=2.0) if quick else {}
            result["gui"] = bench_gui_watch(tmp, progress=progress, **gui_opts)
        result["goals"] = _goals(result)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result
