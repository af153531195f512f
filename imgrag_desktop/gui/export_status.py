"""The status bar's note while this process exports a model to ONNX (models/onnx_clip.py
`start_export`): once per model, in the background at low priority, after which queries run
without torch. It says what is being prepared and why; it is gone when the export ends."""

from __future__ import annotations

import sys
from typing import Callable

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QLabel, QWidget

POLL_MS = 1000
TOOLTIP = ("The models are being exported once to a faster runtime for queries (ONNX), in the background "
           "at low priority. Searches work meanwhile; later ones start faster.")


def running_exports() -> list[str]:
    """What this process exports now; nothing when the export module was never imported."""
    mod = sys.modules.get("imgrag_desktop.models.onnx_clip")
    fn: Callable[[], list[str]] | None = getattr(mod, "exports_running", None)
    return fn() if fn is not None else []


def export_text(names: list[str]) -> str:
    return f"Preparing the fast query runtime for {' and '.join(names)} (once)…" if names else ""


class ExportStatus(QObject):
    """A status-bar label shown while an export runs, asked every POLL_MS (a dict read)."""

    def __init__(self, parent: QWidget, poll_ms: int = POLL_MS) -> None:
        super().__init__(parent)
        self.label = QLabel(parent)
        self.label.setObjectName("export-status")
        self.label.setToolTip(TOOLTIP)
        self.label.hide()
        self.timer = QTimer(self)
        self.timer.setInterval(poll_ms)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()

    def refresh(self) -> None:
        text = export_text(running_exports())
        if text != self.label.text():
            self.label.setText(text)
        self.label.setVisible(bool(text))
