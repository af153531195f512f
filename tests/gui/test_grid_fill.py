"""The grid's cells fill the row: at any window width the right-most cell of a full row ends
within one spacing of the viewport's right edge (no empty strip on the right), also after the
rows grow past the window and shrink back (before the fix, Qt laid a row out in the viewport
less a scroll bar's width while no bar was shown, and wrapped one cell early)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QStandardItem, QStandardItemModel

from imgrag_desktop.gui.results_view import ResultsView

SIZES = [(800, 600), (1000, 700), (1280, 800), (1440, 900), (1920, 1080), (2560, 1440)]


def gap_right(view: Any) -> int:
    """Pixels between the right-most cell's right edge and the viewport's right edge."""
    model = view.model()
    rights = [view.visualRect(model.index(i, 0)).right() for i in range(model.rowCount())]
    return view.viewport().width() - 1 - max(rights)


def full_row(view: Any) -> bool:
    return view.model().rowCount() >= view.columns()


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_the_window_grid_fills_its_width(qtbot: Any, make_window: Any, indexed_dir: Path,
                                         size: tuple[int, int]) -> None:
    w = make_window(indexed_dir)
    qtbot.waitUntil(lambda: w.model.rowCount() == 20, timeout=30_000)
    w.resize(*size)
    qtbot.waitUntil(lambda: (w.width(), w.height()) == size, timeout=5_000)
    qtbot.wait(50)
    view = w.view
    assert view.isVisible()
    assert full_row(view)
    assert 0 <= gap_right(view) <= max(1, view.spacing()) + view.columns(), \
        (size, view.viewport().width(), view.gridSize().width(), view.columns())
    # Cells keep close to the size the slider asks for: more columns, not giant cells.
    assert view.gridSize().width() < 2 * view.thumb_size


def test_the_grid_refits_when_the_scroll_bar_comes_and_goes(qtbot: Any) -> None:
    view = ResultsView(thumb_size=150)
    qtbot.addWidget(view)
    model = QStandardItemModel()
    for i in range(6):
        model.appendRow(QStandardItem(f"p{i}.jpg"))
    view.setModel(model)
    view.resize(1000, 700)
    view.show()
    qtbot.waitExposed(view)
    qtbot.wait(20)
    assert view.verticalScrollBar().maximum() == 0  # nothing to scroll yet
    assert 0 <= gap_right(view) <= view.columns()
    for i in range(6, 200):  # now it scrolls: the viewport narrows by the bar's width
        model.appendRow(QStandardItem(f"p{i}.jpg"))
    qtbot.waitUntil(lambda: view.verticalScrollBar().maximum() > 0, timeout=5_000)
    qtbot.wait(20)
    assert 0 <= gap_right(view) <= view.columns(), (view.viewport().width(), view.gridSize().width())
    model.removeRows(6, 194)  # and back
    qtbot.waitUntil(lambda: view.verticalScrollBar().maximum() == 0, timeout=5_000)
    qtbot.wait(20)
    assert 0 <= gap_right(view) <= view.columns(), (view.viewport().width(), view.gridSize().width())
