"""The thumbnail grid: a QListView in icon mode whose cells stretch to fill the width."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPalette, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from imgrag_desktop.gui.result_model import BrokenRole, GroupRole, MonthRole, ScoreRole, ShowScoreRole

PAD = 5
RADIUS = 6.0


class ThumbDelegate(QStyledItemDelegate):
    """Square, cover-cropped thumbnails with the file name under them and the score on hover."""

    def __init__(self, view: "ResultsView") -> None:
        super().__init__(view)
        self.view = view

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return self.view.gridSize()

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        pal = option.palette
        cell = QRect(option.rect).adjusted(PAD // 2, PAD // 2, -(PAD // 2), -(PAD // 2))
        text_h = self.view.text_height
        state = option.state
        selected = bool(state & QStyle.StateFlag.State_Selected)
        hover = bool(state & QStyle.StateFlag.State_MouseOver)
        if selected or hover:
            bg = QColor(pal.color(QPalette.ColorRole.Highlight))
            bg.setAlpha(90 if selected else 35)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(bg)
            painter.drawRoundedRect(QRectF(cell), RADIUS + 2, RADIUS + 2)
        img = QRect(cell.left() + PAD, cell.top() + PAD, cell.width() - 2 * PAD, cell.height() - 2 * PAD - text_h)
        side = min(img.width(), img.height())
        img = QRect(img.left() + (img.width() - side) // 2, img.top(), side, side)
        clip = QPainterPath()
        clip.addRoundedRect(QRectF(img), RADIUS, RADIUS)
        pix = index.data(Qt.ItemDataRole.DecorationRole)
        if isinstance(pix, QPixmap) and not pix.isNull():
            painter.setClipPath(clip)
            painter.drawPixmap(img, pix, _cover(pix.width(), pix.height(), img.width(), img.height()))
            painter.setClipping(False)
        else:
            placeholder = QColor(pal.color(QPalette.ColorRole.Mid))
            placeholder.setAlpha(60)
            painter.fillPath(clip, placeholder)
            if index.data(BrokenRole):
                painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
                painter.drawText(img, Qt.AlignmentFlag.AlignCenter, "can't show\nthis image")
        if selected:
            pen_color = QColor(pal.color(QPalette.ColorRole.Highlight))
            painter.setPen(pen_color)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(QRectF(img).adjusted(0.5, 0.5, -0.5, -0.5), RADIUS, RADIUS)
        # Folded near-duplicates: a "+N" badge, always shown (the tooltip lists them).
        group = index.data(GroupRole)
        if isinstance(group, int) and group > 1:
            self.paint_group_badge(painter, option, img, group - 1)
        # Listed by date: the first picture of each month says which month begins there.
        month = index.data(MonthRole)
        if month:
            self.paint_month(painter, option, img, str(month))
        # File name.
        font = QFont(option.font)
        painter.setFont(font)
        fm = QFontMetrics(font)
        text_rect = QRect(cell.left() + PAD, img.bottom() + 4, cell.width() - 2 * PAD, text_h - 2)
        name = fm.elidedText(str(index.data(Qt.ItemDataRole.DisplayRole) or ""), Qt.TextElideMode.ElideMiddle,
                             text_rect.width())
        painter.setPen(pal.color(QPalette.ColorRole.Text))
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, name)
        # Score badge on hover.
        if hover and index.data(ShowScoreRole):
            score = index.data(ScoreRole)
            if score is not None:
                small = QFont(option.font)
                small.setPointSizeF(max(7.0, option.font.pointSizeF() * 0.85))
                small.setBold(True)
                painter.setFont(small)
                sfm = QFontMetrics(small)
                label = f"{float(score):.3f}"
                badge = QRect(img.left() + 6, img.top() + 6, sfm.horizontalAdvance(label) + 12, sfm.height() + 4)
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(QColor(0, 0, 0, 165))
                painter.drawRoundedRect(QRectF(badge), 4, 4)
                painter.setPen(QColor("white"))
                painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, label)
        painter.restore()


    @staticmethod
    def paint_month(painter: QPainter, option: QStyleOptionViewItem, img: QRect, label: str) -> None:
        small = QFont(option.font)
        small.setBold(True)
        fm = QFontMetrics(small)
        rect = QRect(img.left() + 6, img.bottom() - 6 - fm.height() - 4, fm.horizontalAdvance(label) + 12, fm.height() + 4)
        painter.setFont(small)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 175))
        painter.drawRoundedRect(QRectF(rect), 4, 4)
        painter.setPen(QColor("white"))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, label)

    @staticmethod
    def group_badge_rect(option: QStyleOptionViewItem, img: QRect, extra: int) -> tuple[QRect, str, QFont]:
        small = QFont(option.font)
        small.setPointSizeF(max(7.0, option.font.pointSizeF() * 0.85))
        small.setBold(True)
        label = f"+{extra}"
        fm = QFontMetrics(small)
        w, h = fm.horizontalAdvance(label) + 12, fm.height() + 4
        return QRect(img.right() - 6 - w, img.top() + 6, w, h), label, small

    def paint_group_badge(self, painter: QPainter, option: QStyleOptionViewItem, img: QRect, extra: int) -> None:
        rect, label, font = self.group_badge_rect(option, img, extra)
        painter.setFont(font)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(GROUP_BADGE)
        painter.drawRoundedRect(QRectF(rect), rect.height() / 2, rect.height() / 2)
        painter.setPen(QColor("white"))
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, label)


GROUP_BADGE = QColor(40, 110, 200, 225)


def _cover(sw: int, sh: int, tw: int, th: int) -> QRect:
    """The part of a sw×sh source that fills a tw×th target without distortion (centre crop)."""
    if sw <= 0 or sh <= 0 or tw <= 0 or th <= 0:
        return QRect(0, 0, max(sw, 1), max(sh, 1))
    if sw * th > sh * tw:  # source wider: crop left and right
        w = max(1, round(sh * tw / th))
        return QRect((sw - w) // 2, 0, w, sh)
    h = max(1, round(sw * th / tw))
    return QRect(0, (sh - h) // 2, sw, h)


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
