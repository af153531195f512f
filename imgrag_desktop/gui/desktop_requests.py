"""The desktop's search box asks a running window to show what the user picked there.

`imgrag desktop-search` (the GNOME Shell / KRunner service) sends, over the window's warm
socket (warm.py), `{"op": "show", "path": P}` when a photo is clicked (the window comes to the
front with the photo in its viewer, among its look-alikes), `{"op": "similar", "path": P}`
for KRunner's look-alikes action, and `{"op": "query", "text": T}` for GNOME's "more results"
(the window searches T). Requests arrive on the socket's thread;
a queued signal carries them to the GUI thread. Without a window the service opens the
desktop's own viewer, or starts a window, instead.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QGuiApplication


class DesktopRequests(QObject):
    _asked = Signal(str, str)  # op, argument: emitted from the socket's thread

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self._pending: str | None = None  # a photo to open in the viewer once its look-alikes show
        self._asked.connect(self._do, Qt.ConnectionType.QueuedConnection)
        window.resultsShown.connect(self._on_results)

    def ops(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        return {"show": self.ask, "similar": self.ask, "query": self.ask}

    def ask(self, req: dict[str, Any]) -> dict[str, Any]:
        """A request from another process (any thread): checked here, done on the GUI thread."""
        op = req.get("op")
        if op in ("show", "similar"):
            path = req.get("path")
            if not isinstance(path, str) or not os.path.isabs(path) or not os.path.isfile(path):
                return {"fallback": True, "reason": "not a file"}
            self._asked.emit(str(op), path)
        elif op == "query":
            self._asked.emit("query", str(req.get("text") or ""))
        else:
            return {"fallback": True, "reason": f"unknown op {op!r}"}
        return {"ok": True}

    def _do(self, op: str, arg: str) -> None:
        w = self.window
        if w.isMinimized():
            w.showNormal()
        if QGuiApplication.platformName() not in ("offscreen", "minimal"):  # no window manager there
            w.raise_()
            w.activateWindow()
        if op == "query":
            if arg.strip():
                w.page.close_viewer()
                w.page.clear_search()  # a "Looks like" chip would make the words steer its look-alikes
                w.page.search(arg)
            return
        self._pending = arg if op == "show" else None
        w.page.close_viewer()
        w.find_similar(arg)

    def _on_results(self, info: dict[str, Any]) -> None:
        path, self._pending = self._pending, None
        if path is None:
            return
        paths = list(info.get("paths") or [])
        if path in paths:
            self.window.page.open_viewer(paths.index(path))
