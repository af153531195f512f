"""Searching from the window: typing, dropping and pasting images, the right-click menu, keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication, QImage
from PySide6.QtWidgets import QApplication, QMenu


def engine_hits(data_dir: Path, text: str, k: int = 500) -> list[str]:
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.services import Services

    return [h.path for h in Services(AppConfig.load(data_dir, "test")).searcher.search(text, k=k)]


def wait_browse(qtbot: Any, w: Any, n: int = 20) -> None:
    qtbot.waitUntil(lambda: w.model.rowCount() == n and not w.model.show_scores, timeout=60_000)


def test_browse_lists_every_indexed_image(qtbot: Any, make_window: Any, indexed_dir: Path, gui_photos: Path) -> None:
    w = make_window(indexed_dir, wait_ready=False)  # browsing does not wait for the model
    wait_browse(qtbot, w)
    assert set(w.model.paths()) == {str(p) for p in gui_photos.glob("*.jpg")}
    assert w.stack.currentWidget() is w.view
    assert w.count_label.text() == "20 images indexed"


def test_typing_a_query_shows_the_engines_results(qtbot: Any, make_window: Any, indexed_dir: Path) -> None:
    w = make_window(indexed_dir)
    qtbot.keyClick(w, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert w.search_edit.hasFocus()
    with qtbot.waitSignal(w.resultsShown, timeout=30_000,
                          check_params_cb=lambda info: info.get("kind") == "text") as blocker:
        qtbot.keyClicks(w.search_edit, "a red bus")  # no Enter: results follow the typing after a pause
    info = blocker.args[0]
    assert info["label"] == "“a red bus”"
    shown = w.model.paths()
    assert shown == engine_hits(indexed_dir, "a red bus")  # same hits, same order as the engine gives
    assert len(shown) == 20
    assert w.model.show_scores
    assert w.preview.current_path() == shown[0]  # the first result is previewed
    # Tooltips carry the score.
    tip = w.model.data(w.model.index(0), Qt.ItemDataRole.ToolTipRole)
    assert f"score {w.model.item(0).hit.score:.3f}" in tip


def test_a_closed_window_frees_its_models(qtbot: Any, make_window: Any, indexed_dir: Path) -> None:
    """Closing frees CLIP and the text model at once, not at a full garbage collection: the
    suite's windows once held 180 ONNX sessions and 16 GB between them."""
    w = make_window(indexed_dir)
    with qtbot.waitSignal(w.resultsShown, timeout=30_000, check_params_cb=lambda info: info.get("kind") == "text"):
        w.search_edit.setText("a red bus")
        w.search_now()
    svc = w.host.services
    assert svc._clip is not None and svc._clip.loaded
    w.close()
    assert w.shutdown()
    assert svc._clip is None and svc._text is None and svc._ocr is None and svc._faces is None


def test_enter_searches_at_once_and_esc_goes_back_to_browsing(qtbot: Any, make_window: Any, indexed_dir: Path) -> None:
    w = make_window(indexed_dir)
    wait_browse(qtbot, w)
    w.focus_search()
    w.search_edit.setText("kitchen")
    with qtbot.waitSignal(w.resultsShown, timeout=30_000, check_params_cb=lambda i: i.get("kind") == "text"):
        qtbot.keyClick(w.search_edit, Qt.Key.Key_Return)
    assert w.model.rowCount() == 20
    with qtbot.waitSignal(w.resultsShown, timeout=30_000, check_params_cb=lambda i: i.get("kind") == "browse"):
        qtbot.keyClick(w.search_edit, Qt.Key.Key_Escape)
    assert w.search_edit.text() == ""
    assert not w.model.show_scores  # browsing shows no scores
    # Down from the search bar moves into the grid; Enter there views the current image.
    w.focus_search()
    qtbot.keyClick(w.search_edit, Qt.Key.Key_Down)
    assert w.view.hasFocus()
    before = w.view.currentIndex().row()
    qtbot.keyClick(w.view, Qt.Key.Key_Right)
    assert w.view.currentIndex().row() == before + 1
    second = w.model.item(before + 1).hit.path
    qtbot.keyClick(w.view, Qt.Key.Key_Return)
    assert w.page.viewer_open() and w.page.viewer.current_path() == second


def drop_files(w: Any, paths: list[str]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(p) for p in paths])
    pos = QPoint(w.width() // 2, w.height() // 2)
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(w, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(pos), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(w, drop)
    assert drop.isAccepted()


def test_dropping_an_image_file_shows_its_lookalikes_first(qtbot: Any, make_window: Any, indexed_dir: Path,
                                                          gui_photos: Path) -> None:
    w = make_window(indexed_dir)
    target = str(sorted(gui_photos.glob("*.jpg"))[7])
    with qtbot.waitSignal(w.resultsShown, timeout=30_000, check_params_cb=lambda i: i.get("kind") == "similar"):
        drop_files(w, [target])
    assert w.model.item(0).hit.path == target
    assert w.model.item(0).hit.score == pytest.approx(1.0, abs=1e-4)
    assert w.model.rowCount() == 20
    assert w.similar_chip.isVisible() and Path(target).name in w.similar_label.text()


def test_dropping_an_image_that_is_not_indexed(qtbot: Any, make_window: Any, indexed_dir: Path,
                                               coco_jpegs: list[Path], tmp_path: Path) -> None:
    """A file from elsewhere is encoded on the fly; its look-alikes come from the index."""
    w = make_window(indexed_dir)
    outside = tmp_path / "elsewhere.jpg"
    outside.write_bytes(coco_jpegs[-1].read_bytes())
    with qtbot.waitSignal(w.resultsShown, timeout=30_000, check_params_cb=lambda i: i.get("kind") == "similar"):
        drop_files(w, [str(outside)])
    assert w.model.rowCount() == 20
    assert str(outside) not in w.model.paths()


def test_dropping_a_non_image_gives_one_clear_line(qtbot: Any, make_window: Any, indexed_dir: Path,
                                                   tmp_path: Path) -> None:
    w = make_window(indexed_dir)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    with qtbot.waitSignal(w.searchFailed, timeout=30_000) as blocker:
        drop_files(w, [str(notes)])
    text = blocker.args[0]
    assert "notes.txt" in text and "\n" not in text and "Traceback" not in text
    box = next(b for b in w._open_boxes.values())
    assert "notes.txt" in box.text() and "Traceback" not in box.text()
    box.close()


def test_pasting_image_pixels_finds_that_image(qtbot: Any, make_window: Any, indexed_dir: Path,
                                               gui_photos: Path) -> None:
    w = make_window(indexed_dir)
    target = str(sorted(gui_photos.glob("*.jpg"))[3])
    QGuiApplication.clipboard().setImage(QImage(target))
    w.view.setFocus()
    with qtbot.waitSignal(w.resultsShown, timeout=30_000, check_params_cb=lambda i: i.get("kind") == "similar"):
        qtbot.keyClick(w.view, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert w.model.item(0).hit.path == target  # the same pixels, re-encoded, still match best
    assert "pasted image" in w.similar_label.text()


def test_ctrl_v_in_the_search_bar_pastes_files_as_images_and_text_as_text(qtbot: Any, make_window: Any,
                                                                          indexed_dir: Path, gui_photos: Path) -> None:
    w = make_window(indexed_dir)
    target = str(sorted(gui_photos.glob("*.jpg"))[5])
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(target)])
    QGuiApplication.clipboard().setMimeData(mime)
    w.focus_search()
    with qtbot.waitSignal(w.resultsShown, timeout=30_000, check_params_cb=lambda i: i.get("kind") == "similar"):
        qtbot.keyClick(w.search_edit, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert w.model.item(0).hit.path == target
    QGuiApplication.clipboard().setText("beach")
    w.focus_search()
    qtbot.keyClick(w.search_edit, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert w.search_edit.text() == "beach"


def test_right_click_menu_and_double_click(qtbot: Any, make_window: Any, indexed_dir: Path) -> None:
    w = make_window(indexed_dir)
    wait_browse(qtbot, w)
    idx = w.model.index(2)
    path = w.model.item(2).hit.path
    rect = w.view.visualRect(idx)
    w.view.customContextMenuRequested.emit(rect.center())
    menu = w._last_menu
    assert isinstance(menu, QMenu)
    labels = [a.text() for a in menu.actions() if not a.isSeparator()]
    assert labels == ["View", "Open with the system viewer", "Show in folder", "Copy path", "Find similar"]
    actions = {a.text(): a for a in menu.actions()}
    menu.close()
    actions["Copy path"].trigger()
    assert QGuiApplication.clipboard().text() == path
    actions["Open with the system viewer"].trigger()
    assert w.open_url.calls[-1] == QUrl.fromLocalFile(path)
    actions["Show in folder"].trigger()
    assert w.reveal.calls[-1] == path
    with qtbot.waitSignal(w.resultsShown, timeout=30_000, check_params_cb=lambda i: i.get("kind") == "similar"):
        actions["Find similar"].trigger()
    assert w.model.item(0).hit.path == path
    # Double-click opens the built-in viewer (the system viewer stays in the menu).
    first = w.model.item(0).hit.path
    rect = w.view.visualRect(w.model.index(0))
    calls = len(w.open_url.calls)
    qtbot.mouseClick(w.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # a double-click's first press
    qtbot.mouseDClick(w.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert w.page.viewer_open() and w.page.viewer.current_path() == first
    assert len(w.open_url.calls) == calls


def test_folder_filter_limits_results(qtbot: Any, make_window: Any, indexed_dir: Path, gui_photos: Path) -> None:
    w = make_window(indexed_dir)
    with qtbot.waitSignal(w.resultsShown, timeout=30_000):
        w.folders_panel.select(str(gui_photos))
    assert w.model.rowCount() == 20
    assert all(p.startswith(str(gui_photos)) for p in w.model.paths())


def test_a_missing_model_is_explained_and_browsing_still_works(qtbot: Any, make_window: Any, tmp_path: Path,
                                                               indexed_dir: Path) -> None:
    import shutil

    from imgrag_desktop.config import AppConfig

    data = tmp_path / "data"
    shutil.copytree(indexed_dir, data)
    cfg = AppConfig.load(data, "default")  # the product profile, whose model files can be missing
    cfg.settings.clip_checkpoint = str(tmp_path / "gone.pt")  # e.g. a checkpoint on an unplugged drive
    cfg.save()
    # The engine starts without its visual model (indexing goes on, the Models page offers a
    # download) and says why; a search that needs the named checkpoint says it is missing.
    w = make_window(data, profile="default")
    qtbot.waitUntil(lambda: "gone.pt does not exist" in w.statusBar().currentMessage(), timeout=10_000)
    assert "Traceback" not in w.statusBar().currentMessage()
    assert "visual" not in [w.mode_combo.itemData(i) for i in range(w.mode_combo.count())]
    wait_browse(qtbot, w)  # browsing needs no model
    with qtbot.waitSignal(w.searchFailed, timeout=30_000) as blocker:
        w.search("a cat")
    assert "does not exist" in blocker.args[0]
    assert "does not exist" in w.view.empty_text  # said where the results would be
    assert w.model.rowCount() == 0


def test_window_shortcuts_are_unambiguous_and_ctrl_q_quits(qtbot: Any, make_window: Any, indexed_dir: Path) -> None:
    from PySide6.QtGui import QAction, QKeySequence

    w = make_window(indexed_dir)
    owners: dict[str, str] = {}
    for act in w.actions():
        assert isinstance(act, QAction)
        for seq in act.shortcuts():
            key = seq.toString()
            assert key not in owners, f"{key} is bound to both {owners[key]!r} and {act.text()!r}"
            owners[key] = act.text()
    for key in ("Ctrl+F", "Ctrl+L", "Ctrl+V", "Ctrl+O", "Ctrl+Q", "Esc", "F5", "Ctrl+,"):
        assert QKeySequence(key).toString() in owners, key
    w.view.setFocus()
    qtbot.keyClick(w.view, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=10_000)
    assert w.shutdown()
