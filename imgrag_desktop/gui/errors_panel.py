"""The errors panel: files the indexer skipped (with the reason) and this session's errors."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from imgrag_desktop.gui.messages import Message


class ErrorsPanel(QDialog):
    refreshRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Problems")
        self.resize(820, 420)
        lay = QVBoxLayout(self)
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        lay.addWidget(self.summary)
        self.table = QTableWidget(0, 3, self)
        self.table.setHorizontalHeaderLabels(["File", "Reason", "Stage"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(True)  # a reason is read whole, not cut
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setColumnWidth(0, 360)
        lay.addWidget(self.table, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        copy = QPushButton("Copy all", self)
        refresh = QPushButton("Refresh", self)
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(refresh, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.close)
        copy.clicked.connect(self.copy_all)
        refresh.clicked.connect(self.refreshRequested)
        lay.addWidget(buttons)
        self._failures: list[dict[str, Any]] = []
        self._session: list[Message] = []
        self._render()

    def set_failures(self, rows: list[dict[str, Any]]) -> None:
        self._failures = list(rows)
        self._render()

    def set_session_errors(self, messages: list[Message]) -> None:
        self._session = list(messages)
        self._render()

    def rows(self) -> list[tuple[str, str, str]]:
        # A session error names no file: its time goes with the stage, the File column stays files.
        out = [("", m.text, "this session, " + m.at.strftime("%H:%M:%S")) for m in reversed(self._session)]
        out += [(str(r.get("path", "")), str(r.get("reason", "")), str(r.get("stage", ""))) for r in self._failures]
        return out

    def _render(self) -> None:
        rows = self.rows()
        self.table.setRowCount(len(rows))
        for i, (a, b, c) in enumerate(rows):
            for j, text in enumerate((a, b, c)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(i, j, item)
        self.table.resizeRowsToContents()
        n = len(self._failures)
        if not rows:
            self.summary.setText("No problems: every file found so far was indexed.")
        else:
            parts = []
            if n:
                parts.append(f"{n} file{'s' if n != 1 else ''} could not be indexed and {'are' if n != 1 else 'is'} "
                             "skipped until {} change{} on disk.".format("they" if n != 1 else "it", "" if n != 1 else "s"))
            if self._session:
                parts.append(f"{len(self._session)} error{'s' if len(self._session) != 1 else ''} in this session.")
            self.summary.setText(" ".join(parts))

    def copy_all(self) -> None:
        text = "\n".join("\t".join(r) for r in self.rows())
        QGuiApplication.clipboard().setText(text)
