"""The Folders panel: which folders are indexed, and a filter to one of them."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout, QListWidget, QListWidgetItem, QStyle, QToolButton, QVBoxLayout, QWidget,
)

ALL = ""


class FoldersPanel(QWidget):
    addRequested = Signal()
    removeRequested = Signal(str)
    rescanRequested = Signal()
    folderSelected = Signal(str)  # "" for all folders

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.setSpacing(6)
        self.list = QListWidget(self)
        self.list.setUniformItemSizes(True)
        self.list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.list.setFrameShape(QListWidget.Shape.NoFrame)
        self._folder_icon = self.style().standardIcon(QStyle.StandardPixmap.SP_DirIcon)
        lay.addWidget(self.list, 1)
        row = QHBoxLayout()
        row.setSpacing(2)
        style = self.style()
        self.add_button = QToolButton(self)
        self.add_button.setText("Add folder…")
        self.add_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_FileDialogNewFolder))
        self.add_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.add_button.setToolTip("Add a folder to the index (Ctrl+O)")
        self.remove_button = QToolButton(self)
        self.remove_button.setText("Remove")
        self.remove_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_DialogDiscardButton))
        self.remove_button.setToolTip("Remove the selected folder from the index (its files stay on disk)")
        self.rescan_button = QToolButton(self)
        self.rescan_button.setText("Rescan")
        self.rescan_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_BrowserReload))
        self.rescan_button.setToolTip("Look for new, changed and deleted images in every folder (F5)")
        for b in (self.add_button, self.remove_button, self.rescan_button):
            b.setAutoRaise(True)
        row.addWidget(self.add_button)
        row.addStretch(1)
        row.addWidget(self.rescan_button)
        row.addWidget(self.remove_button)
        lay.addLayout(row)
        self.add_button.clicked.connect(self.addRequested)
        self.remove_button.clicked.connect(self._remove_clicked)
        self.rescan_button.clicked.connect(self.rescanRequested)
        self.list.currentItemChanged.connect(self._current_changed)
        self.set_folders([])

    def set_folders(self, folders: list[str]) -> None:
        current = self.selected()
        self.list.blockSignals(True)
        self.list.clear()
        all_item = QListWidgetItem("All folders")
        all_item.setData(Qt.ItemDataRole.UserRole, ALL)
        self.list.addItem(all_item)
        select = all_item
        for f in folders:
            item = QListWidgetItem(self._folder_icon, os.path.basename(f.rstrip(os.sep)) or f)
            item.setData(Qt.ItemDataRole.UserRole, f)
            item.setToolTip(f)
            self.list.addItem(item)
            if f == current:
                select = item
        self.list.setCurrentItem(select)
        self.list.blockSignals(False)
        self._update_buttons()
        if self.selected() != current:
            self.folderSelected.emit(self.selected())

    def folders(self) -> list[str]:
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(1, self.list.count())]

    def selected(self) -> str:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else ALL

    def select(self, folder: str) -> None:
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole) == folder:
                self.list.setCurrentRow(i)
                return

    def set_busy(self, busy: bool) -> None:
        self.rescan_button.setEnabled(not busy and bool(self.folders()))

    def _update_buttons(self) -> None:
        self.remove_button.setEnabled(self.selected() != ALL)
        self.rescan_button.setEnabled(bool(self.folders()))

    def _current_changed(self, *_: object) -> None:
        self._update_buttons()
        self.folderSelected.emit(self.selected())

    def _remove_clicked(self) -> None:
        folder = self.selected()
        if folder:
            self.removeRequested.emit(folder)
