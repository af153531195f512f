"""The window's icon and style sheet.

The packaging work ships an icon and a style sheet inside the package (through
`imgrag_desktop.resources_util` when present, else the package's `resources/` folder); the
window uses them when they exist and its own small base style otherwise.
"""

from __future__ import annotations

import importlib
from importlib import resources
from pathlib import Path
from typing import Any

from PySide6.QtGui import QIcon

BASE_QSS = """
QLineEdit#search { padding: 6px 10px; border-radius: 6px; font-size: 11pt; }
QLabel#welcome-title { font-size: 18pt; font-weight: 600; }
QLabel#welcome-text { font-size: 11pt; }
QPushButton#welcome-add { padding: 8px 22px; font-size: 11pt; }
QFrame#similar-chip { border-radius: 6px; padding: 0 4px; }
"""


def _resources_util() -> Any:
    try:
        return importlib.import_module("imgrag_desktop.resources_util")
    except ImportError:
        return None


def _package_resource(*candidates: str) -> Path | None:
    try:
        base = resources.files("imgrag_desktop") / "resources"
    except (ModuleNotFoundError, TypeError):
        return None
    for name in candidates:
        p = base / name
        try:
            if p.is_file():
                return Path(str(p))
        except OSError:
            continue
    return None


def _from_util(util: Any, names: tuple[str, ...]) -> Any:
    for n in names:
        fn = getattr(util, n, None)
        if callable(fn):
            try:
                return fn()
            except Exception:
                continue
    return None


def app_icon() -> QIcon:
    util = _resources_util()
    found = _from_util(util, ("app_icon_path", "icon_path")) if util is not None else None
    path = Path(str(found)) if found else _package_resource(
        "icons/imgrag-desktop.svg", "icons/imgrag-desktop.png", "imgrag-desktop.svg", "imgrag-desktop.png", "icon.png")
    return QIcon(str(path)) if path is not None and path.exists() else QIcon()


def stylesheet() -> str:
    util = _resources_util()
    text = ""
    found = _from_util(util, ("style_path", "stylesheet_path", "qss_path")) if util is not None else None
    if isinstance(found, str) and found.lstrip().startswith(("Q", "*", "/*")) and "{" in found:
        text = found  # a function that returned the sheet itself
    else:
        path = Path(str(found)) if found else _package_resource("style.qss", "styles/style.qss")
        if path is not None and path.exists():
            try:
                text = path.read_text("utf-8")
            except OSError:
                text = ""
    return BASE_QSS + "\n" + text
