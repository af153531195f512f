"""The window's part that reports: the indexed count and the problems button in the status
bar, the Problems panel, and one dialog per distinct error.

Everything reaches it through the MessageBridge (one signal for every message from any part
of the app), so no part needs to know where its messages are shown.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QLabel, QStatusBar, QToolButton, QWidget

from imgrag_desktop.gui import dialogs
from imgrag_desktop.gui.errors_panel import ErrorsPanel
from imgrag_desktop.gui.messages import Message, MessageBridge


class StatusReport(QObject):
    failuresRequested = Signal()  # the Problems panel wants the index's skipped files (query worker)

    def __init__(self, bridge: MessageBridge, status_bar: QStatusBar, window: QWidget) -> None:
        super().__init__(window)
        self.bridge = bridge
        self.status_bar = status_bar
        self.window = window
        self.closing = False
        self.stats: dict[str, Any] = {"images": 0, "failed": 0}
        self.open_boxes: dict[str, Any] = {}  # error text → its dialog, while shown
        self.errors_panel: ErrorsPanel | None = None
        self.problems_button = QToolButton(window)
        self.problems_button.setAutoRaise(True)
        self.problems_button.setToolTip("Files that could not be indexed, and errors (Ctrl+E)")
        self.problems_button.hide()
        self.problems_button.clicked.connect(self.show_errors_panel)
        self.count_label = QLabel(window)
        bridge.message.connect(self._on_message)

    def update_stats(self, stats: dict[str, Any]) -> None:
        self.stats.update(stats)
        self.show_stats()

    def show_stats(self) -> None:
        n = self.stats.get("images", 0)
        self.count_label.setText(f"{n:,} image{'s' if n != 1 else ''} indexed")
        media = self.stats.get("media") or {}
        parts = [f"{v:,} {k}" for k, v in media.items() if v]  # photos, raw, videos, live
        self.count_label.setToolTip(", ".join(parts) if parts else "")
        bad = self.stats.get("failed", 0) + len(self.bridge.errors)
        self.problems_button.setText(f"⚠ {bad} problem{'s' if bad != 1 else ''}")
        self.problems_button.setVisible(bad > 0)

    @Slot(object)
    def _on_message(self, msg: Message) -> None:
        if msg.level == "info":
            self.status_bar.showMessage(msg.text, 6000)
            return
        self.status_bar.showMessage(msg.text[:1].upper() + msg.text[1:], 10000)
        self.show_stats()
        if self.errors_panel is not None:
            self.errors_panel.set_session_errors(self.bridge.errors)
        if msg.level == "error" and not self.closing:
            box = self.open_boxes.get(msg.text)
            if box is not None and box.isVisible():
                return  # the same message is already on screen
            box = dialogs.show_message(self.window, msg.text, msg.details, "error")
            self.open_boxes[msg.text] = box
            box.destroyed.connect(lambda *_, t=msg.text: self.open_boxes.pop(t, None))

    def show_errors_panel(self) -> None:
        if self.errors_panel is None:
            self.errors_panel = ErrorsPanel(self.window)
            self.errors_panel.refreshRequested.connect(self.failuresRequested)
        self.errors_panel.set_session_errors(self.bridge.errors)
        self.failuresRequested.emit()
        self.errors_panel.show()
        self.errors_panel.raise_()

    @Slot(object)
    def on_failures(self, rows: list[dict[str, Any]]) -> None:
        if self.errors_panel is not None:
            self.errors_panel.set_failures(rows)
