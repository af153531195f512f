"""The thumbnail grid: a QListView in icon mode; the slider sets the cell size, the width the
number of columns (a wider window shows more pictures, not bigger ones), and the cells stretch a
little to fill the row exactly. How a cell is drawn is in grid_delegate.

The vertical scroll bar is always there (disabled when nothing scrolls): in icon mode with the bar
"as needed", QListView lays items out in the viewport's width less a scroll bar's width even while
no bar is shown, so the row wrapped one cell early and left an empty strip on the right (issue 21).
With the bar always on, the width it lays out in is the viewport's width, whatever the row count."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSize, Qt
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

    def paintEvent(self, event: Any) -> None:
        super().paintEvent(event)
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
