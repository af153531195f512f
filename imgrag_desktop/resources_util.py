"""Files the app ships with: icon, window style, desktop-integration files.

They live inside the package (`imgrag_desktop/resources/`) and are found through
`importlib.resources`, so they resolve the same way from a source checkout, an installed wheel
and a PyInstaller bundle, whatever the working directory is. No Qt here: the GUI turns these
paths and strings into QIcon/stylesheets, and the CLI's desktop installer copies them.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath

# Reverse-DNS application id: names the .desktop file, the AppStream component, the icon and
# (through QGuiApplication.setDesktopFileName) the Wayland app id, so a desktop can tie a
# running window to its menu entry.
APP_ID = "io.github.imgrag.Desktop"
DESKTOP_FILE = f"{APP_ID}.desktop"
METAINFO_FILE = f"{APP_ID}.metainfo.xml"
STYLE_FILE = "style.qss"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICON_SVG = f"icons/hicolor/scalable/apps/{APP_ID}.svg"

_PACKAGE = "imgrag_desktop"
_FOLDER = "resources"


def _clean_name(name: str) -> PurePosixPath:
    """Resource names are relative, '/'-separated and may not climb out of the folder."""
    rel = PurePosixPath(name.replace("\\", "/"))
    if not name or rel.is_absolute() or ".." in rel.parts:
        raise ValueError(f"invalid resource name {name!r}: use a relative path inside resources/")
    return rel


def resource(name: str) -> Traversable:
    """The resource as an importlib Traversable (works even when the package is zipped)."""
    node = resources.files(_PACKAGE).joinpath(_FOLDER)
    for part in _clean_name(name).parts:
        node = node.joinpath(part)
    if not node.is_file():
        raise FileNotFoundError(
            f"resource {name!r} is missing from the installed imgrag_desktop package; reinstall imgrag-desktop"
        )
    return node


def read_resource(name: str) -> bytes:
    return resource(name).read_bytes()


def read_text_resource(name: str) -> str:
    return resource(name).read_text(encoding="utf-8")


def resource_path(name: str) -> Path:
    """A real file path for APIs that need one (QIcon, file copies).

    Installed wheels and PyInstaller bundles keep resources as plain files, so this is normally
    the file itself. Should the package ever be imported from a zip, the bytes are copied once
    to a content-addressed file in the temp dir, which stays valid for the process's life
    (unlike `importlib.resources.as_file`, whose copy vanishes when its context closes).
    """
    node = resource(name)
    if isinstance(node, Path):
        return node
    data = node.read_bytes()
    digest = hashlib.blake2b(data, digest_size=8).hexdigest()
    out = Path(tempfile.gettempdir()) / f"imgrag-desktop-resources-{digest}" / _clean_name(name).name
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, out)
    return out


def icon_png_name(size: int) -> str:
    return f"icons/hicolor/{size}x{size}/apps/{APP_ID}.png"


def app_icon_path(size: int | None = None) -> Path:
    """The SVG icon, or the smallest PNG at least `size` pixels wide (the largest one past 512).

    Window icons should prefer the PNG set (`app_icon_paths`): SVG rendering needs Qt's SVG
    image plugin, which a trimmed bundle may lack.
    """
    if size is None:
        return resource_path(ICON_SVG)
    fitting = [s for s in ICON_SIZES if s >= size]
    return resource_path(icon_png_name(fitting[0] if fitting else ICON_SIZES[-1]))


def app_icon_paths() -> list[Path]:
    """Every PNG size, smallest first: QIcon picks the sharpest one for each place it is drawn."""
    return [resource_path(icon_png_name(s)) for s in ICON_SIZES]


def stylesheet() -> str:
    """The window's Qt style sheet; it takes its colours from the palette, light or dark."""
    return read_text_resource(STYLE_FILE)
