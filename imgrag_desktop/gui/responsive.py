"""The window in a small screen: below NARROW px wide the folders panel steps aside by itself
(View → Folders panel or its toggle bring it back), and returns when the window is wide again,
unless the user closed or opened it meanwhile. The layout saved when the window closes is the
user's: a panel hidden here (or by the viewer) is put back first."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QDockWidget, QWidget

NARROW = 1000


class NarrowWindow(QObject):
    def __init__(self, window: QWidget, dock: QDockWidget, busy: Callable[[], bool] = lambda: False,
                 end_busy: Callable[[], None] = lambda: None) -> None:
        super().__init__(window)
        self.window, self.dock, self.busy, self.end_busy = window, dock, busy, end_busy
        self.auto_hidden = False  # hidden by us (not by the user), so shown again when wide
        self._ours = False
        dock.visibilityChanged.connect(self._on_visibility)
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt naming)
        # Polish: the window is about to show at the size asked for; stepping aside then, before its
        # layout sets the minimum width, keeps a window sized 800 wide from growing to fit the panel.
        if watched is self.window and event.type() in (QEvent.Type.Resize, QEvent.Type.Show, QEvent.Type.Polish):
            self.fit()
        elif watched is self.window and event.type() == QEvent.Type.Close:
            # The layout saved at closing is the user's: a panel we hid comes back first.
            if self.busy():
                self.end_busy()
            if self.auto_hidden:
                self._set(True)
                self.auto_hidden = False
        return False

    def fit(self) -> None:
        if self.busy():  # the viewer hides the panel itself meanwhile
            return
        narrow = self.window.width() < NARROW
        # isHidden, not isVisible: a window sized small before it is first shown (a fresh start
        # at 800×600) has a dock that is not visible yet but will be, and would widen the window.
        if narrow and not self.dock.isHidden() and not self.dock.isFloating():
            self._set(False)
            self.auto_hidden = True
        elif not narrow and self.auto_hidden:
            self._set(True)
            self.auto_hidden = False

    def _set(self, visible: bool) -> None:
        self._ours = True
        try:
            self.dock.setVisible(visible)
        finally:
            self._ours = False

    def _on_visibility(self, visible: bool) -> None:
        if not self._ours and self.window.isVisible() and visible:
            self.auto_hidden = False  # the user brought it back: theirs now
