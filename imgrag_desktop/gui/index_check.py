"""The Settings dialog's "Check the index" row: runs `imgrag check` (upkeep.check_config) on a
pool thread, so a big index or a slow disk never freezes the dialog, and shows the verdict."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget


class _Signals(QObject):
    done = Signal(object)  # the check's JSON, or {"error": text}


class _Check(QRunnable):
    def __init__(self, cfg: Any, signals: _Signals) -> None:
        super().__init__()
        self.cfg, self.signals = cfg, signals

    def run(self) -> None:
        from imgrag_desktop.upkeep import check_config

        try:
            data: dict[str, Any] = check_config(self.cfg)
        except Exception as exc:  # a newer index, an unreadable data dir: one line in the dialog
            data = {"error": str(exc)}
        try:
            self.signals.done.emit(data)
        except RuntimeError:  # the dialog closed meanwhile
            pass


def verdict(data: dict[str, Any]) -> str:
    if "error" in data:
        return f"Cannot check the index: {data['error']}"
    if data.get("ok"):
        extra = f"; {data['offline_rows']} in offline folders" if data.get("offline_rows") else ""
        return f"Index OK: {data.get('images', 0)} images, every table readable{extra}."
    return ("Problems: " + "; ".join(data.get("problems", [])) +
            ". Run `imgrag repair` (the window's indexing must be stopped) to fix them.")


class IndexCheckRow(QWidget):
    finished = Signal(object)  # the check's JSON (tests wait on it)

    def __init__(self, cfg: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cfg = cfg
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.button = QPushButton("Check the index", self)
        self.button.setToolTip("Read every table of the index to the end, look for broken vectors and for "
                               "indexed files that are gone (imgrag check); changes nothing")
        self.result = QLabel("", self)
        self.result.setWordWrap(True)
        lay.addWidget(self.button)
        lay.addWidget(self.result, 1)
        self._signals = _Signals(self)
        self._signals.done.connect(self._done)
        self.button.clicked.connect(self.start)

    def start(self) -> None:
        self.button.setEnabled(False)
        self.result.setText("Checking…")
        QThreadPool.globalInstance().start(_Check(self.cfg, self._signals))

    def _done(self, data: dict[str, Any]) -> None:
        self.button.setEnabled(True)
        self.result.setText(verdict(data))
        self.finished.emit(data)
