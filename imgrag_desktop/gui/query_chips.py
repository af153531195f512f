"""What the search bar understood, shown above the results as removable chips ("📍 Lisbon ✕",
"📅 Jun–Aug 2025 ✕"), and the "sort by" choice. Removing a chip searches again with that
filter gone and its words back in the text (search/reading.Reading.without)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QFont, QFontDatabase, QFontMetrics
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QToolButton, QWidget

from imgrag_desktop.gui.query_reading import QueryReading

SORTS = (("score", "Best match"), ("date", "Newest first"))
WORDS = {"date": "When:", "place": "Where:", "kind": "Kind:", "person": "Who:", "tag": "Tag:", "rating": "Rating:",
         "media": "Files:"}


@lru_cache(maxsize=64)
def drawable(char: str) -> bool:
    """Whether any installed font has this character (Qt falls back across fonts)."""
    code = ord(char)
    if QFontMetrics(QFont()).inFontUcs4(code):
        return True
    return any(QFontMetrics(QFont(family)).inFontUcs4(code) for family in QFontDatabase.families())


def shown_label(chip: Any) -> str:
    """The chip's label, its icon replaced by a word when no font here can draw it (a bare
    X server without an emoji font)."""
    icon, _, rest = str(chip.label).partition(" ")
    if icon and not icon.isalnum() and rest and not all(drawable(c) for c in icon if ord(c) > 0x2000):
        return f"{WORDS.get(chip.kind, chip.kind + ':')} {rest}"
    return str(chip.label)


class QueryChips(QWidget):
    chipRemoved = Signal(object)  # the Chip
    sortChanged = Signal(str)  # "score" | "date"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("queryChips")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)
        self.caption = QLabel("Understood:", self)
        row.addWidget(self.caption)
        self.chip_box = QHBoxLayout()
        self.chip_box.setSpacing(4)
        row.addLayout(self.chip_box)
        self.rest = QLabel("", self)
        self.rest.setObjectName("queryRest")
        row.addWidget(self.rest)
        self.reading = QueryReading(self)  # the operators, as typed and as searched
        row.addWidget(self.reading, 1)
        row.addStretch(0)
        row.addWidget(QLabel("Sort:", self))
        self.sort_combo = QComboBox(self)
        self.sort_combo.setAccessibleName("Sort results")
        for key, text in SORTS:
            self.sort_combo.addItem(text, key)
        self.sort_combo.currentIndexChanged.connect(lambda _: self.sortChanged.emit(self.sort()))
        row.addWidget(self.sort_combo)
        self.buttons: list[QToolButton] = []
        self._rest_text = ""
        self.set_reading(None)

    def sort(self) -> str:
        return str(self.sort_combo.currentData() or "score")

    def set_reading(self, reading: Any) -> None:
        """Show the chips of a Reading (None or no chips: only the sort choice)."""
        for b in self.buttons:
            self.chip_box.removeWidget(b)
            b.deleteLater()
        self.buttons = []
        chips = list(getattr(reading, "chips", []) or [])
        for chip in chips:
            b = QToolButton(self)
            b.setObjectName("queryChip")
            b.setText(f"{shown_label(chip)}  ✕")
            b.setToolTip(f"Read from “{chip.words}”: click to search without this filter" if chip.words
                         else "Click to search without this filter")
            b.setAccessibleName(f"Remove filter {chip.label}")
            b.clicked.connect(lambda _=False, c=chip: self.chipRemoved.emit(c))
            self.chip_box.addWidget(b)
            self.buttons.append(b)
        self.caption.setVisible(bool(chips))
        text = getattr(reading, "text", "") if chips else ""
        operators = [c for c in chips if c.kind == "operator"]  # already said by their chips
        plain = text
        for c in operators:
            plain = plain.replace(c.words, " ")
        plain = " ".join(plain.split())
        self._rest_text = f"+ “{plain}”" if plain else ("listed by date" if chips else "")
        if chips and not operators:
            self.show_typed(text)  # operators the reader left in the text, said beside the chips
        else:
            self.show_typed(None)

    def show_typed(self, text: str | None) -> str:
        """The reading of the operators of `text` (as the user types); returns it. With chips,
        the rest of the text is said once: by the reading when it has operators."""
        said = self.reading.show_query(text)
        self._place_rest()
        return said

    def _place_rest(self) -> None:
        self.rest.setText(self._rest_text)
        self.rest.setVisible(bool(self.buttons) and not (self.reading.isVisibleTo(self) and self._rest_text.startswith("+")))
