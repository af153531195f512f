"""The window's part that keeps the list of indexed folders: adding, removing and rescanning.

Each change is saved at once (merged with folders the CLI added meanwhile), becomes an IndexJob
on the queue, and the folder watcher follows the new list.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QWidget

from imgrag_desktop.config import AppConfig
from imgrag_desktop.gui import dialogs
from imgrag_desktop.gui.messages import MessageBridge
from imgrag_desktop.gui.workers import IndexJob

if TYPE_CHECKING:  # pragma: no cover
    from imgrag_desktop.gui.folders import FoldersPanel
    from imgrag_desktop.gui.index_queue import IndexQueue
    from imgrag_desktop.gui.watch_status import WatchStatus


class FolderLibrary(QObject):
    changed = Signal()  # folders were added: the page may leave its welcome state
    folderRemoved = Signal(str, object)  # folder, folders still indexed: its results leave the grid now

    def __init__(self, cfg: AppConfig, bridge: MessageBridge, panel: "FoldersPanel", queue: "IndexQueue",
                 watching: "WatchStatus", save_settings: Callable[[], None], parent: QWidget) -> None:
        super().__init__(parent)
        self.cfg, self.bridge, self.panel, self.queue, self.watching = cfg, bridge, panel, queue, watching
        self._save_settings = save_settings
        self.window = parent
        self.removed: set[str] = set()  # removed here: a save must not bring them back from disk

    def add_dialog(self) -> None:
        start = self.cfg.settings.folders[-1] if self.cfg.settings.folders else os.path.expanduser("~")
        path = QFileDialog.getExistingDirectory(self.window, "Add a folder to the index", start)
        if path:
            self.add([path])

    def add(self, paths: list[str]) -> None:
        folders = self.cfg.settings.folders
        new = []
        for raw in paths:
            p = os.path.abspath(os.path.expanduser(raw))
            if not os.path.isdir(p):
                self.bridge.error(f"{p} is not a folder")
                continue
            if p not in folders:
                folders.append(p)
                self.removed.discard(p)
            new.append(p)
        if not new:
            return
        self._save_settings()
        self.panel.set_folders(folders)
        self.queue.enqueue(IndexJob(roots=new))
        self.watching.sync()
        self.changed.emit()

    def show_scan(self, job: IndexJob, report: dict) -> None:
        """What an indexing job found about its roots: offline ones greyed with their photo count,
        and a question before removing many vanished photos at once (indexing/offline.py)."""
        for entry in report.get("offline") or []:
            self.panel.set_count(entry["root"], int(entry.get("images", 0)))
            self.panel.set_status(entry["root"], "offline", entry.get("reason", ""))
        for entry in report.get("held") or []:
            self.ask_removal(entry["root"], int(entry["gone"]), int(entry["of"]))

    def ask_removal(self, root: str, gone: int, of: int) -> None:
        def confirmed() -> None:
            self.queue.enqueue(IndexJob(roots=[root], confirm_removal=True))

        of_text = f" of {of}" if of else ""
        dialogs.ask(self.window, f"Remove {gone}{of_text} photos of {os.path.basename(root) or root}?",
                    f"{gone}{of_text} photos indexed under {root} are no longer on disk. If a drive or share "
                    "is not connected, cancel: their names, captions and corrections stay. Remove them only if "
                    "you deleted them.", "Remove", confirmed)

    def rescan(self) -> None:
        if self.cfg.settings.folders:
            self.queue.enqueue(IndexJob(roots=list(self.cfg.settings.folders)))

    def remove(self, folder: str, confirm: bool = True) -> None:
        if folder not in self.cfg.settings.folders:
            return

        def do_remove() -> None:
            self.cfg.settings.folders.remove(folder)
            self.removed.add(folder)
            self._save_settings()
            self.panel.set_folders(self.cfg.settings.folders)
            job = IndexJob(remove=folder, keep=list(self.cfg.settings.folders))
            self.folderRemoved.emit(folder, list(job.keep))
            if not self.watching.remove_after_release(folder, job):
                self.queue.enqueue(job)

        if not confirm:
            do_remove()
            return
        dialogs.ask(self.window, f"Remove {folder} from the index?",
                    "Its images will no longer be found. The files themselves stay where they are.",
                    "Remove", do_remove)
