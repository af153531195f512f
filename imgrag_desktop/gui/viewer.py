"""The viewer: one result at a time, filling the Search tab, with next/previous over the results,
zoom (wheel, +/−, fit, 100 %) and pan (drag), the matched words and the faces drawn over it, and
an info panel. Esc goes back to the grid (the page selects and scrolls to the picture shown last).

The drawing is the preview's ImageCanvas (word boxes, faces, matched region) with a zoomable,
pannable image rectangle; everything it draws follows image_rect, so the boxes zoom with it.
"""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, QSizeF, Qt, Signal
from PySide6.QtGui import QImage, QKeyEvent, QPixmap
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from imgrag_desktop.gui.preview import ElidedLabel, ImageCanvas, local_date_text, place_text
from imgrag_desktop.gui.result_model import ResultsModel, human_date, human_size
from imgrag_desktop.gui.thumbnails import ImageLoader
from imgrag_desktop.gui.workers import ResultItem

VIEWER_SIDE = 4096  # the decoded size asked for: 100 % is true pixels up to this side
ZOOM_STEP = 1.25
ZOOM_MIN, ZOOM_MAX = 0.02, 16.0
_KEYS = {Qt.Key.Key_Escape, Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Plus, Qt.Key.Key_Equal,
         Qt.Key.Key_Minus, Qt.Key.Key_0, Qt.Key.Key_1, Qt.Key.Key_Home, Qt.Key.Key_End}


class ZoomCanvas(ImageCanvas):
    """ImageCanvas whose image can be zoomed (None: fitted to the widget) and dragged."""

    zoomChanged = Signal(float)  # the scale now shown (1.0 = 100 %)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.zoom: float | None = None
        self._offset = QPointF(0, 0)  # the image centre's shift from the widget centre
        self._drag: QPointF | None = None
        self.placeholder = ""
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(QSize(160, 120))
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)

    def hasHeightForWidth(self) -> bool:
        return False

    def sizeHint(self) -> QSize:
        return QSize(800, 600)

    def _area(self) -> QRectF:
        return QRectF(self.rect()).adjusted(4, 4, -4, -4)

    def fit_scale(self) -> float:
        ow, oh = self._orig
        area = self._area()
        return max(ZOOM_MIN, min(area.width() / max(1, ow), area.height() / max(1, oh), 2.0))  # small pictures grow at most 2×

    def scale(self) -> float:
        return self.zoom if self.zoom is not None else self.fit_scale()

    def image_rect(self) -> QRectF:
        if self._pix is None or self._pix.isNull():
            return QRectF()
        ow, oh = self._orig
        s = self.scale()
        size = QSizeF(ow * s, oh * s)
        self._offset = self._clamped(self._offset, size)
        centre = self._area().center() + self._offset
        return QRectF(centre - QPointF(size.width() / 2, size.height() / 2), size)

    def _clamped(self, offset: QPointF, size: QSizeF) -> QPointF:
        """An image smaller than the widget stays centred; a larger one never leaves a gap."""
        area = self._area()
        mx = max(0.0, (size.width() - area.width()) / 2)
        my = max(0.0, (size.height() - area.height()) / 2)
        return QPointF(max(-mx, min(mx, offset.x())), max(-my, min(my, offset.y())))

    def set_zoom(self, zoom: float | None, anchor: QPointF | None = None) -> None:
        """Zoom to `zoom` (None: fit), keeping the image point under `anchor` where it is."""
        if zoom is None:
            self.zoom, self._offset = None, QPointF(0, 0)
        else:
            old = self.scale()
            new = max(ZOOM_MIN, min(ZOOM_MAX, float(zoom)))
            at = anchor if anchor is not None else self._area().center()
            centre = self._area().center() + self._offset
            self._offset = (at - (at - centre) * (new / old)) - self._area().center()
            self.zoom = new
        self.update()
        self.zoomChanged.emit(self.scale())

    def zoom_in(self, anchor: QPointF | None = None) -> None:
        self.set_zoom(self.scale() * ZOOM_STEP, anchor)

    def zoom_out(self, anchor: QPointF | None = None) -> None:
        self.set_zoom(self.scale() / ZOOM_STEP, anchor)

    def wheelEvent(self, event: Any) -> None:  # noqa: N802 (Qt naming)
        dy = event.angleDelta().y()
        if dy > 0:
            self.zoom_in(event.position())
        elif dy < 0:
            self.zoom_out(event.position())
        event.accept()

    def mousePressEvent(self, event: Any) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: Any) -> None:  # noqa: N802
        if self._drag is not None:
            pos = event.position()
            self._offset += pos - self._drag
            self._drag = pos
            self.update()
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: Any) -> None:  # noqa: N802
        self._drag = None
        self.setCursor(Qt.CursorShape.ArrowCursor)
        super().mouseReleaseEvent(event)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self.zoom is None:
            self.zoomChanged.emit(self.scale())


class Viewer(QWidget):
    """One result, large. `open(row)` shows a row of the page's model; `closed(row)` says which
    row was shown last when the user goes back."""

    closed = Signal(int)
    rowChanged = Signal(int)
    detailsRequested = Signal(str)
    openRequested = Signal(str)  # "Open with the system viewer"

    def __init__(self, model: ResultsModel, loader: ImageLoader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("viewer")
        self.model, self.loader = model, loader
        self.row = -1
        self.item: ResultItem | None = None
        self._has_full = False
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        outer.setSpacing(6)
        bar = QHBoxLayout()
        bar.setSpacing(4)
        self.back_button = QPushButton("Back", self)
        self.back_button.setToolTip("Back to the results (Esc)")
        self.prev_button = QToolButton(self)
        self.prev_button.setText("‹")
        self.prev_button.setToolTip("Previous result (←)")
        self.next_button = QToolButton(self)
        self.next_button.setText("›")
        self.next_button.setToolTip("Next result (→)")
        self.position = QLabel(self)
        self.position.setMinimumWidth(self.fontMetrics().horizontalAdvance("0000 of 0000") + 8)
        self.position.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.out_button, self.in_button = QToolButton(self), QToolButton(self)
        self.out_button.setText("−")
        self.out_button.setToolTip("Zoom out (−, wheel)")
        self.in_button.setText("+")
        self.in_button.setToolTip("Zoom in (+, wheel)")
        self.zoom_label = QLabel(self)
        self.zoom_label.setMinimumWidth(self.fontMetrics().horizontalAdvance("1600 %") + 8)
        self.zoom_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.fit_button, self.actual_button = QToolButton(self), QToolButton(self)
        self.fit_button.setText("Fit")
        self.fit_button.setToolTip("Fit the picture into the window (0)")
        self.actual_button.setText("100 %")
        self.actual_button.setToolTip("True pixels (1)")
        self.open_button = QToolButton(self)
        self.open_button.setText("Open with…")
        self.open_button.setToolTip("Open with the system viewer")
        bar.addWidget(self.back_button)
        bar.addSpacing(6)
        for w in (self.prev_button, self.position, self.next_button):
            bar.addWidget(w)
        bar.addStretch(1)
        for w in (self.out_button, self.zoom_label, self.in_button, self.fit_button, self.actual_button):
            bar.addWidget(w)
        bar.addSpacing(6)
        bar.addWidget(self.open_button)
        outer.addLayout(bar)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.canvas = ZoomCanvas(self.splitter)
        self.canvas.setAccessibleName("Viewer image")
        self.info = self._build_info()
        self.splitter.addWidget(self.canvas)
        self.splitter.addWidget(self.info)
        self.splitter.setStretchFactor(0, 4)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setCollapsible(0, False)
        outer.addWidget(self.splitter, 1)

        self.back_button.clicked.connect(self.close_viewer)
        self.prev_button.clicked.connect(self.previous)
        self.next_button.clicked.connect(self.next)
        self.in_button.clicked.connect(lambda: self.canvas.zoom_in())
        self.out_button.clicked.connect(lambda: self.canvas.zoom_out())
        self.fit_button.clicked.connect(lambda: self.canvas.set_zoom(None))
        self.actual_button.clicked.connect(lambda: self.canvas.set_zoom(1.0))
        self.open_button.clicked.connect(lambda: self.item and self.openRequested.emit(self.item.hit.path))
        self.canvas.zoomChanged.connect(self._show_zoom)
        loader.imageReady.connect(self.set_image)
        loader.thumbnailReady.connect(self._on_thumbnail)
        model.modelReset.connect(self._on_model_reset)
        for b in (self.prev_button, self.next_button, self.out_button, self.in_button, self.fit_button,
                  self.actual_button, self.open_button, self.back_button):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the arrows stay with the viewer

    def _build_info(self) -> QWidget:
        box = QWidget(self)
        lay = QVBoxLayout(box)
        lay.setContentsMargins(8, 0, 4, 0)
        self.name = ElidedLabel(box)  # a long name is shortened in the middle, whole in its tooltip
        f = self.name.font()
        f.setBold(True)
        f.setPointSizeF(f.pointSizeF() * 1.15)
        self.name.setFont(f)
        lay.addWidget(self.name)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.facts: dict[str, QLabel] = {}
        for key, label in (("folder", "Folder"), ("dimensions", "Dimensions"), ("size", "File size"),
                           ("date", "Date"), ("place", "Place"), ("kind", "Kind"), ("faces", "People")):
            value: QLabel = ElidedLabel(box) if key == "folder" else QLabel(box)
            if key != "folder":
                value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(label, value)
            self.facts[key] = value
        self._form = form
        lay.addLayout(form)
        self.text_title = QLabel("Text read in it", box)
        tf = self.text_title.font()
        tf.setBold(True)
        self.text_title.setFont(tf)
        self.text = QPlainTextEdit(box)
        self.text.setReadOnly(True)
        self.text.setFrameShape(QFrame.Shape.StyledPanel)
        self.text.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        lay.addWidget(self.text_title)
        lay.addWidget(self.text, 1)
        lay.addStretch(0)  # without text read, the facts stay at the top
        scroll = QScrollArea(self)
        scroll.setWidget(box)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(170)
        scroll.setMaximumWidth(420)
        return scroll

    # Showing -----------------------------------------------------------------------------------
    def open(self, row: int) -> bool:
        """Show row `row` of the model; False when there is no such row."""
        item = self.model.item(row)
        if item is None:
            return False
        self.row, self.item, self._has_full = row, item, False
        h = item.hit
        self.canvas.set_zoom(None)
        self.canvas.set_image(self.loader.thumbnail(h.path), h.width, h.height)
        if self.loader.thumbnail(h.path) is None:
            self.loader.request_thumbnail(h.path, item.chash)
        self.canvas.set_boxes(h.matched_words)
        self.canvas.set_faces([])
        self.canvas.set_region(h.region if self.model.show_scores else None)
        self.canvas.placeholder = "Loading…"
        self._show_zoom(self.canvas.scale())
        self.name.setText(os.path.basename(h.path))
        self.facts["folder"].setText(os.path.dirname(h.path))
        self.facts["dimensions"].setText(f"{h.width} × {h.height}" if h.width and h.height else "unknown")
        self.facts["size"].setText(human_size(h.size) if h.size else "unknown")
        self.facts["date"].setText(human_date(h.taken_at or h.mtime)
                                   + (" (taken)" if h.taken_at else " (modified)" if h.mtime else ""))
        self.facts["kind"].setText(h.kind or "unknown")
        self.facts["place"].setText("")
        self.facts["faces"].setText("")
        self._form.setRowVisible(self.facts["place"], False)
        self._form.setRowVisible(self.facts["faces"], False)
        self._set_text(h.ocr_text)
        n = self.model.rowCount()
        self.position.setText(f"{row + 1} of {n}")
        self.prev_button.setEnabled(row > 0)
        self.next_button.setEnabled(row < n - 1)
        self.loader.request_image(h.path, VIEWER_SIDE)
        self.detailsRequested.emit(h.path)
        self.rowChanged.emit(row)
        return True

    def current_path(self) -> str:
        return self.item.hit.path if self.item is not None else ""

    def next(self) -> None:
        self.open(self.row + 1)

    def previous(self) -> None:
        if self.row > 0:
            self.open(self.row - 1)

    def close_viewer(self) -> None:
        self.closed.emit(self.row)

    def set_image(self, path: str, image: QImage) -> None:
        if self.item is None or path != self.item.hit.path:
            return
        self._has_full = True
        self.canvas.set_image(QPixmap.fromImage(image), self.item.hit.width or image.width(),
                              self.item.hit.height or image.height())

    def _on_thumbnail(self, path: str) -> None:
        if self.item is not None and path == self.item.hit.path and not self._has_full:
            self.canvas.set_image(self.loader.thumbnail(path), self.item.hit.width, self.item.hit.height)

    def set_details(self, path: str, row: dict[str, Any]) -> None:
        """The picture's full row: its faces, place, local date and the text read in it."""
        if self.item is None or path != self.item.hit.path:
            return
        faces = row.get("faces") or []
        self.canvas.set_faces(faces)
        names = sorted({str(f.get("name")) for f in faces if isinstance(f, dict) and f.get("name")})
        self.facts["faces"].setText(", ".join(names) or (f"{len(faces)} face{'s' if len(faces) != 1 else ''}" if faces else ""))
        self._form.setRowVisible(self.facts["faces"], bool(faces))
        when, where = local_date_text(row), place_text(row)
        if when:
            self.facts["date"].setText(when)
        self.facts["place"].setText(where)
        self._form.setRowVisible(self.facts["place"], bool(where))
        if row.get("kind"):
            self.facts["kind"].setText(str(row["kind"]))
        self._set_text(row.get("ocr_text") or self.item.hit.ocr_text)

    def _set_text(self, text: str) -> None:
        self.text.setPlainText(text or "")
        self.text_title.setVisible(bool(text))
        self.text.setVisible(bool(text))

    def _show_zoom(self, scale: float) -> None:
        self.zoom_label.setText(f"{round(scale * 100)} %")

    def _on_model_reset(self) -> None:
        """New rows (a live refresh while indexing): stay on the same picture when it is still there."""
        if self.item is None or not self.isVisible():
            return
        n = self.model.rowCount()
        if n == 0:
            self.close_viewer()
            return
        row = self.model.row_of(self.item.hit.path)
        if row >= 0:
            self.row = row
            self.position.setText(f"{row + 1} of {n}")
            self.prev_button.setEnabled(row > 0)
            self.next_button.setEnabled(row < n - 1)
        else:
            self.open(min(self.row, n - 1))

    # Keys ---------------------------------------------------------------------------------------
    def event(self, event: QEvent) -> bool:
        # The window's bare-key shortcuts (Esc clears the search) must not steal the viewer's keys.
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent) \
                and event.key() in _KEYS and not (event.modifiers() & Qt.KeyboardModifier.ControlModifier):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        key = event.key()
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            super().keyPressEvent(event)
            return
        if key == Qt.Key.Key_Escape:
            self.close_viewer()
        elif key == Qt.Key.Key_Right:
            self.next()
        elif key == Qt.Key.Key_Left:
            self.previous()
        elif key == Qt.Key.Key_Home:
            self.open(0)
        elif key == Qt.Key.Key_End:
            self.open(self.model.rowCount() - 1)
        elif key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.canvas.zoom_in()
        elif key == Qt.Key.Key_Minus:
            self.canvas.zoom_out()
        elif key == Qt.Key.Key_0:
            self.canvas.set_zoom(None)
        elif key == Qt.Key.Key_1:
            self.canvas.set_zoom(1.0)
        else:
            super().keyPressEvent(event)
            return
        event.accept()
