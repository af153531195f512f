"""`imgrag bench --part window`: a typed search through the real window (offscreen Qt), from the
query being sent to a filled grid, in a library where a fifth of the pictures are copies.

The engine-only figure (`--part copies`) leaves out what the user also waits for: the query
worker's thread and its queued signals, the reading of the text (search/understand.py), the
first screenful streamed before the full answer, the content hashes of the hits, the model's
reset and the grid's layout and first paint. Here the window does all of it as it does for
the user: each query is typed into the search field and sent (the typing pause,
SEARCH_DELAY_MS, is a deliberate wait and is left out), and the clock stops when the full
answer is in the grid and painted. The library is `copies.copies_store` (ViT-B-32-sized
vectors, 20 % near-identical copies with fingerprints); queries are encoded by the benchmark's
CLIP (the real architecture, random weights), in each mode measured.

The only other benchmark that imports PySide6 (with gui_watch): the runner imports it only
when the part is asked for. Without a display it uses Qt's offscreen platform.
"""

from __future__ import annotations

import gc
import os
import shutil
import time
from pathlib import Path
from typing import Any, Sequence

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication  # noqa: E402

from imgrag_desktop.bench.common import Progress, say, stats_ms  # noqa: E402
from imgrag_desktop.bench.copies import COPY_SHARE, RESULTS, copies_store  # noqa: E402
from imgrag_desktop.bench.gui_watch import _wait, spin  # noqa: E402
from imgrag_desktop.bench.search import TEXT_QUERIES  # noqa: E402
from imgrag_desktop.config import AppConfig  # noqa: E402

MODES = ("visual", "hybrid")
WINDOW_SIZE = (1280, 800)


def _window(cfg: AppConfig, encoder: Any) -> Any:
    from imgrag_desktop.gui.window import MainWindow
    from imgrag_desktop.gui.workers import EngineHost
    from imgrag_desktop.services import Services

    def services(c: AppConfig) -> Services:
        svc = Services(c)
        svc.use_clip(encoder)
        return svc

    w = MainWindow(cfg, host=EngineHost(cfg, services), open_url=lambda _: True, reveal=lambda _: True)
    w.resize(*WINDOW_SIZE)
    w.show()
    return w


def _one_query(w: Any, text: str, timeout: float = 120.0) -> tuple[float, float | None, int]:
    """Type `text`, send it; seconds to the first screenful (None when not streamed) and to the
    full answer painted in the grid, and the number of results."""
    page = w.search_page
    first: list[float] = []
    full: list[dict[str, Any]] = []

    def on_first(_: Any) -> None:
        first.append(time.perf_counter())

    def on_full(info: dict[str, Any]) -> None:
        if info.get("kind") == "text":
            full.append(info)

    page.firstResultsShown.connect(on_first)
    w.resultsShown.connect(on_full)
    try:
        page.search_edit.setText(text)
        t0 = time.perf_counter()
        page.search_now()
        _wait(lambda: bool(full), timeout, f"no answer to {text!r}")
        page.view.viewport().repaint()  # the grid laid out and painted with the answer
        t1 = time.perf_counter()
    finally:
        page.firstResultsShown.disconnect(on_first)
        w.resultsShown.disconnect(on_full)
    return t1 - t0, (first[0] - t0) if first else None, int(full[0].get("count", 0))


def bench_gui_search(sizes: Sequence[int], encoder: Any, work_dir: Path, queries: int = 24,
                     modes: Sequence[str] = MODES, progress: Progress | None = None) -> dict[str, Any]:
    _app = QApplication.instance() or QApplication([])  # kept alive for the run
    texts = [TEXT_QUERIES[i % len(TEXT_QUERIES)] + ("" if i < len(TEXT_QUERIES) else f" {i}") for i in range(queries)]
    out: dict[str, Any] = {"copy_share": COPY_SHARE, "k": RESULTS, "window": list(WINDOW_SIZE), "sizes": []}
    for n in sizes:
        say(progress, f"window {n:,}: the library (vectors and fingerprints)")
        root = Path(work_dir) / f"window-{n}"
        cfg = AppConfig.load(root / "data", "test")
        cfg.settings.extra["gui"] = {"rescan_on_start": False, "results_limit": RESULTS}
        cfg.save()
        store = copies_store(n, encoder, Path(cfg.db_dir))
        del store
        w = None
        entry: dict[str, Any] = {"rows": n}
        try:
            w = _window(cfg, encoder)
            _wait(lambda: w._ready, 300, "the window's engine was not ready")
            spin(0.5)
            for mode in modes:
                cfg.settings.search_mode = mode
                i = w.search_page.mode_combo.findData(mode)
                if i >= 0:
                    w.search_page.mode_combo.setCurrentIndex(i)
                spin(0.2)
                times, firsts, counts = [], [], []
                for q in texts:
                    total, first, count = _one_query(w, q)
                    times.append(total)
                    counts.append(count)
                    if first is not None:
                        firsts.append(first)
                entry[mode] = {"first_query_ms": round(times[0] * 1e3, 1), "query_ms": stats_ms(times[1:]),
                               "first_screen_ms": stats_ms(firsts[1:]) if len(firsts) > 1 else None,
                               "results_p50": int(sorted(counts)[len(counts) // 2])}
                say(progress, f"window {n:,} {mode}: p50 {entry[mode]['query_ms']['p50']:.0f} ms, "
                              f"p95 {entry[mode]['query_ms']['p95']:.0f} ms")
        finally:
            if w is not None:
                w.close()
                w.shutdown()
            gc.collect()
            shutil.rmtree(root, ignore_errors=True)
        out["sizes"].append(entry)
    return out
