"""The Folders panel: which folders are indexed, whether each is watched, and a filter to one.

A folder the watcher reports offline (an unplugged drive, a folder renamed away) keeps its row
here and its images in the index: it is greyed, with the reason in the tooltip, and comes back
to normal when the watcher re-attaches it.
"""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QIcon, QPalette
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

ALL = ""
StateRole = Qt.ItemDataRole.UserRole + 1

# What each watcher state (indexing.watch.roots.FolderStatus.state) means to the user.
STATE_TIPS = {
    "starting": "Starting to watch…",
    "scanning": "Checking for new, changed and deleted images…",
    "watching": "Watched: new and changed images are indexed as they appear",
    "polling": "Not watched live{detail}: checked for changes every minute",
    "offline": "Offline{detail}. Its images stay in the index and can still be found; "
               "watching resumes when the folder is back",
    "stopped": "Not watched",
}
STATE_SUFFIX = {"scanning": "scanning…", "offline": "offline", "polling": "polling", "starting": "starting…"}


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
        self._status: dict[str, tuple[str, str, int]] = {}
        self._counts: dict[str, int] = {}  # photos kept in the index below an offline folder
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
            self._decorate(item)
            if f == current:
                select = item
        self.list.setCurrentItem(select)
        self.list.blockSignals(False)
        self._update_buttons()
        if self.selected() != current:
            self.folderSelected.emit(self.selected())

    # Watcher status -------------------------------------------------------------------------
    def set_status(self, folder: str, state: str, detail: str = "", pending: int | None = None) -> None:
        """Show what the watcher does with a folder (see STATE_TIPS; `pending` None keeps the last
        count); rows are never removed here."""
        if pending is None:
            pending = self._status.get(folder, ("", "", 0))[2]
        if self._status.get(folder) == (state, detail, pending):
            return
        self._status[folder] = (state, detail, pending)
        item = self._item(folder)
        if item is not None:
            self._decorate(item)

    def set_count(self, folder: str, images: int) -> None:
        """The photos the index keeps below a folder (shown while it is offline)."""
        self._counts[folder] = images
        item = self._item(folder)
        if item is not None:
            self._decorate(item)

    def clear_status(self) -> None:
        self._status.clear()
        for i in range(1, self.list.count()):
            self._decorate(self.list.item(i))

    def offline_folders(self) -> tuple[str, ...]:
        """The folders shown offline (what the filter bar leaves out when asked)."""
        return tuple(sorted(f for f, (state, _, _) in self._status.items() if state == "offline"))

    def status_of(self, folder: str) -> str:
        """The watcher state shown for a folder ("" when it is not watched)."""
        return self._status.get(folder, ("", "", 0))[0]

    def _item(self, folder: str) -> QListWidgetItem | None:
        for i in range(1, self.list.count()):
            item = self.list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == folder:
                return item
        return None

    def _decorate(self, item: QListWidgetItem) -> None:
        folder = item.data(Qt.ItemDataRole.UserRole)
        state, detail, pending = self._status.get(folder, ("", "", 0))
        name = os.path.basename(folder.rstrip(os.sep)) or folder
        suffix = STATE_SUFFIX.get(state, "")
        count = self._counts.get(folder)
        if state == "offline" and count:
            suffix += f", {count} photo{'s' if count != 1 else ''}"
        item.setText(f"{name} — {suffix}" if suffix else name)
        item.setData(StateRole, state)
        offline = state == "offline"
        font = item.font()
        font.setItalic(offline)
        item.setFont(font)
        if offline:
            item.setForeground(QBrush(self.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)))
            item.setIcon(QIcon(self._folder_icon.pixmap(16, 16, QIcon.Mode.Disabled)))
        else:
            item.setForeground(QBrush(self.palette().color(QPalette.ColorGroup.Active, QPalette.ColorRole.Text)))
            item.setIcon(self._folder_icon)
        tip = folder
        if state:
            tip += "\n" + STATE_TIPS.get(state, state).format(detail=f" ({detail})" if detail else "")
            if state not in ("polling", "offline") and detail and state != "stopped":
                tip += f" ({detail})"
        if pending:
            tip += f"\n{pending} new or changed file{'s' if pending != 1 else ''} waiting to be indexed"
        item.setToolTip(tip)

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


def folders_dock(panel: FoldersPanel, parent: QWidget) -> QDockWidget:
    """The Folders panel as the window's left dock (closable and movable, never floating)."""
    dock = QDockWidget("Folders", parent)
    dock.setObjectName("folders-dock")
    dock.setWidget(panel)
    dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetClosable | QDockWidget.DockWidgetFeature.DockWidgetMovable)
    return dock
