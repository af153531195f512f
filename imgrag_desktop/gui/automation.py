"""Test automation: drive the real window from the command line and report measurements.

Used by the end-to-end tests, benchmarks and for README screenshots; a user never needs it.
It only calls the window's public methods (the same ones its menus and buttons call) and
listens to its signals, so what it measures is what a user would get:

  imgrag-desktop --profile test --data-dir DIR --add-folder PATH --query TEXT \
      --screenshot window.png --report report.json --quit-after

The report (JSON) holds the time from the app's start to the first shown window, whether torch
was imported by then, the event loop's longest stall while indexing (a 10 ms QTimer
heartbeat), and what the search returned.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QApplication

from imgrag_desktop.atomic import write_json
from imgrag_desktop.gui.window import MainWindow

HEARTBEAT_MS = 10
FILTER_KEYS = {"kind": str, "orientation": str, "when": str, "min_size": int, "camera": str, "rating": int, "tag": str,
               "media": str}


def parse_filters(items: list[str]) -> dict[str, Any]:
    """--filter KEY=VALUE options → FilterBar.set_filters arguments (ValueError: one line)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in FILTER_KEYS:
            raise ValueError(f"--filter {item!r}: use KEY=VALUE with KEY one of {', '.join(FILTER_KEYS)}")
        try:
            out[key] = FILTER_KEYS[key](value.strip())
        except ValueError:
            raise ValueError(f"--filter {item!r}: {key} takes a whole number") from None
    return out


# What the engine's queries never need once the ONNX exports serve them (models/onnx_clip.py):
# the report says which of them the process had imported when the engine was ready and at the end.
HEAVY_MODULES = ("torch", "open_clip", "sentence_transformers", "transformers", "torchvision")


class Heartbeat(QObject):
    """Measures how long the event loop goes without running a 10 ms timer."""

    def __init__(self, interval_ms: int = HEARTBEAT_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.gaps: list[float] = []
        self._last = 0.0

    def start(self) -> None:
        self.gaps.clear()
        self._last = time.perf_counter()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self._last)
        self._last = now

    @property
    def max_gap_ms(self) -> float:
        return max(self.gaps, default=0.0) * 1000

    def summary(self) -> dict[str, Any]:
        g = sorted(self.gaps)
        p99 = g[min(len(g) - 1, int(len(g) * 0.99))] * 1000 if g else 0.0
        return {"ticks": len(g), "max_gap_ms": round(self.max_gap_ms, 1), "p99_gap_ms": round(p99, 1),
                "over_100ms": sum(1 for x in g if x > 0.1), "over_200ms": sum(1 for x in g if x > 0.2)}


class Automation(QObject):
    def __init__(self, window: MainWindow, started_at: float, add_folders: list[str] | None = None,
                 query: str | None = None, expect_results: bool = False, screenshot: str | None = None,
                 report: str | None = None, quit_after: bool = False, timeout_s: float = 600.0,
                 filters: dict[str, Any] | None = None, tab: str | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.started_at = started_at
        self.add_folders = [os.path.abspath(p) for p in add_folders or []]
        self.query = query
        self.expect_results = expect_results or bool(query)
        self.screenshot = screenshot
        self.report_path = report
        self.quit_after = quit_after
        self.filters = dict(filters or {})
        self.tab = tab
        self.exit_code = 0
        self.report: dict[str, Any] = {"started_at": started_at, "pid": os.getpid(), "steps": []}
        self._ready = False
        self._index_done = 0
        self._index_failed: list[str] = []
        self._results: dict[str, Any] | None = None
        self._search_error = ""
        self._steps: list[tuple[str, Callable[[], None], Callable[[], bool]]] = []
        self._step_t0 = 0.0
        self._finished = False
        self.startup_beat = Heartbeat(parent=self)
        self.index_beat = Heartbeat(parent=self)
        window.shown.connect(self._on_shown)
        window.engineReady.connect(self._on_ready)
        window.indexFinished.connect(lambda r: self._on_index_done(r))
        window.indexFailed.connect(lambda t: self._index_failed.append(t))
        window.resultsShown.connect(self._on_results)
        window.searchFailed.connect(lambda t: setattr(self, "_search_error", t))
        self._poll = QTimer(self)
        self._poll.setInterval(50)
        self._poll.timeout.connect(self._tick)
        self._deadline = QTimer(self)
        self._deadline.setSingleShot(True)
        self._deadline.timeout.connect(self._timed_out)
        self._deadline.start(int(timeout_s * 1000))
        self._plan()

    # Signals --------------------------------------------------------------------------------
    def _on_shown(self) -> None:
        now = time.time()
        self.report["shown_at"] = now
        self.report["start_to_shown_s"] = round(now - self.started_at, 3)
        self.report["modules_when_shown"] = {m: m in sys.modules for m in ("torch", "open_clip", "lancedb", "PIL")}
        self.startup_beat.start()
        self._poll.start()

    def _on_ready(self, info: dict[str, Any]) -> None:
        self.startup_beat.stop()
        self.report["engine_ready_s"] = round(time.time() - self.started_at, 3)
        self.report["engine"] = {k: v for k, v in info.items()}
        self.report["startup_heartbeat"] = self.startup_beat.summary()
        self.report["modules_when_ready"] = {m: m in sys.modules for m in HEAVY_MODULES}
        self.report["runtimes_when_ready"] = self._runtimes()
        self._ready = True

    def _runtimes(self) -> dict[str, str]:
        """Which runtime serves each model now ("torch", "onnx", "" not loaded)."""
        svc = self.window.host.services
        out = {}
        for name in ("clip", "text"):
            try:
                model = getattr(svc, name)
                out[name] = str(getattr(model, "runtime_in_use", "") if model is not None else "")
            except Exception as exc:  # a model that cannot be built: its own error is shown elsewhere
                out[name] = f"error: {type(exc).__name__}"
        return out

    def _on_index_done(self, report: dict[str, Any]) -> None:
        self._index_done += 1
        self.report.setdefault("index_reports", []).append(
            {k: report.get(k) for k in ("added", "updated", "unchanged", "removed", "failed", "reused", "seconds",
                                        "images", "cancelled")})

    def _on_results(self, info: dict[str, Any]) -> None:
        if info.get("kind") != "browse":
            self._results = info

    # Steps ----------------------------------------------------------------------------------
    def _plan(self) -> None:
        w = self.window
        self._steps.append(("wait for the engine", lambda: None, lambda: self._ready and not w.indexing))
        if self.add_folders:
            def start_index() -> None:
                self._index_t0 = time.perf_counter()
                self.index_beat.start()
                w.add_folders(self.add_folders)

            def index_done() -> bool:
                if w.indexing:
                    return False
                self.index_beat.stop()
                self.report["index_seconds"] = round(time.perf_counter() - self._index_t0, 3)
                self.report["index_heartbeat"] = self.index_beat.summary()
                return True

            self._steps.append(("index folders", start_index, index_done))
        if self.filters:
            def set_filters() -> None:
                self._results = None  # results from before the filters do not count
                w.filters_button.setChecked(True)
                w.set_filters(**self.filters)

            self._steps.append(("filters", set_filters, lambda: True))
        if self.query:
            q = self.query
            self._steps.append(("search", lambda: w.search(q), lambda: self._results is not None or bool(self._search_error)))
        elif self.expect_results:
            self._steps.append(("wait for results", lambda: None,
                                lambda: self._results is not None or bool(self._search_error)))
        if self.tab:
            self._steps.append(("open tab", self._open_tab, self._tab_ready))
        if self.screenshot:
            self._steps.append(("wait for thumbnails", lambda: None, self._thumbnails_settled))
            self._steps.append(("screenshot", self._take_screenshot, lambda: True))

    def _open_tab(self) -> None:
        tabs = self.window.tabs
        titles = [tabs.tabText(i).replace("&", "") for i in range(tabs.count())]
        if self.tab not in titles:
            self.report["error"] = f"no tab {self.tab!r} (tabs: {', '.join(titles)})"
            self.exit_code = 4
            return
        tabs.setCurrentIndex(titles.index(self.tab))

    def _tab_ready(self) -> bool:
        panel = self.window.tabs.currentWidget()
        return not bool(getattr(panel, "busy", False))

    def _thumbnails_settled(self) -> bool:
        panel_busy = bool(getattr(self.window.tabs.currentWidget(), "busy", False))
        if self.window.loader.busy or panel_busy:
            self._quiet_since = 0.0
            return False
        now = time.monotonic()
        if not getattr(self, "_quiet_since", 0.0):
            self._quiet_since = now
        return now - self._quiet_since > 0.4  # let the last thumbnails and the preview paint

    def _take_screenshot(self) -> None:
        path = os.path.abspath(self.screenshot or "window.png")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        QApplication.processEvents()
        ok = self.window.grab().save(path, "PNG")
        self.report["screenshot"] = path if ok else ""
        if not ok:
            self.exit_code = 5

    def _tick(self) -> None:
        if self._finished:
            return
        while self._steps:
            name, start, done = self._steps[0]
            if not self._step_t0:
                self._step_t0 = time.monotonic()
                start()
            if not done():
                return
            self.report["steps"].append({"step": name, "seconds": round(time.monotonic() - self._step_t0, 3)})
            self._step_t0 = 0.0
            self._steps.pop(0)
        self._finish()

    def _finish(self) -> None:
        self._finished = True
        self.report["modules_at_finish"] = {m: m in sys.modules for m in HEAVY_MODULES}
        self._poll.stop()
        self._deadline.stop()
        if self._results is not None:
            self.report["results"] = {"count": self._results.get("count", 0), "label": self._results.get("label"),
                                      "seconds": round(float(self._results.get("seconds", 0)), 3),
                                      "paths": self._results.get("paths", [])[:10]}
        if self._search_error:
            self.report["search_error"] = self._search_error
            self.exit_code = self.exit_code or 4
        if self._index_failed:
            self.report["index_errors"] = self._index_failed
            self.exit_code = self.exit_code or 4
        self._write_report()
        if self.quit_after:
            self.window.close()

    def _timed_out(self) -> None:
        self.report["error"] = f"timed out in step: {self._steps[0][0] if self._steps else 'finishing'}"
        self.exit_code = 3
        self._finished = True
        self._poll.stop()
        self._write_report()
        if self.quit_after:
            self.window.close()

    def _write_report(self) -> None:
        if not self.report_path:
            return
        path = os.path.abspath(self.report_path)
        write_json(path, self.report, indent=2, default=str)
