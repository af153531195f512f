"""What the results area shows when there are no results to show: the first-start welcome,
the friendly "nothing matched" page when the cut-off or the filters hid everything, and the
empty grid's line after a search, true to whether the image model was there to search with."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget


def _centred(outer: QVBoxLayout, *buttons: QWidget) -> None:
    row = QHBoxLayout()
    row.addStretch(1)
    for b in buttons:
        row.addWidget(b)
    row.addStretch(1)
    outer.addLayout(row)
    outer.addStretch(3)


class WelcomePage(QWidget):
    """The first start: what the app does, and the one button that gets it going."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.addStretch(2)
        title = QLabel("Find any photo or screenshot by describing it", self)
        title.setObjectName("welcome-title")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title.setWordWrap(True)  # never forces a minimum window width
        text = QLabel(
            "imgrag-desktop indexes folders on this computer and searches them offline: nothing leaves your machine.\n"
            "Add a folder of photos or screenshots to begin. Later, drop or paste an image here to find look-alikes.",
            self)
        text.setObjectName("welcome-text")
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text.setWordWrap(True)
        self.button = QPushButton("Add a folder…", self)
        self.button.setObjectName("welcome-add")
        outer.addWidget(title)
        outer.addSpacing(10)
        outer.addWidget(text)
        outer.addSpacing(18)
        _centred(outer, self.button)


class NoMatchPage(QWidget):
    """The cut-off or the filters hid every result: say which, and offer the way back."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("no-match")
        self.setMinimumWidth(110)  # never widens the window (the stack takes its pages' largest minimum)
        outer = QVBoxLayout(self)
        outer.addStretch(2)
        self.title = QLabel(self)
        self.title.setObjectName("welcome-title")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setWordWrap(True)
        self.text = QLabel(self)
        self.text.setObjectName("welcome-text")
        self.text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text.setWordWrap(True)
        self.show_weaker_button = QPushButton("Show weaker matches", self)
        self.show_weaker_button.setToolTip("Run this search once more without the relevance cut-off")
        self.clear_filters_button = QPushButton("Clear filters", self)
        outer.addWidget(self.title)
        outer.addSpacing(8)
        outer.addWidget(self.text)
        outer.addSpacing(14)
        _centred(outer, self.show_weaker_button, self.clear_filters_button)

    def show_texts(self, title: str, text: str, weaker: bool, clear: bool) -> None:
        self.title.setText(title)
        self.text.setText(text)
        self.show_weaker_button.setVisible(weaker)
        self.clear_filters_button.setVisible(clear)


def no_results_text(label: str, clip_waiting: str = "") -> str:
    """What an empty grid says after a search found nothing. Without the image model only the
    text in pictures (and their names, tags, places) was searched: say so, and where to get it,
    rather than claiming no image matches."""
    if clip_waiting:
        return (f"No text in the indexed pictures matches {label}. Searching by what pictures show "
                "needs the image model (File → Models…).")
    return f"No images match {label}."
