"""Handing files to the rest of the desktop: the default viewer and the file manager."""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

from PySide6.QtCore import QProcess, QUrl


def open_file(path: str, open_url: Callable[[QUrl], Any], bridge: Any) -> None:
    """Open a result in its default application; a file gone since it was indexed, or one no
    application opens, is said in one line."""
    if not path:
        return
    if not os.path.exists(path):
        bridge.error(f"{path} no longer exists (moved or deleted since it was indexed)")
        return
    if not open_url(QUrl.fromLocalFile(path)):
        bridge.error(f"no application is set up to open {os.path.basename(path)}")


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

