"""The window keeps working while a call into the folder watcher is stuck (a hung network share
can hold any thread that touches it): the window only asks through the controller's thread, so
its event loop keeps running. The engine side (`status()` answers from a snapshot while the
watcher's worker hangs in a stat) is tests/unit/indexing/test_watch_status.py."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer

from tests.gui.conftest import copy_images
from tests.gui.test_watching import watched_window


def test_a_watcher_stuck_in_status_never_freezes_the_window(qtbot: Any, make_window: Any, tmp_path: Path,
                                                            coco_jpegs: list[Path], monkeypatch: Any) -> None:
    photos = copy_images(coco_jpegs[:2], tmp_path / "photos")
    w = watched_window(qtbot, make_window, tmp_path, [photos])
    service = w.watcher
    real_status = service.status
    stuck, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def hung_share() -> Any:  # status() waiting, as on the lock of a watcher stuck in a stat()
        calls.append(threading.current_thread().name)
        stuck.set()
        release.wait(30)
        return real_status()

    monkeypatch.setattr(service, "status", hung_share)
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    try:
        qtbot.waitUntil(stuck.is_set, timeout=5_000)  # a poll is stuck in status()
        start = time.monotonic()
        qtbot.wait(2_500)  # two more poll periods: the window paints, answers, and asks nothing twice
        w.search_edit.setText("still typing")
        assert w.search_edit.text() == "still typing"
        assert w.watching._poll_in_flight and w.watch_label.text() == "Watching 1 folder"
        assert len(calls) == 1 and calls[0] != threading.main_thread().name  # asked once, off the GUI thread
    finally:
        timer.stop()
        release.set()
    gaps = [b - a for a, b in zip([start, *ticks], ticks) if b >= start]
    assert len(gaps) > 50 and max(gaps) < 0.5, (len(gaps), max(gaps, default=0))
    qtbot.waitUntil(lambda: not w.watching._poll_in_flight, timeout=10_000)  # the stuck poll answers
    assert w.folders_panel.status_of(str(photos)) == "watching"
