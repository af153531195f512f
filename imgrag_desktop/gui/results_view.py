"""The thumbnail grid: a QListView in icon mode; the slider sets the cell size, the width the
number of columns (a wider window shows more pictures, not bigger ones), and the cells stretch a
little to fill the row exactly. How a cell is drawn is in grid_delegate.

The vertical scroll bar is always there (disabled when nothing scrolls): in icon mode with the bar
"as needed", QListView lays items out in the viewport's width less a scroll bar's width even while
no bar is shown, so the row wrapped one cell early and left an empty strip on the right (issue 21).
With the bar always on, the width it lays out in is the viewport's width, whatever the row count.

Listed by date (browsing, "sort by date", a query that was only filters), each month starts on a
new row under a header spanning the row ("December 2026"). The headers are not rows of the model:
the view lays the cells out itself (free movement, `setPositionForIndex`), leaving a band above
each month's first row, and paints the header there. So every row of the model is a picture (the
viewer's next/previous and the window's row numbers need no mapping), and the arrow keys, which
move to the nearest cell in their direction, step over the bands."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtGui import QFont, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import QAbstractItemView, QListView, QWidget

from imgrag_desktop.gui.grid_delegate import GROUP_BADGE, ThumbDelegate

__all__ = ["GROUP_BADGE", "ResultsView", "ThumbDelegate"]


class ResultsView(QListView):
    """Icon-mode list whose column count follows the window width, so cells always fill it."""

    def __init__(self, parent: QWidget | None = None, thumb_size: int = 180) -> None:
        super().__init__(parent)
        self.setObjectName("results")
        self._target = thumb_size
        self._last_width = -1
        self.empty_text = ""
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(500)
        self.setWrapping(True)
        self.setSpacing(0)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setMouseTracking(True)
        self.setFrameShape(QListView.Shape.NoFrame)
        self.viewport().setAttribute(Qt.WidgetAttribute.WA_Hover, True)
        self.setItemDelegate(ThumbDelegate(self))
        self.text_height = QFontMetrics(self.font()).height() + 6
        self.sections = False  # months under headers (the model is listed by date)
        self.headers: list[tuple[int, str]] = []  # (top in contents coordinates, text) of each header
        self._update_grid(force=True)

    @property
    def thumb_size(self) -> int:
        return self._target

    def set_thumb_size(self, size: int) -> None:
        self._target = max(80, min(480, int(size)))
        self._update_grid(force=True)

    def _update_grid(self, force: bool = False) -> None:
        width = self.viewport().width()
        if width == self._last_width and not force:
            return
        self._last_width = width
        usable = max(width - 1, self._target)
        cols = max(1, usable // self._target)
        cell = max(60, usable // cols)
        self.setGridSize(QSize(cell, cell + self.text_height))
        step = max(20, cell // 3)
        self.verticalScrollBar().setSingleStep(step)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._update_grid()

    def columns(self) -> int:
        return max(1, self.viewport().width() // max(1, self.gridSize().width()))

    # Months under headers ---------------------------------------------------------------------
    def header_height(self) -> int:
        return QFontMetrics(self._header_font()).height() + 14

    def _header_font(self) -> QFont:
        f = QFont(self.font())
        f.setBold(True)
        f.setPointSizeF(f.pointSizeF() * 1.1)
        return f

    def _month_starts(self) -> dict[int, str]:
        model = self.model()
        if model is None or not getattr(model, "by_date", False):
            return {}
        return dict(getattr(model, "months", {}) or {})

    def doItemsLayout(self) -> None:
        if not hasattr(self, "headers"):  # laid out while the constructor sets the view up
            super().doItemsLayout()
            return
        starts = self._month_starts()
        sections = bool(starts)
        if sections != self.sections:
            self.sections = sections
            # Free movement lets the view place each cell (Static ignores setPositionForIndex);
            # one pass, so no later batch moves a cell back.
            self.setMovement(QListView.Movement.Free if sections else QListView.Movement.Static)
            self.setLayoutMode(QListView.LayoutMode.SinglePass if sections else QListView.LayoutMode.Batched)
        super().doItemsLayout()
        self.headers = []
        if sections:
            self._place(starts)

    def _place(self, starts: dict[int, str]) -> None:
        """Cells row by row, each month from a new row under its header's band."""
        model = self.model()
        cell = self.gridSize()
        cols = self.columns()
        band = self.header_height()
        y, col = 0, 0
        for row in range(model.rowCount()):
            if row in starts:
                if col:
                    y, col = y + cell.height(), 0
                self.headers.append((y, _header_text(starts[row])))
                y += band
            self.setPositionForIndex(QPoint(col * cell.width(), y), model.index(row, 0))
            col += 1
            if col == cols:
                y, col = y + cell.height(), 0
        self.viewport().update()

    def header_rect(self, top: int) -> QRect:
        """Where a header whose band starts at `top` (contents coordinates) is on the viewport."""
        return QRect(0, top - self.verticalOffset(), self.viewport().width(), self.header_height())

    def paintEvent(self, event: Any) -> None:
        super().paintEvent(event)
        if self.sections and self.headers:
            self._paint_headers(event.rect())
        model = self.model()
        if self.empty_text and (model is None or model.rowCount() == 0):
            p = QPainter(self.viewport())
            p.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            f = QFont(self.font())
            f.setPointSizeF(f.pointSizeF() * 1.15)
            p.setFont(f)
            p.drawText(self.viewport().rect().adjusted(40, 40, -40, -40),
                       Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.empty_text)
            p.end()

    def set_empty_text(self, text: str) -> None:
        self.empty_text = text
        self.viewport().update()

    def _paint_headers(self, area: QRect) -> None:
        p = QPainter(self.viewport())
        p.setFont(self._header_font())
        pal = self.palette()
        for top, text in self.headers:
            r = self.header_rect(top)
            if not r.intersects(area):
                continue
            p.setPen(pal.color(QPalette.ColorRole.Text))
            p.drawText(r.adjusted(10, 0, -10, -2), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom, text)
            p.setPen(pal.color(QPalette.ColorRole.Mid))
            p.drawLine(r.left() + 10, r.bottom(), r.right() - 10, r.bottom())
        p.end()


def _header_text(mark: str) -> str:
    """ "December 2026" for a month mark ("Dec 2026"); the mark itself when it does not parse."""
    try:
        return datetime.strptime(mark, "%b %Y").strftime("%B %Y")
    except ValueError:
        return mark
