"""The Ask panel's own widgets: the question field, the answer's HTML with its numbered
citations, and the strip of cited pictures."""

from __future__ import annotations

import html
import os
import re

from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QKeyEvent, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QLineEdit, QListView, QListWidget, QListWidgetItem, QWidget

from imgrag_desktop.gui.thumbnails import ImageLoader
from imgrag_desktop.gui.workers import ResultItem

PathRole = Qt.ItemDataRole.UserRole + 1
_CITE_GROUP = re.compile(r"\[(\s*\d+(?:\s*(?:,|;|-|–|and)\s*\d+)*\s*)\]")
_NUMBER = re.compile(r"\d+")


def answer_html(text: str, n_sources: int, cited: set[int] | None = None) -> str:
    """The answer as HTML, each cited source number [n] a link (cite:n) to its picture."""

    def link_numbers(match: re.Match[str]) -> str:
        def one(m: re.Match[str]) -> str:
            n = int(m.group(0))
            if 1 <= n <= n_sources and (cited is None or n in cited):
                return f'<a href="cite:{n}">{n}</a>'
            return m.group(0)

        return "[" + _NUMBER.sub(one, match.group(1)) + "]"

    escaped = html.escape(text, quote=False)
    body = _CITE_GROUP.sub(link_numbers, escaped)
    return "<div style='white-space: pre-wrap'>" + body + "</div>"


class QuestionEdit(QLineEdit):
    """The question box. Enter and Ctrl+Enter ask; Esc cancels a running answer.

    Ctrl+Enter (open in viewer) and Esc (clear the search) are window shortcuts; here they are
    claimed first (ShortcutOverride), so the keys do what the box promises.
    """

    askPressed = Signal()
    escapePressed = Signal()

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape):
                event.accept()
                return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.askPressed.emit()
            event.accept()
            return
        if event.key() == Qt.Key.Key_Escape:
            self.escapePressed.emit()
            event.accept()
            return
        super().keyPressEvent(event)


class CitationStrip(QListWidget):
    """The cited pictures in one row, as thumbnails labelled [n] and the file name."""

    def __init__(self, loader: ImageLoader, parent: QWidget | None = None, side: int = 112) -> None:
        super().__init__(parent)
        self.loader = loader
        self.side = side
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setIconSize(QSize(side, side))
        self.setGridSize(QSize(side + 24, side + 40))
        self.setUniformItemSizes(True)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFixedHeight(side + 40 + self.horizontalScrollBar().sizeHint().height() + 2 * self.frameWidth() + 4)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.setAccessibleName("Cited images")
        self._placeholder = QPixmap(side, side)
        self._placeholder.fill(self.palette().color(QPalette.ColorRole.Mid))
        loader.thumbnailReady.connect(self._on_thumbnail)

    def set_items(self, items: list[tuple[int, ResultItem]]) -> None:
        self.clear()
        for n, item in items:
            path = item.hit.path
            it = QListWidgetItem(f"[{n}] {os.path.basename(path)}")
            it.setData(PathRole, path)
            it.setToolTip(path)
            it.setIcon(self._icon(path))
            self.addItem(it)
            if self.loader.thumbnail(path) is None:
                self.loader.request_thumbnail(path, item.chash)

    def paths(self) -> list[str]:
        return [str(self.item(i).data(PathRole)) for i in range(self.count())]

    def row_of(self, path: str) -> int:
        return next((i for i in range(self.count()) if self.item(i).data(PathRole) == path), -1)

    def has_thumbnail(self, row: int) -> bool:
        it = self.item(row)
        return it is not None and self.loader.thumbnail(str(it.data(PathRole))) is not None

    def _icon(self, path: str) -> QIcon:
        pix = self.loader.thumbnail(path)
        return QIcon(self.square(pix) if pix is not None else self._placeholder)

    def square(self, pix: QPixmap) -> QPixmap:
        """The thumbnail fit inside a side × side square, centred on a clear ground: every tile
        has the same icon size, so the labels under them line up whatever each picture's shape."""
        dpr = max(1.0, self.devicePixelRatioF())  # sharp on a HiDPI screen
        px = round(self.side * dpr)
        out = QPixmap(px, px)
        out.fill(Qt.GlobalColor.transparent)
        scaled = pix.scaled(px, px, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
        scaled.setDevicePixelRatio(1.0)
        painter = QPainter(out)
        painter.drawPixmap((px - scaled.width()) // 2, (px - scaled.height()) // 2, scaled)
        painter.end()
        out.setDevicePixelRatio(dpr)
        return out

    def _on_thumbnail(self, path: str) -> None:
        row = self.row_of(path)
        if row >= 0:
            item = self.item(row)
            item.setIcon(self._icon(path))
            broken = self.loader.broken(path)
            if broken:
                item.setToolTip(f"{path}\n(no thumbnail: {broken})")
