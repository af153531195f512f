"""How the query's operators were read, shown in the chips row (query_chips.py).

"beach -people sunset:2" shows "read as: text “beach”, avoid “people”, “sunset” ×2", so a
user sees when a minus, a weight or quotes applied; plain text (a pasted receipt line, a URL,
an error code) shows nothing, since it is searched as typed. It sits in the row of the chips
of the query reading (search/understand.py), so an operator is shown once.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from imgrag_desktop.search.query import read_terms


class QueryReading(QLabel):
    """Hidden while the query has no operator; parsing is a few regular expressions, so it
    runs on the GUI thread as the user types."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("query-reading")
        self.setAccessibleName("How the query was read")
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setWordWrap(True)
        self.setToolTip("Put a phrase in \"quotes\" to search it exactly as written")
        self.setStyleSheet("color: palette(placeholder-text);")
        self.hide()

    def show_query(self, text: str | None) -> str:
        """Show the reading of `text` (hide the line when no operator applied); returns it."""
        reading = read_terms(text).reading()
        self.setText(reading)
        self.setVisible(bool(reading))
        return reading
