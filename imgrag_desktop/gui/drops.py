"""Drops anywhere on the window: an image finds its look-alikes, a folder is indexed."""

from __future__ import annotations

import os
from typing import Any, Callable

from PySide6.QtCore import QEvent, QMimeData, QObject
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QStatusBar


def handle_mime(page: Any, mime: QMimeData, source: str = "drop") -> bool:
    """Files → look-alikes of the first image (folders are added to the index); pixels →
    look-alikes of those pixels. True when something was done. `page` is the search page."""
    urls = list(mime.urls()) if mime.hasUrls() else []
    local = [u.toLocalFile() for u in urls if u.isLocalFile()]
    if urls and not local:
        page.bridge.warning("only files on this computer can be searched by (download the image first)")
        return True
    dirs = [p for p in local if os.path.isdir(p)]
    files = [p for p in local if os.path.isfile(p)]
    if dirs:
        page.foldersDropped.emit(dirs)
    if files:
        page.find_similar(files[0])
        return True
    if dirs:
        return True
    if local:
        page.bridge.error(f"{local[0]} does not exist")
        return True
    if mime.hasImage():
        image = mime.imageData()
        qimg = image if isinstance(image, QImage) else QImage(image)
        page.find_similar_image(qimg, "the pasted image" if source == "clipboard" else "the dropped image")
        return True
    return False


class DropTarget(QObject):
    """An event filter for the window; `handle(mime)` (the search page's) says whether it took
    the drop."""

    def __init__(self, handle: Callable[[QMimeData], bool], status_bar: QStatusBar, parent: QObject) -> None:
        super().__init__(parent)
        self.handle = handle
        self.status_bar = status_bar

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
            mime = event.mimeData()  # type: ignore[attr-defined]
            if mime.hasUrls() or mime.hasImage():
                event.acceptProposedAction()  # type: ignore[attr-defined]
                if kind == QEvent.Type.DragEnter:
                    self.status_bar.showMessage("Drop an image to find look-alikes, or a folder to index it")
            else:
                event.ignore()
            return True
        if kind == QEvent.Type.DragLeave:
            self.status_bar.clearMessage()
            return True
        if kind == QEvent.Type.Drop:
            if self.handle(event.mimeData()):  # type: ignore[attr-defined]
                event.acceptProposedAction()  # type: ignore[attr-defined]
            else:
                event.ignore()
            return True
        return False
