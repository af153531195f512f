"""The window's folder watcher, measured through the real window (offscreen Qt, test profile):

- latency from copying a photo into a watched folder to the photo being shown in the grid
  (watcher settle + index + the window's debounced refresh), for files arriving one at a time;
- the GUI event loop's longest stall (a 10 ms QTimer heartbeat) while the watcher indexes a
  burst of copied-in photos, against the same heartbeat with the window idle (the baseline,
  measured in the same run);
- the Duplicates tab: time to list the groups of the indexed folder.

`imgrag bench --part gui` runs it. The only benchmark that imports PySide6 and the window: the
runner imports this module only when the part is asked for. Without a display it uses Qt's
offscreen platform.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from imgrag_desktop.bench.common import Progress, coco_images, say  # noqa: E402
from imgrag_desktop.config import AppConfig  # noqa: E402
from imgrag_desktop.gui.automation import Heartbeat  # noqa: E402
from imgrag_desktop.gui.window import MainWindow  # noqa: E402
from imgrag_desktop.types import ImgragError  # noqa: E402


def spin_until(cond, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        if cond():
            return True
        time.sleep(0.005)
    return bool(cond())


def spin(seconds: float) -> None:
    spin_until(lambda: False, seconds)


def _wait(cond: Any, timeout: float, failure: str) -> None:
    if not spin_until(cond, timeout):
        raise ImgragError(f"window benchmark: {failure} within {timeout:.0f} s")


def bench_gui_watch(work_dir: Path, files: int = 20, burst: int = 80, interval: float = 1.5, idle_s: float = 5.0,
                    progress: Progress | None = None) -> dict[str, Any]:
    """`files` photos copied in one at a time, `interval` seconds apart (latency), then `burst`
    at once (heartbeat); the heartbeat's baseline is `idle_s` seconds of the idle window."""
    need = 10 + files + burst
    photos = coco_images(need)
    if len(photos) < need:  # too few real photos at hand: generated ones make up the rest
        from imgrag_desktop.bench.indexing import make_jpegs

        photos += make_jpegs(Path(work_dir) / "gui-photos", need - len(photos), (640, 480), seed=13)
    _app = QApplication.instance() or QApplication([])  # kept alive for the run
    tmp = Path(tempfile.mkdtemp(prefix="bench-gui-watch-", dir=work_dir))
    window = None
    try:
        folder = tmp / "photos"
        folder.mkdir()
        for p in photos[:10]:
            shutil.copy2(p, folder / p.name)
        cfg = AppConfig.load(tmp / "data", "test")
        cfg.save()
        w = MainWindow(cfg)
        window = w
        w.resize(1280, 800)
        w.show()
        say(progress, "gui: window shown, adding the folder")
        _wait(lambda: w._ready, 180, "the window's engine was not ready")
        w.add_folders([str(folder)])
        _wait(lambda: not w.indexing and w.watch_state == "running", 180, "the window did not start watching")
        _wait(lambda: w.folders_panel.status_of(str(folder)) == "watching", 60, "the folder was not watched")
        spin(1.0)

        beat = Heartbeat()
        say(progress, f"gui: idle heartbeat, then {files} single copies")
        beat.start()
        spin(idle_s)
        beat.stop()
        idle = beat.summary()

        latencies = []
        for p in photos[10:10 + files]:
            dest = folder / ("single-" + p.name)
            t0 = time.monotonic()
            shutil.copy2(p, dest)
            _wait(lambda: str(dest) in w.model.paths(), 60, f"{dest} was never shown")
            latencies.append(time.monotonic() - t0)
            spin(max(0.0, interval - (time.monotonic() - t0)))

        burst_dir = folder / "burst"
        burst_dir.mkdir()
        say(progress, f"gui: a burst of {burst} copies")
        beat.start()
        t0 = time.monotonic()
        for p in photos[10 + files:need]:
            shutil.copy2(p, burst_dir / p.name)
        total = need
        ok = spin_until(lambda: w.model.rowCount() == total, 300)
        burst_s = time.monotonic() - t0
        beat.stop()
        busy = beat.summary()

        t0 = time.monotonic()
        done: list[dict] = []
        w.dups_panel.groupsShown.connect(done.append)
        w.show_duplicates()
        spin_until(lambda: bool(done), 120)
        dups_s = time.monotonic() - t0

        lat = sorted(latencies)
        result = {
            "single_files": len(lat),
            "copy_to_shown_p50_s": round(statistics.median(lat), 2),
            "copy_to_shown_p95_s": round(lat[min(len(lat) - 1, int(len(lat) * 0.95))], 2),
            "copy_to_shown_max_s": round(lat[-1], 2),
            "burst_files": burst,
            "burst_all_shown": ok,
            "burst_to_all_shown_s": round(burst_s, 2),
            "heartbeat_idle": idle,
            "heartbeat_burst": busy,
            "stall_ratio_burst_vs_idle": round(busy["max_gap_ms"] / max(1.0, idle["max_gap_ms"]), 2),
            "duplicates_tab_s": round(dups_s, 2),
            "duplicates": done[0] if done else None,
        }
        return result
    finally:
        if window is not None:
            window.close()
            window.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
