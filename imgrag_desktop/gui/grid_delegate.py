"""How one cell of the results grid is drawn: the whole picture fitted into the cell, its name,
and its badges (folded copies, month, score)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from imgrag_desktop.gui.result_model import BrokenRole, GroupRole, MonthRole, ScoreRole, ShowScoreRole

PAD = 5
RADIUS = 6.0


class ThumbDelegate(QStyledItemDelegate):
    """Each picture fitted whole into its cell (letterboxed, never cropped), its file name under
    it elided in the middle, the whole name over the picture on hover or selection, the score on
    hover."""

    def __init__(self, view: Any) -> None:  # the ResultsView (its gridSize and text_height)
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
        img = self.image_box(option.rect)
        pix = index.data(Qt.ItemDataRole.DecorationRole)
        if isinstance(pix, QPixmap) and not pix.isNull():
            shown = fit_inside(pix.width(), pix.height(), img)
            clip = QPainterPath()
            clip.addRoundedRect(QRectF(shown), min(RADIUS, shown.height() / 3), min(RADIUS, shown.height() / 3))
            painter.setClipPath(clip)
            painter.drawPixmap(shown, pix, pix.rect())
            painter.setClipping(False)
        else:
            shown = img
            clip = QPainterPath()
            clip.addRoundedRect(QRectF(img), RADIUS, RADIUS)
            placeholder = QColor(pal.color(QPalette.ColorRole.Mid))
            placeholder.setAlpha(60)
            painter.fillPath(clip, placeholder)
            if index.data(BrokenRole):
                painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
                painter.drawText(img, Qt.AlignmentFlag.AlignCenter, "can't show\nthis image")
        if selected:
            pen_color = QColor(pal.color(QPalette.ColorRole.Highlight))
            painter.setPen(QPen(pen_color, 2))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(QRectF(shown).adjusted(1, 1, -1, -1), RADIUS, RADIUS)
        # Folded near-duplicates: a "+N" badge, always shown (the tooltip lists them).
        group = index.data(GroupRole)
        if isinstance(group, int) and group > 1:
            self.paint_group_badge(painter, option, img, group - 1)
        # Listed by date: the first picture of each month says which month begins there.
        month = index.data(MonthRole)
        if month and not getattr(option.widget, "sections", False):  # a view with month headers says it there
            self.paint_month(painter, option, img, str(month))
        # File name.
        font = QFont(option.font)
        painter.setFont(font)
        fm = QFontMetrics(font)
        text_rect = QRect(cell.left() + PAD, img.bottom() + 4, cell.width() - 2 * PAD, text_h - 2)
        full = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        name = fm.elidedText(full, Qt.TextElideMode.ElideMiddle, text_rect.width())
        painter.setPen(pal.color(QPalette.ColorRole.Text))
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, name)
        if name != full and (selected or hover):
            self.paint_full_name(painter, font, img, full)
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


    def image_box(self, cell_rect: QRect) -> QRect:
        """The part of a cell a picture is fitted into (above its name)."""
        cell = QRect(cell_rect).adjusted(PAD // 2, PAD // 2, -(PAD // 2), -(PAD // 2))
        return QRect(cell.left() + PAD, cell.top() + PAD, cell.width() - 2 * PAD,
                     cell.height() - 2 * PAD - self.view.text_height)

    @staticmethod
    def paint_full_name(painter: QPainter, font: QFont, img: QRect, full: str) -> None:
        """The whole name, wrapped, in a dark band at the bottom of the picture's box."""
        fm = QFontMetrics(font)
        area = img.adjusted(4, 0, -4, 0)
        flags = int(Qt.AlignmentFlag.AlignHCenter | Qt.TextFlag.TextWrapAnywhere)
        bound = fm.boundingRect(QRect(0, 0, area.width() - 8, 10_000), flags, full)
        h = min(bound.height(), fm.height() * 3) + 6
        band = QRect(area.left(), img.bottom() - h - 2, area.width(), h)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 190))
        painter.drawRoundedRect(QRectF(band), 4, 4)
        painter.setPen(QColor("white"))
        painter.drawText(band.adjusted(4, 3, -4, -3), flags, full)

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


def fit_inside(sw: int, sh: int, box: QRect) -> QRect:
    """Where a sw×sh picture is drawn whole in `box`: scaled to fit, centred, never cropped."""
    if sw <= 0 or sh <= 0 or box.width() <= 0 or box.height() <= 0:
        return QRect(box)
    scale = min(box.width() / sw, box.height() / sh)
    w, h = max(1, round(sw * scale)), max(1, round(sh * scale))
    return QRect(box.left() + (box.width() - w) // 2, box.top() + (box.height() - h) // 2, w, h)
