"""Finding the app's resources (icon, style sheet, desktop files) wherever it runs.

They live in the top-level `resources/` folder of the source tree, installed inside the
package as `imgrag_desktop.resources` (pyproject's package-dir), so importlib.resources finds
them in a wheel, an editable install and a PyInstaller bundle alike. Never relative to the
working directory.
"""

from __future__ import annotations

import os
import shutil
import sys
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

APP_ID = "io.github.imgrag.Desktop"
ICON_SIZES = (16, 32, 48, 64, 128, 256, 512)


def files() -> Traversable:
    """The resources folder as a Traversable."""
    try:
        return resources.files("imgrag_desktop.resources")
    except ModuleNotFoundError:
        # A plain source checkout on sys.path without an install: the folder beside the package.
        return resources.files("imgrag_desktop").joinpath("..", "resources")  # type: ignore[return-value]


def resource(name: str) -> Traversable:
    node = files()
    for part in name.split("/"):
        node = node / part
    return node


def resource_path(name: str) -> Path:
    """A real file path for a resource (they are plain files in every supported install)."""
    p = Path(str(resource(name)))
    if not p.exists():
        raise FileNotFoundError(f"resource {name!r} is missing from this installation ({p})")
    return p


def read_text(name: str) -> str:
    return resource(name).read_text(encoding="utf-8")


def app_icon_path(size: int | None = None) -> Path:
    """The SVG icon, or the PNG of the given size."""
    if size is None:
        return resource_path("icons/imgrag-desktop.svg")
    best = min(ICON_SIZES, key=lambda s: (s < size, abs(s - size)))
    return resource_path(f"icons/png/imgrag-desktop-{best}.png")


def stylesheet() -> str:
    return read_text("style.qss")


def desktop_file_text(exec_path: str | None = None) -> str:
    """The .desktop entry; with `exec_path`, Exec/TryExec point at that executable."""
    text = read_text(f"{APP_ID}.desktop")
    if exec_path:
        quoted = f'"{exec_path}"' if " " in exec_path else exec_path
        text = text.replace("Exec=imgrag-desktop %F", f"Exec={quoted} %F").replace(
            "TryExec=imgrag-desktop", f"TryExec={exec_path}")
    return text


def install_desktop_entry(prefix: Path | None = None, exec_path: str | None = None) -> list[Path]:
    """Install the menu entry, icons and metainfo for the current user (XDG data dirs)."""
    base = Path(prefix) if prefix else Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    exec_path = exec_path or shutil.which("imgrag-desktop") or str(Path(sys.executable).with_name("imgrag-desktop"))
    written = []
    apps = base / "applications"
    apps.mkdir(parents=True, exist_ok=True)
    desk = apps / f"{APP_ID}.desktop"
    desk.write_text(desktop_file_text(exec_path), encoding="utf-8")
    written.append(desk)
    meta = base / "metainfo"
    meta.mkdir(parents=True, exist_ok=True)
    m = meta / f"{APP_ID}.metainfo.xml"
    m.write_text(read_text(f"{APP_ID}.metainfo.xml"), encoding="utf-8")
    written.append(m)
    for size in ICON_SIZES:
        d = base / "icons" / "hicolor" / f"{size}x{size}" / "apps"
        d.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(app_icon_path(size), d / f"{APP_ID}.png")
        written.append(d / f"{APP_ID}.png")
    sd = base / "icons" / "hicolor" / "scalable" / "apps"
    sd.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(app_icon_path(), sd / f"{APP_ID}.svg")
    written.append(sd / f"{APP_ID}.svg")
    return written


def uninstall_desktop_entry(prefix: Path | None = None) -> list[Path]:
    base = Path(prefix) if prefix else Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    removed = []
    candidates = [base / "applications" / f"{APP_ID}.desktop", base / "metainfo" / f"{APP_ID}.metainfo.xml",
                  base / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"]
    candidates += [base / "icons" / "hicolor" / f"{s}x{s}" / "apps" / f"{APP_ID}.png" for s in ICON_SIZES]
    for p in candidates:
        if p.exists():
            p.unlink()
            removed.append(p)
    return removed
