"""The window's icon and style sheet, from the packaged resources (see resources_util)."""

from __future__ import annotations

from PySide6.QtGui import QIcon

from imgrag_desktop import resources_util


def app_icon() -> QIcon:
    icon = QIcon(str(resources_util.app_icon_path()))
    for size in resources_util.ICON_SIZES:
        icon.addFile(str(resources_util.app_icon_path(size)))
    return icon


def stylesheet() -> str:
    return resources_util.stylesheet()
