"""The window keeps working while the folder watcher is stuck: a hung network share makes the
watcher hold its lock while it checks settling files, and `WatchService.status()` waits on that
lock. The window only asks through the controller's thread, so its event loop keeps running."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer

from tests.gui.conftest import copy_images
from tests.gui.test_watching import watched_window


def test_a_watcher_stuck_on_its_lock_never_freezes_the_window(qtbot: Any, make_window: Any, tmp_path: Path,
                                                             coco_jpegs: list[Path]) -> None:
    photos = copy_images(coco_jpegs[:2], tmp_path / "photos")
    w = watched_window(qtbot, make_window, tmp_path, [photos])
    service = w.watcher
    held, release = threading.Event(), threading.Event()

    def hung_share() -> None:  # what the watcher's own thread does while a stat() hangs
        with service._lock:
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hung_share, daemon=True)
    holder.start()
    assert held.wait(10)
    probe = threading.Thread(target=service.status, daemon=True)
    probe.start()
    probe.join(0.3)
    assert probe.is_alive()  # status() really blocks now

    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    try:
        qtbot.waitUntil(lambda: w.watching._poll_in_flight, timeout=5_000)  # a poll is stuck on the lock
        start = time.monotonic()
        qtbot.wait(2_500)  # two more poll periods: the window paints, answers, and asks nothing twice
        w.search_edit.setText("still typing")
        assert w.search_edit.text() == "still typing"
        assert w.watching._poll_in_flight and w.watch_label.text() == "Watching 1 folder"
    finally:
        timer.stop()
        release.set()
    gaps = [b - a for a, b in zip([start, *ticks], ticks) if b >= start]
    assert len(gaps) > 50 and max(gaps) < 0.5, (len(gaps), max(gaps, default=0))
    holder.join(10)
    probe.join(10)
    qtbot.waitUntil(lambda: not w.watching._poll_in_flight, timeout=10_000)  # the stuck poll answers
    assert w.folders_panel.status_of(str(photos)) == "watching"
