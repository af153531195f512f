"""One bridge for user-facing messages, so back-end code never needs to know about widgets.

Workers and widgets report through a MessageBridge (a QObject with signals); the status bar
shows the one-line text, errors also land in the errors panel, and an error dialog offers the
details on request. A traceback is never the first thing a user sees.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from datetime import datetime

from PySide6.QtCore import QObject, Signal, Slot


@dataclass
class Message:
    level: str  # info | warning | error
    text: str  # one line, readable by anyone
    details: str = ""  # what a developer needs (traceback, paths); shown only on request
    at: datetime = field(default_factory=datetime.now)
    listed: bool = False  # a warning that the errors panel lists too (see MessageBridge.problem)


class MessageBridge(QObject):
    """Carries messages from anywhere (any thread) to whoever shows them."""

    message = Signal(object)  # Message

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.history: list[Message] = []
        self.message.connect(self._remember)

    def _remember(self, msg: Message) -> None:
        self.history.append(msg)
        del self.history[:-500]

    def info(self, text: str, details: str = "") -> None:
        self.message.emit(Message("info", text, details))

    def warning(self, text: str, details: str = "") -> None:
        self.message.emit(Message("warning", text, details))

    def error(self, text: str, details: str = "") -> None:
        self.message.emit(Message("error", text, details))

    @Slot(str)
    @Slot(str, str)
    def problem(self, text: str, details: str = "") -> None:
        """A warning that also belongs in the errors panel: work that could not be done (a later
        indexing stage skipped). Listed once however often it repeats (the watcher meets it
        again after every batch); the status bar shows it every time."""
        listed = not any(m.listed and m.text == text for m in self.history)
        self.message.emit(Message("warning", text, details, listed=listed))

    @property
    def errors(self) -> list[Message]:
        return [m for m in self.history if m.level == "error" or m.listed]


def describe_exception(exc: BaseException) -> tuple[str, str]:
    """(one line for the user, details for a developer).

    ImgragError messages are already written for users; anything else is a bug or an
    environment problem, so it is named with its type and the traceback goes to the details.
    """
    from imgrag_desktop.types import ImgragError

    text = str(exc).strip()
    first = text.splitlines()[0][:300] if text else ""
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if isinstance(exc, ImgragError):
        return first or type(exc).__name__, details
    if isinstance(exc, MemoryError):
        return "out of memory", details
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}", details
    return f"unexpected error: {type(exc).__name__}: {first}" if first else f"unexpected error: {type(exc).__name__}", details
