"""Error and question dialogs that never block the event loop.

Dialogs are opened with open() (window-modal, asynchronous) instead of exec(), so workers keep
delivering results while a message is on screen, and tests can read and close them. The first
line is for the user; a traceback, when there is one, waits behind "Show Details…".
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget


def show_message(parent: QWidget, text: str, details: str = "", level: str = "error",
                 title: str = "imgrag-desktop", informative: str = "", as_sentence: bool = True) -> QMessageBox:
    icon = {"error": QMessageBox.Icon.Critical, "warning": QMessageBox.Icon.Warning}.get(level, QMessageBox.Icon.Information)
    box = QMessageBox(icon, title, _sentence(text) if as_sentence else text, QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("imgrag-message")
    if informative:
        box.setInformativeText(informative)
    if details:
        box.setDetailedText(details)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
    box.open()
    return box


def ask(parent: QWidget, text: str, informative: str, yes_text: str, on_yes: Callable[[], None],
        title: str = "imgrag-desktop") -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton, parent)
    box.setObjectName("imgrag-question")
    box.setInformativeText(informative)
    yes = box.addButton(yes_text, QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(yes)

    def finished(_: int) -> None:
        if box.clickedButton() is yes:
            on_yes()

    box.finished.connect(finished)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
    box.open()
    return box


def show_about(parent: QWidget, data_dir: str, profile: str) -> QMessageBox:
    from imgrag_desktop import __version__

    return show_message(parent, f"imgrag-desktop {__version__}", level="info", as_sentence=False,
                        informative=f"Offline search over your own images.\nData directory: {data_dir}\n"
                                    f"Profile: {profile}")


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] if text else text
