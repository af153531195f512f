"""The grid keeps each picture's shape (fitted whole, not cropped to a square), shows more
columns as it grows, and gives the whole name of a long file on hover or selection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QStyle, QStyleOptionViewItem

from imgrag_desktop.gui.result_model import ResultsModel
from imgrag_desktop.gui.results_view import ResultsView
from imgrag_desktop.gui.thumbnails import ImageLoader
from imgrag_desktop.gui.workers import ResultItem
from imgrag_desktop.types import Hit
from tests.support.data import SCREENSHOTS, fail_without_shared_data


def size_of(path: str) -> tuple[int, int]:
    with Image.open(path) as im:
        return im.size


def grid(qtbot: Any, tmp_path: Path, paths: list[str], width: int = 900, thumb: int = 160) -> tuple[Any, Any, Any]:
    loader = ImageLoader(tmp_path / "thumbs", threads=2)
    model = ResultsModel(loader)
    view = ResultsView(thumb_size=thumb)
    view.viewport().setAttribute(Qt.WidgetAttribute.WA_Hover, False)  # wherever the pointer is, no cell is hovered
    view.setMouseTracking(False)
    view.setModel(model)
    qtbot.addWidget(view)
    view.resize(width, 600)
    view.show()
    qtbot.waitExposed(view)
    items = []
    for i, p in enumerate(paths):
        w, h = size_of(p)
        items.append(ResultItem(Hit(p, score=1.0 - i / 100, width=w, height=h)))
    model.set_items(items)
    qtbot.waitUntil(lambda: all(loader.thumbnail(p) is not None for p in paths), timeout=30_000)
    vp = view.viewport()
    qtbot.mouseMove(vp, QPoint(vp.width() - 3, vp.height() - 3))  # the pointer rests on no cell
    qtbot.wait(30)
    return view, model, loader


def drawn_box(view: Any, row: int) -> tuple[int, int, int, int]:
    """The bounding box of the dark pixels in a cell's picture box (the screenshots are dark
    text on light or light text on dark; the letterbox is the view's light background)."""
    delegate = view.itemDelegate()
    rect = view.visualRect(view.model().index(row))
    box = delegate.image_box(rect)
    shot = view.viewport().grab(box).toImage()
    xs, ys = [], []
    bg = QColor(shot.pixel(0, 0)).lightness()
    for y in range(shot.height()):
        for x in range(shot.width()):
            if abs(QColor(shot.pixel(x, y)).lightness() - bg) > 40:
                xs.append(x)
                ys.append(y)
    assert xs, "nothing drawn in the cell"
    return min(xs), min(ys), max(xs), max(ys)


def test_a_wide_screenshot_keeps_its_shape_in_the_grid(qtbot: Any, tmp_path: Path) -> None:
    fail_without_shared_data()
    wide = str(SCREENSHOTS / "01_parse_colored_url.png")  # 208×37, white text on a dark band
    view, model, loader = grid(qtbot, tmp_path, [wide])
    w, h = size_of(wide)
    delegate = view.itemDelegate()
    box = delegate.image_box(view.visualRect(model.index(0)))
    from imgrag_desktop.gui.grid_delegate import fit_inside

    shown = fit_inside(w, h, box)
    assert shown.width() == box.width() and abs(shown.width() / shown.height() - w / h) < 0.1
    x0, y0, x1, y1 = drawn_box(view, 0)
    # The whole width is used, the height is the picture's own: letterboxed, not a square crop.
    assert x1 - x0 + 1 >= box.width() - 4
    drawn_aspect = (x1 - x0 + 1) / (y1 - y0 + 1)
    assert abs(drawn_aspect - w / h) / (w / h) < 0.15, (drawn_aspect, w / h)
    loader.shutdown()


def test_wider_grids_show_more_columns_of_the_slider_size(qtbot: Any, tmp_path: Path) -> None:
    fail_without_shared_data()
    paths = [str(p) for p in sorted(SCREENSHOTS.glob("*.png"))[:6]]
    view, model, loader = grid(qtbot, tmp_path, paths, width=500, thumb=160)
    counts = []
    for width in (500, 900, 1400, 1900):
        view.resize(width, 600)
        qtbot.wait(20)
        counts.append(view.columns())
        # Cells keep about the slider's size (stretched less than one cell's worth across the row).
        assert 160 <= view.gridSize().width() < 160 * (1 + 1 / view.columns()) + 1
    assert counts == sorted(counts) and counts[-1] >= counts[0] + 6, counts
    loader.shutdown()


def test_a_long_name_is_elided_in_the_middle_and_shown_whole_when_selected(qtbot: Any, tmp_path: Path) -> None:
    fail_without_shared_data()
    src = SCREENSHOTS / "09_two_columns.png"
    long = tmp_path / ("holiday-in-the-mountains-with-the-whole-family-" * 2 + "0042.png")
    long.write_bytes(src.read_bytes())
    view, model, loader = grid(qtbot, tmp_path, [str(long)], thumb=160)
    rect = view.visualRect(model.index(0))
    box = view.itemDelegate().image_box(rect)

    def band_lightness(state: QStyle.StateFlag) -> float:
        """The cell painted by the delegate with `state`, off screen (no pointer, no focus
        involved); the mean lightness of the rows above the box's bottom, where the band goes."""
        image = QImage(rect.size(), QImage.Format.Format_ARGB32)
        image.fill(QColor("white"))
        option = QStyleOptionViewItem()
        option.initFrom(view.viewport())
        option.rect = QRect(0, 0, rect.width(), rect.height())
        option.state = QStyle.StateFlag.State_Enabled | state
        painter = QPainter(image)
        view.itemDelegate().paint(painter, option, model.index(0))
        painter.end()
        b = box.translated(-rect.topLeft())
        values = [QColor(image.pixel(x, y)).lightness()
                  for y in range(b.bottom() - 30, b.bottom() - 4) for x in range(b.left() + 8, b.right() - 8)]
        return sum(values) / len(values)

    plain = band_lightness(QStyle.StateFlag.State_None)
    assert band_lightness(QStyle.StateFlag.State_Selected) < plain * 0.75  # the dark full-name band
    assert band_lightness(QStyle.StateFlag.State_MouseOver) < plain * 0.75
    loader.shutdown()
