"""The preview panel: a larger image, the facts about it, and the text found in it.

Words that matched a query (Hit.matched_words: boxes in original-image pixels) are drawn over
the image, scaled to the displayed size; so is the part of a large image that matched best
(Hit.region, a tile match), framed with the rest dimmed. The full image is decoded by the ImageLoader's pool;
until it arrives the thumbnail stands in.
"""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPainterPath, QPalette, QPen, QPixmap
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from imgrag_desktop.gui import media_facts
from imgrag_desktop.gui.result_model import human_date, human_size
from imgrag_desktop.gui.workers import ResultItem

BOX_FILL = QColor(255, 200, 0, 70)
BOX_EDGE = QColor(255, 140, 0)
REGION_EDGE = QColor(40, 110, 200)
REGION_SHADE = QColor(0, 0, 0, 95)
FACE_EDGE = QColor(60, 200, 120)


def map_box(box: dict[str, Any], orig_w: int, orig_h: int, target: QRectF) -> QRectF:
    """A word box in original-image pixels → widget coordinates of the displayed image."""
    sx = target.width() / max(1, orig_w)
    sy = target.height() / max(1, orig_h)
    return QRectF(target.left() + float(box.get("x", 0)) * sx, target.top() + float(box.get("y", 0)) * sy,
                  float(box.get("w", 0)) * sx, float(box.get("h", 0)) * sy)


class ImageCanvas(QWidget):
    faceClicked = Signal(object)  # the face dict (its "person" id) under a click

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._faces: list[dict[str, Any]] = []
        self._pix: QPixmap | None = None
        self._orig = (0, 0)
        self._boxes: list[dict[str, Any]] = []
        self._region: list[float] | None = None
        self.placeholder = "Select an image to see it here"
        self.setMinimumSize(QSize(160, 120))
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        ow, oh = self._orig if self._pix is not None else (4, 3)
        return int(min(max(140, width * oh / max(1, ow)), 560))

    def sizeHint(self) -> QSize:
        return QSize(320, self.heightForWidth(320))

    def set_image(self, pix: QPixmap | None, orig_w: int = 0, orig_h: int = 0) -> None:
        self._pix = pix
        if pix is not None:
            self._orig = (orig_w or pix.width(), orig_h or pix.height())
        self.updateGeometry()
        self.update()

    def set_boxes(self, boxes: list[dict[str, Any]]) -> None:
        self._boxes = [b for b in boxes or [] if isinstance(b, dict)]
        self.update()

    @property
    def boxes(self) -> list[dict[str, Any]]:
        return list(self._boxes)

    def set_faces(self, faces: list[dict[str, Any]] | None) -> None:
        """Face boxes ([left, top, right, bottom] in original pixels) with their person and name."""
        self._faces = [f for f in faces or [] if isinstance(f, dict) and len(f.get("box") or []) == 4]
        self.setCursor(Qt.CursorShape.PointingHandCursor if self._faces else Qt.CursorShape.ArrowCursor)
        self.update()

    @property
    def faces(self) -> list[dict[str, Any]]:
        return list(self._faces)

    def face_rects(self) -> list[QRectF]:
        target = self.image_rect()
        if target.isEmpty():
            return []
        return [map_box({"x": f["box"][0], "y": f["box"][1], "w": f["box"][2] - f["box"][0], "h": f["box"][3] - f["box"][1]},
                        self._orig[0], self._orig[1], target) for f in self._faces]

    def mousePressEvent(self, event: Any) -> None:  # noqa: N802 (Qt naming)
        pos = event.position()
        for face, rect in zip(self._faces, self.face_rects()):
            if rect.contains(pos) and face.get("person") is not None:
                self.faceClicked.emit(face)
                return
        super().mousePressEvent(event)

    def set_region(self, region: list[float] | None) -> None:
        """[x0, y0, x1, y1] in original pixels (None: no frame)."""
        ok = isinstance(region, (list, tuple)) and len(region) == 4 and region[2] > region[0] and region[3] > region[1]
        self._region = [float(v) for v in region] if ok else None  # type: ignore[union-attr]
        self.update()

    @property
    def region(self) -> list[float] | None:
        return list(self._region) if self._region else None

    def region_rect(self) -> QRectF:
        """Where the matched region is framed, in widget coordinates (empty when none)."""
        target = self.image_rect()
        if self._region is None or target.isEmpty():
            return QRectF()
        x0, y0, x1, y1 = self._region
        return map_box({"x": x0, "y": y0, "w": x1 - x0, "h": y1 - y0}, self._orig[0], self._orig[1],
                       target).intersected(target)

    def image_rect(self) -> QRectF:
        """Where the image is drawn: fitted into the widget and centred (tiny images grow at most 2×)."""
        if self._pix is None or self._pix.isNull():
            return QRectF()
        ow, oh = self._orig
        area = QRectF(self.rect()).adjusted(4, 4, -4, -4)
        scale = min(area.width() / max(1, ow), area.height() / max(1, oh), 2.0)
        w, h = ow * scale, oh * scale
        return QRectF(area.center() - QPointF(w / 2, h / 2), QSize(round(w), round(h)).toSizeF())

    def box_rects(self) -> list[QRectF]:
        target = self.image_rect()
        if target.isEmpty():
            return []
        return [map_box(b, self._orig[0], self._orig[1], target) for b in self._boxes]

    def paintEvent(self, event: Any) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        if self._pix is None or self._pix.isNull():
            p.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
            p.end()
            return
        target = self.image_rect()
        p.drawPixmap(target, self._pix, QRectF(self._pix.rect()))
        frame = QColor(self.palette().color(QPalette.ColorRole.Mid))
        frame.setAlpha(120)
        p.setPen(QPen(frame, 1))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(target.adjusted(-0.5, -0.5, 0.5, 0.5))
        region = self.region_rect()
        if not region.isEmpty():
            shade = QPainterPath()
            shade.addRect(target)
            inner = QPainterPath()
            inner.addRect(region)
            p.fillPath(shade.subtracted(inner), REGION_SHADE)
            p.setPen(QPen(REGION_EDGE, 3))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(region.adjusted(1.5, 1.5, -1.5, -1.5))
        if self._boxes:
            p.setPen(QPen(BOX_EDGE, 2))
            p.setBrush(BOX_FILL)
            for r in self.box_rects():
                p.drawRoundedRect(r.adjusted(-1, -1, 1, 1), 2, 2)
        if self._faces:
            p.setBrush(Qt.BrushStyle.NoBrush)
            for face, r in zip(self._faces, self.face_rects()):
                p.setPen(QPen(FACE_EDGE, 2))
                p.drawRect(r)
                label = face.get("name") or ""
                if label:
                    p.drawText(QRectF(r.left(), r.bottom() + 2, max(r.width(), 120.0), 18),
                               int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop), label)
        p.end()


class ElidedLabel(QLabel):
    """One line that elides in the middle (a long path keeps its start and its file name);
    the full text is in the tooltip."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt naming)
        self._full = text
        self.setToolTip(text)
        self._elide()

    def full_text(self) -> str:
        return self._full

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        super().setText(self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideMiddle, max(20, self.width())))


class PreviewPanel(QWidget):
    openRequested = Signal(str)
    revealRequested = Signal(str)
    similarRequested = Signal(str)
    personRequested = Signal(object)  # a person id: a face box in the preview was clicked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.item: ResultItem | None = None
        self._has_full = False
        self.setMinimumWidth(300)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        info = QWidget(self)
        lay = QVBoxLayout(info)
        lay.setContentsMargins(8, 0, 8, 8)
        lay.setSpacing(6)
        self.canvas = ImageCanvas(info)
        self.canvas.setAccessibleName("Preview image")
        self.canvas.faceClicked.connect(lambda face: self.personRequested.emit(face.get("person")))
        lay.addWidget(self.canvas)
        lay.addSpacing(4)
        self.name = QLabel(self)
        f = QFont(self.font())
        f.setPointSizeF(f.pointSizeF() * 1.2)
        f.setBold(True)
        self.name.setFont(f)
        self.name.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.name.setWordWrap(True)
        self.path = ElidedLabel(self)
        self.path.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        lay.addWidget(self.name)
        lay.addWidget(self.path)

        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setHorizontalSpacing(10)
        form.setVerticalSpacing(3)
        self.facts: dict[str, QLabel] = {}
        for key, label in (("score", "Score"), ("why", "Matched by"), ("copies", "Copies"), ("dimensions", "Dimensions"),
                           ("size", "File size"), ("date", "Date"), ("place", "Place"), ("kind", "Kind"),
                           ("camera", "Camera"), *media_facts.ROWS):
            value = QLabel(self)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setWordWrap(True)
            form.addRow(label, value)
            self.facts[key] = value
        self._form = form
        lay.addLayout(form)

        self.caption_title = QLabel("Caption", self)
        self.caption_title.setFont(_bold(self.font()))
        self.caption = QLabel(self)
        self.caption.setWordWrap(True)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.caption_title)
        lay.addWidget(self.caption)
        self.ocr_title = QLabel("Text in the image", self)
        self.ocr_title.setFont(_bold(self.font()))
        self.ocr = QPlainTextEdit(self)
        self.ocr.setReadOnly(True)
        self.ocr.setMaximumHeight(140)
        self.ocr.setFrameShape(QFrame.Shape.StyledPanel)
        lay.addWidget(self.ocr_title)
        lay.addWidget(self.ocr)

        buttons = QHBoxLayout()
        self.open_button = QPushButton("Open", self)
        self.reveal_button = QPushButton("Show in folder", self)
        self.similar_button = QPushButton("Find similar", self)
        for b in (self.open_button, self.reveal_button, self.similar_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        lay.addLayout(buttons)
        lay.addStretch(1)
        self.open_button.clicked.connect(lambda: self.item and self.openRequested.emit(self.item.hit.path))
        self.reveal_button.clicked.connect(lambda: self.item and self.revealRequested.emit(self.item.hit.path))
        self.similar_button.clicked.connect(lambda: self.item and self.similarRequested.emit(self.item.hit.path))

        self._details = [self.name, self.path, self.open_button, self.reveal_button, self.similar_button]
        self._form_widgets = [form.itemAt(i).widget() for i in range(form.count()) if form.itemAt(i).widget()]  # type: ignore[union-attr]
        scroll = QScrollArea(self)
        scroll.setWidget(info)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer.addWidget(scroll)
        self.show_item(None)

    # Content --------------------------------------------------------------------------------
    def current_path(self) -> str:
        return self.item.hit.path if self.item is not None else ""

    def show_item(self, item: ResultItem | None, thumb: QPixmap | None = None, show_score: bool = True) -> None:
        self.item = item
        self._has_full = False
        enabled = item is not None
        for b in (self.open_button, self.reveal_button, self.similar_button):
            b.setEnabled(enabled)
        for w in self._details + self._form_widgets:
            w.setVisible(enabled)  # type: ignore[union-attr]  # an empty panel shows only its placeholder, not empty fields
        if item is None:
            self.canvas.set_image(None)
            self.canvas.set_boxes([])
            self.canvas.set_faces([])
            self.canvas.set_region(None)
            self.name.setText("")
            self.path.setText("")
            for v in self.facts.values():
                v.setText("")
            self._set_text("", "")
            return
        h = item.hit
        self.canvas.set_image(thumb, h.width, h.height)
        self.canvas.set_boxes(h.matched_words if h.media != "video" else [])  # a video's boxes are on its contact sheet
        self.canvas.set_region(h.region if show_score else None)
        self.name.setText(os.path.basename(h.path))
        self.path.setText(h.path)
        self.facts["score"].setText(f"{h.score:.4f}")
        self._set_row_visible("score", show_score)
        why = ", ".join(h.reasons)
        if self.canvas.region:
            why += " (the framed part matched best)"
        self.facts["why"].setText(why)
        self._set_row_visible("why", show_score and bool(h.reasons))
        extra = max(0, int(h.group_size or 1) - 1)
        if extra:
            names = [os.path.basename(p) for p in h.group]
            self.facts["copies"].setText(f"+{extra} near-identical: " + ", ".join(names[:4]) + (", …" if len(names) > 4 else ""))
            self.facts["copies"].setToolTip("\n".join(h.group))
        else:
            self.facts["copies"].setText("")
            self.facts["copies"].setToolTip("")
        self._set_row_visible("copies", bool(extra))
        self.facts["dimensions"].setText(f"{h.width} × {h.height}" if h.width and h.height else "unknown")
        self.facts["size"].setText(human_size(h.size) if h.size else "unknown")
        date = human_date(h.taken_at or h.mtime)
        self.facts["date"].setText(date + (" (taken)" if h.taken_at else " (modified)" if h.mtime else ""))
        self.facts["kind"].setText(h.kind or "unknown")
        self.facts["camera"].setText("")
        self._set_row_visible("camera", False)
        self.facts["place"].setText("")
        self._set_row_visible("place", False)
        media_facts.show(self.facts, self._set_row_visible, h)  # both files of a pair, a video's moment, tags
        self._set_text(h.ocr_text, h.caption)

    def set_image(self, path: str, image: QImage) -> None:
        if self.item is None or path != self.item.hit.path:
            return
        self._has_full = True
        self.canvas.set_image(QPixmap.fromImage(image), self.item.hit.width, self.item.hit.height)

    def set_thumbnail(self, path: str, pix: QPixmap) -> None:
        if self.item is not None and path == self.item.hit.path and not self._has_full:
            self.canvas.set_image(pix, self.item.hit.width, self.item.hit.height)

    def set_details(self, path: str, row: dict[str, Any]) -> None:
        """The full row arrived (camera, OCR text, caption: hits from browsing lack them)."""
        if self.item is None or path != self.item.hit.path:
            return
        self.canvas.set_faces(row.get("faces"))
        camera = row.get("camera") or ""
        self.facts["camera"].setText(camera)
        self._set_row_visible("camera", bool(camera))
        if row.get("kind"):
            self.facts["kind"].setText(row["kind"])
        when, where = local_date_text(row), place_text(row)
        if when:
            self.facts["date"].setText(when)
        self.facts["place"].setText(where)
        self._set_row_visible("place", bool(where))
        self._set_text(row.get("ocr_text") or self.item.hit.ocr_text, row.get("caption") or self.item.hit.caption)

    def _set_text(self, ocr: str, caption: str) -> None:
        self.ocr.setPlainText(ocr or "")
        self.ocr_title.setVisible(bool(ocr))
        self.ocr.setVisible(bool(ocr))
        self.caption.setText(caption or "")
        self.caption_title.setVisible(bool(caption))
        self.caption.setVisible(bool(caption))

    def _set_row_visible(self, key: str, visible: bool) -> None:
        self._form.setRowVisible(self.facts[key], visible)


def _bold(font: QFont) -> QFont:
    f = QFont(font)
    f.setBold(True)
    return f


def local_date_text(row: dict[str, Any]) -> str:
    """The photo's own local time, its UTC offset when known, and where the date came from:
    "2024-08-20 12:00 (UTC+01:00, GPS time zone)"."""
    import datetime as dt

    local = row.get("local_time")
    if local is None:
        return ""
    text = dt.datetime.fromtimestamp(float(local), dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    notes = []
    off = row.get("utc_offset")
    if off is not None:
        sign = "+" if off >= 0 else "-"
        notes.append(f"UTC{sign}{abs(off) // 60:02d}:{abs(off) % 60:02d}")
    source = {"exif offset": "camera, with its offset", "gps time zone": "camera, zone from GPS",
              "camera clock": "camera clock, zone unknown", "file time": "file time"}.get(row.get("date_source") or "")
    if source or row.get("date_source"):
        notes.append(source or str(row.get("date_source")))
    return text + (f" ({', '.join(notes)})" if notes else "")


def place_text(row: dict[str, Any]) -> str:
    """"Lisbon, Portugal", or the coordinates where no town is within 25 km."""
    named = ", ".join(x for x in (row.get("city"), row.get("country")) if x)
    if named:
        return named
    lat, lon = row.get("lat"), row.get("lon")
    if lat is not None and lon is not None:
        return f"{lat:.4f}, {lon:.4f} (no town within 25 km)"
    return ""
