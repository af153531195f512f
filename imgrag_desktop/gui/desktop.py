"""Handing files to the rest of the desktop: the file manager."""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

from PySide6.QtCore import QProcess, QUrl


def reveal_in_file_manager(path: str, open_url: Callable[[QUrl], Any], parent: Any = None) -> None:
    """Show the file selected in the platform's file manager; where that is not possible, open
    its folder. Runs asynchronously: a slow or missing file manager never freezes the window."""
    folder = QUrl.fromLocalFile(os.path.dirname(path))
    if sys.platform == "darwin":
        program, args = "open", ["-R", path]
    elif sys.platform == "win32":
        program, args = "explorer", ["/select,", os.path.normpath(path)]
    elif os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        program, args = "dbus-send", [
            "--session", "--print-reply", "--reply-timeout=3000", "--dest=org.freedesktop.FileManager1",
            "/org/freedesktop/FileManager1", "org.freedesktop.FileManager1.ShowItems",
            f"array:string:{QUrl.fromLocalFile(path).toString()}", "string:"]
    else:
        open_url(folder)
        return
    proc = QProcess(parent)

    def done(code: int = 1, *_: Any) -> None:
        if code != 0 and sys.platform != "win32":  # explorer /select exits 1 even when it worked
            open_url(folder)
        proc.deleteLater()

    proc.finished.connect(done)
    proc.errorOccurred.connect(lambda *_: done(1))
    proc.start(program, args)

