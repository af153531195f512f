"""The window watches its folders: real watchdog observers on real temp folders, the real store
and the test profile's tiny CLIP. New files show up without a rescan, a folder that goes away is
shown offline and keeps its rows, pausing holds the watcher's writes, another process holding
the writer lock is explained, and quitting stops the watcher and frees the lock."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette

from imgrag_desktop.types import ImgragError
from tests.gui.conftest import copy_images
from tests.gui.test_indexing import fresh_data

FAST = {"settle_s": 0.3, "closed_settle_s": 0.2, "root_poll_s": 0.3}


def watched_window(qtbot: Any, make_window: Any, tmp_path: Path, folders: list[Path], **kwargs: Any) -> Any:
    """A window that indexed `folders` and is watching them."""
    w = make_window(fresh_data(tmp_path), watch_options=dict(FAST), **kwargs)
    with qtbot.waitSignal(w.indexFinished, timeout=120_000):
        w.add_folders([str(f) for f in folders])
    for f in folders:
        qtbot.waitUntil(lambda f=f: w.folders_panel.status_of(str(f)) == "watching", timeout=30_000)
    assert w.watch_state == "running"
    return w


def indexed_paths(w: Any) -> set[str]:
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.services import Services

    store = Services(AppConfig.load(w.cfg.data_dir, "test")).store
    return set(store.query(None, ["path"]).column("path").to_pylist())


def test_a_copied_in_file_is_indexed_and_shown_without_a_rescan(qtbot: Any, make_window: Any, tmp_path: Path,
                                                                coco_jpegs: list[Path]) -> None:
    photos = copy_images(coco_jpegs[:6], tmp_path / "photos")
    w = watched_window(qtbot, make_window, tmp_path, [photos])
    qtbot.waitUntil(lambda: w.model.rowCount() == 6, timeout=30_000)
    assert w.watch_label.isVisibleTo(w) and w.watch_label.text() == "Watching 1 folder"
    tip = w.folders_panel.list.item(1).toolTip()
    assert str(photos) in tip and "Watched" in tip
    jobs: list[Any] = []
    w.indexStarted.connect(jobs.append)
    events: list[Any] = []
    w.watchEvent.connect(events.append)

    new = photos / "sub" / "arrived.jpg"  # a new sub-folder too: watched recursively
    new.parent.mkdir()
    shutil.copy2(coco_jpegs[10], new)
    qtbot.waitUntil(lambda: str(new) in w.model.paths(), timeout=30_000)  # the grid refreshed by itself
    assert w.model.rowCount() == 7 and not jobs  # no indexing job, no rescan: the watcher did it
    assert any(e.action == "added" and e.path == str(new) for e in events)
    assert str(new) in indexed_paths(w)
    qtbot.waitUntil(lambda: w.count_label.text() == "7 images indexed", timeout=10_000)

    # A deletion reaches the index and the grid the same way.
    (photos / coco_jpegs[0].name).unlink()
    qtbot.waitUntil(lambda: str(photos / coco_jpegs[0].name) not in w.model.paths(), timeout=30_000)
    assert w.model.rowCount() == 6 and not jobs


def test_live_changes_refresh_a_search_and_fold_a_new_copy(qtbot: Any, make_window: Any, tmp_path: Path,
                                                          coco_jpegs: list[Path]) -> None:
    """Showing the look-alikes of a photo, a byte copy of it arrives: the results refresh, and the
    copy is folded into the photo's result (+1 badge) instead of being listed twice."""
    photos = copy_images(coco_jpegs[:8], tmp_path / "photos")
    w = watched_window(qtbot, make_window, tmp_path, [photos])
    target = str(photos / coco_jpegs[3].name)
    with qtbot.waitSignal(w.resultsShown, timeout=30_000, check_params_cb=lambda i: i.get("kind") == "similar"):
        w.find_similar(target)
    assert w.model.item(0).hit.path == target and w.model.item(0).hit.group_size == 1
    copy = photos / "copy-of-it.jpg"
    with qtbot.waitSignal(w.resultsShown, timeout=30_000,
                          check_params_cb=lambda i: i.get("kind") == "similar" and i.get("refresh")):
        shutil.copyfile(target, copy)
    top = w.model.item(0).hit
    assert top.path == target and top.group_size == 2 and top.group == [str(copy)]
    assert str(copy) not in w.model.paths()  # folded, not listed twice
    assert w.similar_chip.isVisible()  # still the same query
    from imgrag_desktop.gui.result_model import GroupRole

    assert w.model.data(w.model.index(0), GroupRole) == 2
    assert "+1 near-identical copy" in w.model.data(w.model.index(0), Qt.ItemDataRole.ToolTipRole)


def test_a_folder_that_goes_away_is_shown_offline_and_keeps_its_rows(qtbot: Any, make_window: Any, tmp_path: Path,
                                                                     coco_jpegs: list[Path]) -> None:
    a = copy_images(coco_jpegs[:4], tmp_path / "drive" / "a")
    b = copy_images(coco_jpegs[4:7], tmp_path / "b")
    w = watched_window(qtbot, make_window, tmp_path, [a, b])
    before = indexed_paths(w)
    assert len(before) == 7
    unplugged = tmp_path / "drive-unplugged"
    shutil.move(str(tmp_path / "drive"), str(unplugged))  # like a drive going away
    qtbot.waitUntil(lambda: w.folders_panel.status_of(str(a)) == "offline", timeout=30_000)
    item = w.folders_panel.list.item(1)
    assert item.data(Qt.ItemDataRole.UserRole) == str(a)  # the row is kept in the list
    assert "offline" in item.text() and item.font().italic()
    disabled = w.folders_panel.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
    assert item.foreground().color() == disabled  # greyed
    assert "Offline" in item.toolTip() and "still be found" in item.toolTip()
    assert w.folders_panel.status_of(str(b)) == "watching"
    assert "1 offline" in w.watch_label.text()
    qtbot.wait(1500)  # several root checks later: nothing was deleted
    assert indexed_paths(w) == before
    w.rerun()
    qtbot.waitUntil(lambda: w.model.rowCount() == 7, timeout=30_000)  # still browsable and searchable

    shutil.move(str(unplugged), str(tmp_path / "drive"))  # plugged back in
    qtbot.waitUntil(lambda: w.folders_panel.status_of(str(a)) == "watching", timeout=30_000)
    assert "offline" not in w.folders_panel.list.item(1).text()
    new = a / "after-return.jpg"
    shutil.copy2(coco_jpegs[9], new)
    qtbot.waitUntil(lambda: str(new) in w.model.paths(), timeout=30_000)


def test_pausing_holds_the_watchers_writes(qtbot: Any, make_window: Any, tmp_path: Path,
                                           coco_jpegs: list[Path]) -> None:
    photos = copy_images(coco_jpegs[:3], tmp_path / "photos")
    w = watched_window(qtbot, make_window, tmp_path, [photos])
    w.act_pause_watch.trigger()
    assert w.act_pause_watch.isChecked() and w.watch_label.text() == "Watching paused"
    new = photos / "while-paused.jpg"
    shutil.copy2(coco_jpegs[5], new)
    qtbot.wait(2000)  # well past the settle time
    assert str(new) not in indexed_paths(w)
    w.act_pause_watch.trigger()
    qtbot.waitUntil(lambda: str(new) in w.model.paths(), timeout=30_000)
    assert w.watch_label.text().startswith("Watching")


def test_removing_a_watched_folder_stops_watching_it_and_drops_its_rows(qtbot: Any, make_window: Any, tmp_path: Path,
                                                                        coco_jpegs: list[Path]) -> None:
    a = copy_images(coco_jpegs[:3], tmp_path / "a")
    b = copy_images(coco_jpegs[3:5], tmp_path / "b")
    w = watched_window(qtbot, make_window, tmp_path, [a, b])
    with qtbot.waitSignal(w.indexFinished, timeout=60_000) as blocker:
        w.remove_folder(str(a), confirm=False)
    assert blocker.args[0]["removed"] == 3
    assert w.watcher is not None and set(w.watcher.status()) == {str(b)}
    shutil.copy2(coco_jpegs[8], a / "late.jpg")  # no longer watched: never indexed
    shutil.copy2(coco_jpegs[9], b / "late.jpg")
    qtbot.waitUntil(lambda: str(b / "late.jpg") in w.model.paths(), timeout=30_000)
    assert not any(p.startswith(str(a)) for p in indexed_paths(w))


def test_another_writer_is_explained_and_watching_starts_once_it_is_gone(qtbot: Any, make_window: Any, tmp_path: Path,
                                                                         coco_jpegs: list[Path], monkeypatch: Any) -> None:
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.store import WriterLock

    photos = copy_images(coco_jpegs[:3], tmp_path / "photos")
    data = fresh_data(tmp_path)
    cfg = AppConfig.load(data, "test")
    cfg.settings.folders = [str(photos)]
    cfg.settings.extra["gui"] = {"rescan_on_start": False}
    cfg.save()
    other = WriterLock(data / "writer.lock")
    other.acquire()  # `imgrag watch` running in another process, say
    try:
        from imgrag_desktop.gui.window import MainWindow

        monkeypatch.setattr(MainWindow, "watch_retry_ms", 500)
        w = make_window(data, watch_options=dict(FAST))
        qtbot.waitUntil(lambda: w.watch_state == "failed", timeout=30_000)
        assert w.watch_label.text() == "Not watching folders"
        assert "another imgrag instance" in w.watch_label.toolTip()
        warnings = [m for m in w.bridge.history if m.level == "warning"]
        assert warnings and "not watched" in warnings[-1].text and "\n" not in warnings[-1].text
        assert not w._open_boxes  # a status-bar warning, not a dialog
    finally:
        other.release()
    qtbot.waitUntil(lambda: w.watch_state == "running", timeout=30_000)
    qtbot.waitUntil(lambda: w.folders_panel.status_of(str(photos)) == "watching", timeout=30_000)


def test_quitting_stops_the_watcher_and_frees_the_writer_lock(qtbot: Any, make_window: Any, tmp_path: Path,
                                                              coco_jpegs: list[Path]) -> None:
    from imgrag_desktop.store import WriterLock

    photos = copy_images(coco_jpegs[:2], tmp_path / "photos")
    w = watched_window(qtbot, make_window, tmp_path, [photos])
    service = w.watcher
    lock = WriterLock(w.cfg.data_dir / "writer.lock")
    with pytest.raises(ImgragError, match="another imgrag instance"):
        lock.acquire()  # the window holds it while it watches
    w.close()
    assert w.shutdown() and not service.running
    lock.acquire()  # free now: `imgrag index` can run
    lock.release()


def test_one_writer_lock_per_process_and_slow_stages_give_way(tmp_path: Path) -> None:
    """The window's indexing and its watcher share one file lock (a second flock from the same
    process would fail) and one in-process lock; a stage running under it stops when the other
    writer asks for the lock, and a mere try (the Duplicates tab's) interrupts nothing."""
    import threading

    from imgrag_desktop.store import WriterLock
    from imgrag_desktop.store.writers import DataDirWriter

    writes = DataDirWriter(tmp_path / "writer.lock")
    writes.hold()  # the watcher, for its whole run
    with writes.writing():  # an indexing job meanwhile: no "another instance" error
        assert writes.held
    with pytest.raises(ImgragError, match="another imgrag instance"):
        WriterLock(tmp_path / "writer.lock").acquire()  # another process is refused
    stage_cancel = threading.Event()
    inside = threading.Event()

    def watcher_stage() -> None:
        with writes.lock, writes.lock.yielding(stage_cancel):
            inside.set()
            stage_cancel.wait(30)  # a caption queue, returning at its next check

    t = threading.Thread(target=watcher_stage)
    t.start()
    assert inside.wait(10)
    assert not writes.lock.acquire(blocking=False) and not stage_cancel.is_set()
    with writes.writing():  # the indexing job asks: the stage yields, the job gets the lock
        assert stage_cancel.is_set()
    t.join(10)
    writes.release()
    assert not writes.held
    other = WriterLock(tmp_path / "writer.lock")
    other.acquire()  # free for other processes once the window lets go
    other.release()
