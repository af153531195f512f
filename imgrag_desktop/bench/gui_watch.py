"""The window's folder watcher, measured through the real window (offscreen Qt, test profile):

- latency from copying a photo into a watched folder to the photo being shown in the grid
  (watcher settle + index + the window's debounced refresh), for files arriving one at a time;
- the GUI event loop's longest stall (a 10 ms QTimer heartbeat) while the watcher indexes a
  burst of copied-in photos, against the same heartbeat with the window idle (the baseline,
  measured in the same run);
- the Duplicates tab: time to list the groups of the indexed folder.

    PYTHONPATH=. QT_QPA_PLATFORM=offscreen python imgrag_desktop/bench/gui_watch.py [--files 20] [--burst 80]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from imgrag_desktop.config import AppConfig  # noqa: E402
from imgrag_desktop.gui.automation import Heartbeat  # noqa: E402
from imgrag_desktop.gui.window import MainWindow  # noqa: E402

SHARED = Path(os.environ.get("IMGRAG_SHARED_DATA", REPO.parent / "shared" / "data"))


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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20, help="photos copied in one at a time (latency)")
    ap.add_argument("--burst", type=int, default=80, help="photos copied in at once (heartbeat)")
    ap.add_argument("--interval", type=float, default=1.5, help="seconds between single copies")
    args = ap.parse_args()
    photos = sorted((SHARED / "coco-mini").glob("*/*.jpg"))
    need = 10 + args.files + args.burst
    if len(photos) < need:
        print(f"need {need} COCO photos in {SHARED}", file=sys.stderr)
        return 1
    _app = QApplication.instance() or QApplication([])
    tmp = Path(tempfile.mkdtemp(prefix="bench-gui-watch-"))
    try:
        folder = tmp / "photos"
        folder.mkdir()
        for p in photos[:10]:
            shutil.copy2(p, folder / p.name)
        cfg = AppConfig.load(tmp / "data", "test")
        cfg.save()
        w = MainWindow(cfg)
        w.resize(1280, 800)
        w.show()
        assert spin_until(lambda: w._ready, 180), "engine not ready"
        w.add_folders([str(folder)])
        assert spin_until(lambda: not w.indexing and w.watch_state == "running", 180)
        assert spin_until(lambda: w.folders_panel.status_of(str(folder)) == "watching", 60)
        spin(1.0)

        beat = Heartbeat()
        beat.start()
        spin(5.0)
        beat.stop()
        idle = beat.summary()

        latencies = []
        for p in photos[10:10 + args.files]:
            dest = folder / ("single-" + p.name)
            t0 = time.monotonic()
            shutil.copy2(p, dest)
            assert spin_until(lambda: str(dest) in w.model.paths(), 60), f"{dest} never shown"
            latencies.append(time.monotonic() - t0)
            spin(max(0.0, args.interval - (time.monotonic() - t0)))

        burst_dir = folder / "burst"
        burst_dir.mkdir()
        beat.start()
        t0 = time.monotonic()
        for p in photos[10 + args.files:need]:
            shutil.copy2(p, burst_dir / p.name)
        total = 10 + args.files + args.burst
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
            "burst_files": args.burst,
            "burst_all_shown": ok,
            "burst_to_all_shown_s": round(burst_s, 2),
            "heartbeat_idle": idle,
            "heartbeat_burst": busy,
            "stall_ratio_burst_vs_idle": round(busy["max_gap_ms"] / max(1.0, idle["max_gap_ms"]), 2),
            "duplicates_tab_s": round(dups_s, 2),
            "duplicates": done[0] if done else None,
        }
        print(json.dumps(result, indent=2))
        w.close()
        w.shutdown()
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
