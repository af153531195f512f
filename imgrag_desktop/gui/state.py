"""What the window remembers between runs.

Window geometry, splitter positions, thumbnail size and other view choices live in the data
dir's settings.json (under the "gui" key), next to the folders and model settings, so one data
dir is one complete, movable profile. Only the choice of data dir itself cannot live inside the
data dir: it is kept in a small JSON file in the platform's config location.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from imgrag_desktop.config import AppConfig, WindowSettings, remembered_data_dir

GUI_KEY = "gui"
DEFAULTS: dict[str, Any] = dataclasses.asdict(WindowSettings())  # documented in docs/settings.md


def gui_state(cfg: AppConfig) -> dict[str, Any]:
    """The GUI's part of the settings, created with defaults on first use."""
    state = cfg.settings.gui
    for k, v in DEFAULTS.items():
        state.setdefault(k, v)
    return state


def save_settings(cfg: AppConfig, removed_folders: set[str] | None = None) -> None:
    """Save, keeping folders another process (`imgrag index`) added since we loaded.

    The window and the CLI may both edit settings.json; a plain save would silently drop a
    folder the CLI added while the window was open.
    """
    try:
        disk = AppConfig.load(cfg.data_dir, cfg.profile).settings.folders
    except Exception:  # a damaged file is replaced by ours
        disk = []
    removed = removed_folders or set()
    for f in disk:
        if f not in cfg.settings.folders and f not in removed:
            cfg.settings.folders.append(f)
    cfg.save()


def resolve_data_dir(explicit: str | None, profile: str) -> str | None:
    """--data-dir, then IMGRAG_DATA_DIR, then the data dir chosen in Settings, else None
    (AppConfig's platform default)."""
    if explicit:
        return explicit
    if os.environ.get("IMGRAG_DATA_DIR"):
        return os.environ["IMGRAG_DATA_DIR"]
    return remembered_data_dir(profile)


def _b64(data: Any) -> str:
    return bytes(data.toBase64().data()).decode("ascii")


def restore_layout(state: dict[str, Any], window: Any, splitter: Any) -> None:
    """The window's geometry, docks and the results/preview split as the user left them."""
    from PySide6.QtCore import QByteArray

    for key, restore in (("geometry", window.restoreGeometry), ("window_state", window.restoreState),
                         ("splitter", splitter.restoreState)):
        value = state.get(key)
        if isinstance(value, str) and value:
            restore(QByteArray.fromBase64(value.encode("ascii")))


def remember_layout(state: dict[str, Any], window: Any, splitter: Any) -> None:
    state["geometry"] = _b64(window.saveGeometry())
    state["window_state"] = _b64(window.saveState())
    state["splitter"] = _b64(splitter.saveState())
