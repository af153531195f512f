"""The row above the results: the search field, the "Looks like" chip, the search mode, the
Filters toggle and the thumbnail size."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QFontMetrics, QGuiApplication, QKeyEvent, QKeySequence, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QSlider,
    QToolButton,
    QWidget,
)

from imgrag_desktop.search.modes import mode_named

SEARCH_PLACEHOLDER = "Search your images: describe what you see, or drop / paste an image"
REFINE_PLACEHOLDER = "Refine with words: “at night”, “-people”"
REFINE_SHORT = "Refine with words…"  # the same, in a narrow window (the examples are in the wide one)
NARROW_BAR = 1000  # below this width the chip's name, the slider and the hint take less room
SLIDER_WIDTH, SLIDER_NARROW = 110, 72
CHIP_NAME_WIDTH, CHIP_NAME_NARROW = 260, 90  # px of the "Looks like" picture's name (elided in the middle)
SEARCH_MIN_WIDTH = 200  # the search field keeps room to type, whatever else the row holds


def _clipboard_has_image(mime: QMimeData | None) -> bool:
    if mime is None:
        return False
    return mime.hasImage() or any(u.isLocalFile() for u in mime.urls())


class SearchEdit(QLineEdit):
    """The search field; Ctrl+V with an image (or image file) on the clipboard searches by it."""

    pasteImage = Signal()
    downPressed = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.matches(QKeySequence.StandardKey.Paste) and _clipboard_has_image(QGuiApplication.clipboard().mimeData()):
            self.pasteImage.emit()
            event.accept()
            return
        if event.key() == Qt.Key.Key_Down:
            self.downPressed.emit()
            event.accept()
            return
        super().keyPressEvent(event)


class SearchBar(QWidget):
    """The widgets of the search row; the page decides what they do."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(8)
        self.search_edit = SearchEdit(self)
        self.search_edit.setObjectName("search")
        self.search_edit.setAccessibleName("Search")
        self.search_edit.setPlaceholderText(SEARCH_PLACEHOLDER)
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.setAcceptDrops(False)  # a dropped file means "find look-alikes", handled by the window
        self.search_edit.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.search_edit.setMinimumWidth(SEARCH_MIN_WIDTH)
        self._chip_name = ""
        self._narrow = False
        row.addWidget(self.search_edit, 1)
        self.similar_chip = QFrame(self)
        self.similar_chip.setObjectName("similar-chip")
        self.similar_chip.setFrameShape(QFrame.Shape.StyledPanel)
        chip = QHBoxLayout(self.similar_chip)
        chip.setContentsMargins(6, 2, 2, 2)
        chip.setSpacing(4)
        self.similar_icon = QLabel(self.similar_chip)
        self.similar_label = QLabel(self.similar_chip)
        self.similar_close = QToolButton(self.similar_chip)
        self.similar_close.setText("✕")
        self.similar_close.setAutoRaise(True)
        self.similar_close.setToolTip("Back to browsing (Esc)")
        chip.addWidget(self.similar_icon)
        chip.addWidget(self.similar_label)
        chip.addWidget(self.similar_close)
        self.similar_chip.hide()
        row.addWidget(self.similar_chip)
        self.mode_combo = QComboBox(self)
        self.mode_combo.setToolTip("Search mode")
        self.mode_combo.setAccessibleName("Search mode")
        self.mode_combo.setEnabled(False)
        self.mode_combo.setMinimumContentsLength(12)
        self.mode_combo.setPlaceholderText("Starting…")  # never blank: until the engine says its modes
        row.addWidget(self.mode_combo)
        self.filters_button = QToolButton(self)
        self.filters_button.setObjectName("filters-toggle")
        self.filters_button.setText("Filters")
        self.filters_button.setCheckable(True)
        self.filters_button.setToolTip("Show the filters: kind, shape, date, size, camera, relevance (Ctrl+Shift+F)")
        row.addWidget(self.filters_button)
        self.size_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.size_slider.setRange(100, 360)
        self.size_slider.setSingleStep(20)
        self.size_slider.setPageStep(40)
        self.size_slider.setFixedWidth(SLIDER_WIDTH)
        self.size_slider.setToolTip("Thumbnail size (Ctrl++ / Ctrl+-)")
        self.size_slider.setAccessibleName("Thumbnail size")
        self.size_label = QLabel("Size", self)  # the slider says what it sizes
        self.size_label.setBuddy(self.size_slider)
        row.addWidget(self.size_label)
        row.addWidget(self.size_slider)

    def show_chip(self, label: str, pix: QPixmap | None) -> None:
        self._chip_name = label
        self.similar_chip.setToolTip(f"Looks like: {label}")
        if pix is not None and not pix.isNull():
            self.similar_icon.setPixmap(pix.scaled(24, 24, Qt.AspectRatioMode.KeepAspectRatioByExpanding,
                                                   Qt.TransformationMode.SmoothTransformation))
            self.similar_icon.show()
        else:
            self.similar_icon.hide()
        self.similar_chip.show()
        self._fit()

    def hide_chip(self) -> None:
        self.similar_chip.hide()
        self._chip_name = ""
        self.search_edit.setPlaceholderText(SEARCH_PLACEHOLDER)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        narrow = event.size().width() < NARROW_BAR
        if narrow != self._narrow:
            self._narrow = narrow
            self._fit()

    def _fit(self) -> None:
        """The slider, the chip's name and the hint as wide as the row allows: in a narrow window
        (800 px) the search field keeps room for its hint ("Refine with…" was cut to 140 px)."""
        self.size_slider.setFixedWidth(SLIDER_NARROW if self._narrow else SLIDER_WIDTH)
        if self.similar_chip.isHidden():
            return
        width = CHIP_NAME_NARROW if self._narrow else CHIP_NAME_WIDTH
        name = QFontMetrics(self.similar_label.font()).elidedText(self._chip_name, Qt.TextElideMode.ElideMiddle, width)
        self.similar_label.setText(f"Looks like: {name}")
        self.search_edit.setPlaceholderText(REFINE_SHORT if self._narrow else REFINE_PLACEHOLDER)

    def model_failed(self) -> None:
        """The engine could not start a model: the mode box says so."""
        self.set_modes([], "")

    def set_modes(self, modes: list[str], want: str) -> None:
        """The modes the engine offers; `want` selected (the first one when not offered)."""
        self.mode_combo.blockSignals(True)
        self.mode_combo.clear()
        if not modes:  # no model could start: say so instead of an empty box
            self.mode_combo.setPlaceholderText("No search model")
            self.mode_combo.setEnabled(False)
            self.mode_combo.setToolTip("No model could be started: see File → Models…")
            self.mode_combo.blockSignals(False)
            return
        for m in map(mode_named, modes):
            self.mode_combo.addItem(m.label, m.name)
            self.mode_combo.setItemData(self.mode_combo.count() - 1, m.description, Qt.ItemDataRole.ToolTipRole)
        want = want if want in modes else modes[0]
        self.mode_combo.setCurrentIndex(max(0, modes.index(want)))
        self.mode_combo.setEnabled(len(modes) > 1)
        self.mode_combo.setToolTip("Search mode" if len(modes) > 1 else
                                   "Visual search (text and keyword search are not installed)")
        self.mode_combo.blockSignals(False)
