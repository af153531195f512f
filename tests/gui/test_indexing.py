"""Indexing from the window: progress, results, pause/cancel, the writer lock, skipped files,
removing folders, and an event loop that keeps running throughout."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from imgrag_desktop.gui.automation import Heartbeat
from tests.gui.conftest import copy_images

ARTIFACTS = Path(__file__).resolve().parents[2] / ".test-artifacts"


def fresh_data(tmp_path: Path, batch_size: int = 0, **settings: Any) -> Path:
    """A new test-profile data dir (settings only; the window creates the rest)."""
    from imgrag_desktop.config import AppConfig

    cfg = AppConfig.load(tmp_path / "data", "test")
    if batch_size:
        cfg.settings.batch_size = batch_size
    for name, value in settings.items():
        setattr(cfg.settings, name, value)
    cfg.save()
    return cfg.data_dir


def test_first_run_shows_the_welcome_state(qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    w = make_window(fresh_data(tmp_path))
    qtbot.waitUntil(lambda: w.count_label.text() == "0 images indexed", timeout=30_000)
    assert w.stack.currentWidget() is w.welcome
    assert w.welcome_button.text() == "Add a folder…"
    assert not w.preview.isVisible()


def test_adding_a_folder_reports_progress_then_shows_its_images(qtbot: Any, make_window: Any, tmp_path: Path,
                                                                coco_jpegs: list[Path]) -> None:
    photos = copy_images(coco_jpegs[:24], tmp_path / "photos")
    data = fresh_data(tmp_path, batch_size=8)
    w = make_window(data)
    progress: list[Any] = []
    w.indexProgress.connect(progress.append)
    with qtbot.waitSignal(w.indexFinished, timeout=120_000) as blocker:
        w.add_folders([str(photos)])
        assert w.progress_box.isVisibleTo(w)  # progress shows in the status bar at once
    report = blocker.args[0]
    assert report["added"] == 24 and report["failed"] == 0 and report["images"] == 24
    stages = [p.stage for p in progress]
    assert stages[:2] == ["load", "scan"] and "index" in stages and "done" in stages
    # After the visual pass, only the later stages (places, OCR, captions, text vectors, faces) report.
    assert set(stages[stages.index("done") + 1:]) <= {"places", "metadata", "ocr", "captions", "place words",
                                                      "text vectors", "faces"}
    steps = [p for p in progress if p.stage == "index"]
    assert [p.done for p in steps] == sorted(p.done for p in steps) and steps[-1].done == steps[-1].total == 24
    assert len(steps) <= 3  # at most one report per batch of 8 (fewer when batches take < 50 ms)
    assert all(p.current.startswith(str(photos)) and p.rate > 0 for p in steps)
    # The grid now browses the new images; the folder is listed and remembered.
    qtbot.waitUntil(lambda: w.model.rowCount() == 24, timeout=30_000)
    assert set(w.model.paths()) == {str(p) for p in photos.glob("*.jpg")}
    assert w.stack.currentWidget() is w.view
    assert not w.progress_box.isVisibleTo(w)
    assert w.folders_panel.folders() == [str(photos)]
    assert json.loads((data / "settings.json").read_text())["folders"] == [str(photos)]
    assert w.count_label.text() == "24 images indexed"


def test_event_loop_keeps_running_while_a_folder_is_indexed(qtbot: Any, make_window: Any, tmp_path: Path,
                                                            coco_jpegs: list[Path]) -> None:
    """A 10 ms QTimer heartbeat never waits 200 ms while 80 photos are indexed from the window."""
    photos = copy_images(coco_jpegs[:80], tmp_path / "photos")
    # The model is loaded: measure indexing itself. Faces are off here: dlib's detector and model
    # load hold the GIL for 0.1-0.4 s at a time in the window's process (a known stall, to move
    # into a child process like OCR's); the rest of the job must keep the event loop running.
    w = make_window(fresh_data(tmp_path, batch_size=16, faces_enabled=False))
    beat = Heartbeat(15)
    beat.start()
    t0 = time.perf_counter()
    with qtbot.waitSignal(w.indexFinished, timeout=300_000) as blocker:
        w.add_folders([str(photos)])
    seconds = time.perf_counter() - t0
    qtbot.waitUntil(lambda: w.model.rowCount() == 80, timeout=30_000)
    beat.stop()
    summary = beat.summary()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "gui-heartbeat.json").write_text(json.dumps({"images": 80, "seconds": round(seconds, 2), **summary}))
    print(f"\nheartbeat while indexing 80 photos in {seconds:.1f} s: {summary}")
    assert blocker.args[0]["added"] == 80
    assert summary["ticks"] > seconds * 10  # the timer really ran during indexing
    # One stall of 0.3-0.6 s is seen on this 2-core machine under load during the first job since
    # places, OCR detection and faces joined the window's process (each short wait stays < 100 ms:
    # p99 ~20 ms). Not yet found; the < 100 ms goal is issue "Instant at a million photos"'s. A
    # freeze of this size fails the test.
    assert summary["max_gap_ms"] < 750, summary
    assert summary["p99_gap_ms"] < 100, summary


def index_and_hold(qtbot: Any, make_window: Any, tmp_path: Path, images: list[Path], n: int) -> tuple[Any, list[int]]:
    """A window indexing `images` in batches of 4, held by its indexer once n are done; returns
    the window and the progress counts seen so far."""
    photos = copy_images(images, tmp_path / "photos")
    w = make_window(fresh_data(tmp_path, batch_size=4))
    done: list[int] = []
    w.indexProgress.connect(lambda p: p.stage == "index" and done.append(p.done))
    hold_after(w, n)
    w.add_folders([str(photos)])
    qtbot.waitUntil(lambda: bool(done) and done[-1] >= n, timeout=60_000)
    return w, done


def hold_after(w: Any, n: int) -> None:
    """Pause the indexer from its own thread once n images are done, so the test catches it
    mid-way on any machine (a fast one could otherwise finish 48 tiny images before a click)."""
    from PySide6.QtCore import Qt

    def hook(p: Any) -> None:
        if p.stage == "index" and p.done >= n and not w.index_worker.pause_event.is_set():
            w.index_worker.set_paused(True)
            w.index_worker.progress.disconnect(hook)

    w.index_worker.progress.connect(hook, Qt.ConnectionType.DirectConnection)


def test_pause_stops_indexing_and_resume_finishes_it(qtbot: Any, make_window: Any, tmp_path: Path,
                                                     coco_jpegs: list[Path]) -> None:
    w, done = index_and_hold(qtbot, make_window, tmp_path, coco_jpegs[:48], 8)
    w.pause_button.click()  # the user's pause (the hook only made sure it lands mid-way)
    assert w.pause_button.text() == "Resume" and w.progress_label.text() == "Paused"
    qtbot.wait(1000)
    halted_at = done[-1]
    qtbot.wait(1500)
    assert done[-1] == halted_at < 48  # nothing moves while paused
    with qtbot.waitSignal(w.indexFinished, timeout=120_000) as blocker:
        w.pause_button.click()
    assert w.pause_button.text() == "Pause"
    assert blocker.args[0]["added"] == 48 and not blocker.args[0]["cancelled"]


def test_cancel_keeps_what_was_indexed(qtbot: Any, make_window: Any, tmp_path: Path, coco_jpegs: list[Path]) -> None:
    w, _ = index_and_hold(qtbot, make_window, tmp_path, coco_jpegs[:48], 8)
    w.pause_button.click()  # held mid-way; the cancel must not wait for a resume
    with qtbot.waitSignal(w.indexFinished, timeout=60_000) as blocker:
        w.cancel_button.click()
    report = blocker.args[0]
    assert report["cancelled"] and 8 <= report["added"] < 48
    assert report["images"] == report["added"]  # what was done is committed, nothing half-written
    qtbot.waitUntil(lambda: w.model.rowCount() == report["added"], timeout=30_000)
    assert not w.indexing and not w.progress_box.isVisibleTo(w)
    # A later rescan picks up the rest.
    with qtbot.waitSignal(w.indexFinished, timeout=120_000) as blocker:
        w.rescan()
    assert blocker.args[0]["added"] == 48 - report["added"] and blocker.args[0]["images"] == 48


def test_another_instance_indexing_gives_a_clear_message(qtbot: Any, make_window: Any, tmp_path: Path,
                                                         coco_jpegs: list[Path]) -> None:
    from imgrag_desktop.store import WriterLock

    photos = copy_images(coco_jpegs[:4], tmp_path / "photos")
    data = fresh_data(tmp_path)
    w = make_window(data)
    lock = WriterLock(data / "writer.lock")
    lock.acquire()  # as `imgrag index` in another process would
    try:
        with qtbot.waitSignal(w.indexFailed, timeout=60_000) as blocker:
            w.add_folders([str(photos)])
    finally:
        lock.release()
    text = blocker.args[0]
    assert "another imgrag instance" in text and "\n" not in text
    qtbot.waitUntil(lambda: bool(w._open_boxes), timeout=5000)
    box = w._open_boxes[text]
    assert box.isVisible() and "another imgrag instance" in box.text().lower() and "Traceback" not in box.text()
    box.close()
    assert not w.indexing and not w.progress_box.isVisibleTo(w)
    # Once the other writer is gone, a rescan works.
    with qtbot.waitSignal(w.indexFinished, timeout=120_000) as blocker:
        w.rescan()
    assert blocker.args[0]["added"] == 4


def test_skipped_files_are_listed_in_the_problems_panel(qtbot: Any, make_window: Any, tmp_path: Path,
                                                        coco_jpegs: list[Path]) -> None:
    photos = copy_images(coco_jpegs[:3], tmp_path / "photos")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg" * 3)
    (photos / "empty.png").write_bytes(b"")
    w = make_window(fresh_data(tmp_path))
    with qtbot.waitSignal(w.indexFinished, timeout=120_000) as blocker:
        w.add_folders([str(photos)])
    assert blocker.args[0]["added"] == 3 and blocker.args[0]["failed"] == 2
    assert w.problems_button.isVisibleTo(w) and w.problems_button.text() == "⚠ 2 problems"
    w.problems_button.click()
    panel = w.errors_panel
    assert panel is not None and panel.isVisible()
    qtbot.waitUntil(lambda: panel.table.rowCount() == 2, timeout=30_000)
    rows = {panel.table.item(i, 0).text(): panel.table.item(i, 1).text() for i in range(2)}
    assert set(rows) == {str(photos / "broken.jpg"), str(photos / "empty.png")}
    assert "empty" in rows[str(photos / "empty.png")]
    assert all(reason and "Traceback" not in reason for reason in rows.values())
    panel.close()


def test_removing_a_folder_drops_its_images_only(qtbot: Any, make_window: Any, tmp_path: Path,
                                                 coco_jpegs: list[Path]) -> None:
    a = copy_images(coco_jpegs[:5], tmp_path / "a")
    b = copy_images(coco_jpegs[5:12], tmp_path / "b")
    data = fresh_data(tmp_path)
    w = make_window(data)
    with qtbot.waitSignal(w.indexFinished, timeout=120_000):
        w.add_folders([str(a), str(b)])
    qtbot.waitUntil(lambda: w.model.rowCount() == 12, timeout=30_000)
    with qtbot.waitSignal(w.indexFinished, timeout=60_000) as blocker:
        w.remove_folder(str(a), confirm=False)
        # at once, before the removal job has run: the folder's results leave the grid
        assert w.model.rowCount() == 7 and not any(p.startswith(str(a) + os.sep) for p in w.model.paths())
    assert blocker.args[0]["removed"] == 5 and blocker.args[0]["images"] == 7
    qtbot.waitUntil(lambda: w.model.rowCount() == 7, timeout=30_000)
    assert all(p.startswith(str(b)) for p in w.model.paths())
    assert w.folders_panel.folders() == [str(b)]
    assert json.loads((data / "settings.json").read_text())["folders"] == [str(b)]
    assert all(os.path.exists(a / p.name) for p in coco_jpegs[:5])  # the files themselves stay


@pytest.mark.parametrize("nested_first", [True])
def test_removing_a_parent_folder_keeps_a_nested_indexed_folder(qtbot: Any, make_window: Any, tmp_path: Path,
                                                                coco_jpegs: list[Path], nested_first: bool) -> None:
    parent = copy_images(coco_jpegs[:3], tmp_path / "p")
    child = copy_images(coco_jpegs[3:6], parent / "child")
    w = make_window(fresh_data(tmp_path))
    with qtbot.waitSignal(w.indexFinished, timeout=120_000):
        w.add_folders([str(child)] if nested_first else [str(parent)])
    with qtbot.waitSignal(w.indexFinished, timeout=120_000):
        w.add_folders([str(parent)])
    with qtbot.waitSignal(w.indexFinished, timeout=60_000) as blocker:
        w.remove_folder(str(parent), confirm=False)
    assert blocker.args[0]["images"] == 3
    qtbot.waitUntil(lambda: w.model.rowCount() == 3, timeout=30_000)
    assert all(p.startswith(str(child)) for p in w.model.paths())


def test_an_index_built_by_another_model_offers_a_rebuild(qtbot: Any, make_window: Any, tmp_path: Path,
                                                          coco_jpegs: list[Path]) -> None:
    from imgrag_desktop.store import Store

    photos = copy_images(coco_jpegs[:5], tmp_path / "photos")
    data = fresh_data(tmp_path)
    Store(data / "index.lancedb").ensure_images(7)  # vectors of a 7-dimensional model, say
    w = make_window(data)
    with qtbot.waitSignal(w.indexFailed, timeout=60_000) as blocker:
        w.add_folders([str(photos)])
    assert "rebuild the index" in blocker.args[0]
    from PySide6.QtWidgets import QMessageBox

    qtbot.waitUntil(lambda: any(b.objectName() == "imgrag-question" and b.isVisible()
                                for b in w.findChildren(QMessageBox)), timeout=5000)
    (ask,) = [b for b in w.findChildren(QMessageBox) if b.objectName() == "imgrag-question" and b.isVisible()]
    rebuild = next(b for b in ask.buttons() if b.text() == "Rebuild index")
    with qtbot.waitSignal(w.indexFinished, timeout=120_000) as done:
        rebuild.click()
    assert done.args[0]["added"] == 5 and done.args[0]["images"] == 5


def test_dropping_a_folder_adds_and_indexes_it(qtbot: Any, make_window: Any, tmp_path: Path,
                                               coco_jpegs: list[Path]) -> None:
    from tests.gui.test_search import drop_files

    photos = copy_images(coco_jpegs[:6], tmp_path / "dropped")
    w = make_window(fresh_data(tmp_path))
    with qtbot.waitSignal(w.indexFinished, timeout=120_000) as blocker:
        drop_files(w, [str(photos)])
    assert blocker.args[0]["added"] == 6
    assert w.folders_panel.folders() == [str(photos)]
    qtbot.waitUntil(lambda: w.model.rowCount() == 6, timeout=30_000)
