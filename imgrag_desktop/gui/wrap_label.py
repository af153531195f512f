"""A word-wrapped label that always gets the height its lines need.

Qt's form and box layouts ask a top-level dialog's size before they know a wrapped label's
width, so a label of two lines can be given the height of one and be cut off (the Settings
hints were). On every resize this label asks for the height its text needs at its real width
(heightForWidth), so the layout makes room, at any dialog size.
"""

from __future__ import annotations

from PySide6.QtGui import QPalette, QResizeEvent
from PySide6.QtWidgets import QLabel, QWidget


class WrapLabel(QLabel):
    def __init__(self, text: str, parent: QWidget | None = None, hint: bool = False) -> None:
        super().__init__(text, parent)
        self.setWordWrap(True)
        if hint:  # a grey hint under the fields it is about
            self.setForegroundRole(QPalette.ColorRole.PlaceholderText)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.fit_height()

    def setText(self, text: str) -> None:
        super().setText(text)
        self.fit_height()

    def fit_height(self) -> None:
        need = self.heightForWidth(self.width()) if self.width() > 0 else -1
        if need > 0 and need != self.minimumHeight():
            self.setMinimumHeight(need)
