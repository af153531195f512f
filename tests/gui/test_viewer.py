"""The viewer: Enter opens it on the current result, ←/→ step through the results, zoom changes
the scale it draws at, Esc goes back to the grid with the same picture selected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, Qt


def wait_browse(qtbot: Any, w: Any, n: int = 20) -> None:
    qtbot.waitUntil(lambda: w.model.rowCount() == n, timeout=30_000)


def test_enter_opens_the_viewer_and_esc_comes_back_to_the_same_picture(qtbot: Any, make_window: Any,
                                                                      indexed_dir: Path) -> None:
    w = make_window(indexed_dir)
    wait_browse(qtbot, w)
    page, viewer = w.page, w.page.viewer
    page.select(w.model.index(3))
    w.view.setFocus()
    dock = w.folders_dock.isVisible()
    qtbot.keyClick(w.view, Qt.Key.Key_Return)
    assert page.viewer_open() and viewer.isVisible() and not w.view.isVisible()
    assert viewer.current_path() == w.model.item(3).hit.path
    assert not w.folders_dock.isVisible()  # the viewer has the whole window
    assert viewer.position.text() == "4 of 20"
    # The full picture arrives (decoded off the GUI thread) and is drawn fitted into the viewer.
    qtbot.waitUntil(lambda: viewer._has_full, timeout=30_000)
    rect = viewer.canvas.image_rect()
    area = viewer.canvas.rect()
    assert rect.width() <= area.width() and rect.height() <= area.height()
    assert max(rect.width() / area.width(), rect.height() / area.height()) > 0.9  # fitted: fills one side

    # → and ← step through the results; the buttons do too.
    qtbot.keyClick(viewer, Qt.Key.Key_Right)
    assert viewer.current_path() == w.model.item(4).hit.path and viewer.position.text() == "5 of 20"
    qtbot.keyClick(viewer, Qt.Key.Key_Right)
    qtbot.mouseClick(viewer.prev_button, Qt.MouseButton.LeftButton)
    assert viewer.row == 4
    qtbot.keyClick(viewer, Qt.Key.Key_Home)
    assert viewer.row == 0 and not viewer.prev_button.isEnabled()
    qtbot.keyClick(viewer, Qt.Key.Key_Left)  # nothing before the first
    assert viewer.row == 0
    qtbot.keyClick(viewer, Qt.Key.Key_End)
    assert viewer.row == 19 and not viewer.next_button.isEnabled()
    qtbot.keyClick(viewer, Qt.Key.Key_Right)  # nothing after the last
    assert viewer.row == 19
    qtbot.mouseClick(viewer.prev_button, Qt.MouseButton.LeftButton)
    assert viewer.row == 18

    # Esc (which clears the search elsewhere) goes back to the grid, on the picture shown last.
    shown = viewer.current_path()
    text_before = w.search_edit.text()
    qtbot.keyClick(viewer, Qt.Key.Key_Escape)
    assert not page.viewer_open() and w.view.isVisible() and w.folders_dock.isVisible() == dock
    assert w.view.currentIndex().row() == 18 and page.current_path() == shown
    assert [i.row() for i in w.view.selectionModel().selectedIndexes()] == [18]
    assert w.view.viewport().rect().intersects(w.view.visualRect(w.model.index(18)))  # scrolled to
    assert w.search_edit.text() == text_before


def test_zoom_and_pan_change_how_the_picture_is_drawn(qtbot: Any, make_window: Any, indexed_dir: Path) -> None:
    w = make_window(indexed_dir)
    wait_browse(qtbot, w)
    assert w.page.open_viewer(0)
    viewer = w.page.viewer
    canvas = viewer.canvas
    qtbot.waitUntil(lambda: viewer._has_full, timeout=30_000)
    hit = viewer.item.hit
    fit = canvas.scale()
    assert abs(canvas.image_rect().width() - hit.width * fit) < 1.5
    qtbot.keyClick(viewer, Qt.Key.Key_Plus)
    assert abs(canvas.scale() - fit * 1.25) < 1e-6
    assert abs(canvas.image_rect().width() - hit.width * fit * 1.25) < 1.5
    assert viewer.zoom_label.text() == f"{round(fit * 125)} %"
    qtbot.keyClick(viewer, Qt.Key.Key_Minus)
    qtbot.keyClick(viewer, Qt.Key.Key_Minus)
    assert abs(canvas.scale() - fit / 1.25) < 1e-6
    qtbot.mouseClick(viewer.actual_button, Qt.MouseButton.LeftButton)
    assert canvas.scale() == 1.0 and abs(canvas.image_rect().width() - hit.width) < 1.5
    # The wheel zooms about the cursor: the image point under it stays put.
    at = canvas.rect().center() + QPoint(40, 30)
    before = canvas.image_rect()
    rel = ((at.x() - before.left()) / before.width(), (at.y() - before.top()) / before.height())
    canvas.set_zoom(2.0, anchor=at.toPointF())
    after = canvas.image_rect()
    assert abs(after.left() + rel[0] * after.width() - at.x()) < 1.5
    assert abs(after.top() + rel[1] * after.height() - at.y()) < 1.5
    # Dragging pans a zoomed picture.
    left = after.left()
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=canvas.rect().center())
    qtbot.mouseMove(canvas, canvas.rect().center() + QPoint(60, 0))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=canvas.rect().center() + QPoint(60, 0))
    assert abs(canvas.image_rect().left() - (left + 60)) < 1.5
    qtbot.mouseClick(viewer.fit_button, Qt.MouseButton.LeftButton)
    assert canvas.scale() == fit
    # A new picture starts fitted.
    canvas.set_zoom(3.0)
    qtbot.keyClick(viewer, Qt.Key.Key_Right)
    assert canvas.zoom is None


def test_face_and_word_boxes_follow_the_zoom(qtbot: Any, make_window: Any, indexed_dir: Path) -> None:
    w = make_window(indexed_dir)
    wait_browse(qtbot, w)
    assert w.page.open_viewer(1)
    viewer = w.page.viewer
    qtbot.waitUntil(lambda: viewer._has_full, timeout=30_000)
    path = viewer.current_path()
    viewer.set_details(path, {"faces": [{"box": [10, 20, 60, 90], "person": 3, "name": "Ann"}], "ocr_text": "EXIT 12"})
    viewer.canvas.set_boxes([{"x": 100, "y": 40, "w": 80, "h": 20}])
    assert viewer.facts["faces"].text() == "Ann" and viewer.text.toPlainText() == "EXIT 12"
    viewer.canvas.set_zoom(1.0)
    img = viewer.canvas.image_rect()
    face, word = viewer.canvas.face_rects()[0], viewer.canvas.box_rects()[0]
    assert abs(face.left() - (img.left() + 10)) < 0.5 and abs(face.width() - 50) < 0.5
    assert abs(word.left() - (img.left() + 100)) < 0.5 and abs(word.height() - 20) < 0.5
    viewer.canvas.set_zoom(2.0)
    img = viewer.canvas.image_rect()
    face = viewer.canvas.face_rects()[0]
    assert abs(face.left() - (img.left() + 20)) < 0.5 and abs(face.width() - 100) < 0.5
    viewer.set_details("/elsewhere.jpg", {"faces": []})  # another picture's row is ignored
    assert len(viewer.canvas.face_rects()) == 1
