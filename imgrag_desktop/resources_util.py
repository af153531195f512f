"""Finding the app's resources (icon, style sheet, desktop files) wherever it runs.

They live in the top-level `resources/` folder of the source tree, installed inside the
package as `imgrag_desktop.resources` (pyproject's package-dir), so importlib.resources finds
them in a wheel, an editable install and a PyInstaller bundle alike. Never relative to the
working directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from imgrag_desktop.atomic import write_bytes
from imgrag_desktop.types import ImgragError

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


# Characters the Desktop Entry spec reserves in an Exec argument; such an argument is quoted.
_EXEC_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def quote_exec_arg(arg: str) -> str:
    """One argument of a .desktop Exec key, written as the Desktop Entry spec asks.

    A path holding a reserved character (a space, an apostrophe as in /home/o'brien, a '$')
    goes in double quotes with ", `, $ and \\ backslash-escaped; '%' doubles, since a single
    one starts a field code. Exec is also a string value, so every backslash is then doubled.
    Unquoted, such a path makes the entry invalid and the menu hides it.
    """
    if "\n" in arg or "\r" in arg:
        raise ImgragError(f"cannot put {arg!r} into a menu entry: the path has a line break")
    arg = arg.replace("%", "%%")
    if arg and not any(ch in _EXEC_RESERVED for ch in arg):
        quoted = arg
    else:
        quoted = '"' + "".join("\\" + ch if ch in '"`$\\' else ch for ch in arg) + '"'
    return quoted.replace("\\", "\\\\")


def desktop_file_text(exec_path: str | None = None) -> str:
    """The .desktop entry; with `exec_path`, Exec/TryExec point at that executable."""
    text = read_text(f"{APP_ID}.desktop")
    if not exec_path:
        return text
    lines = []
    for line in text.splitlines():
        key = line.split("=", 1)[0].strip()
        if key == "Exec":
            line = f"Exec={quote_exec_arg(exec_path)} %F"
        elif key == "TryExec":  # a plain string: no quoting, only the string escapes
            line = "TryExec=" + exec_path.replace("\\", "\\\\")
        lines.append(line)
    return "\n".join(lines) + "\n"


def find_gui_executable() -> str:
    """The `imgrag-desktop` launcher of the installation that is running now.

    First the one beside the interpreter or bundle executable (a virtualenv's bin/, a
    PyInstaller folder), which the desktop's launcher would not find on its own PATH; only then
    PATH, which may hold another, older installation.
    """
    names = ["imgrag-desktop.exe", "imgrag-desktop"] if sys.platform == "win32" else ["imgrag-desktop"]
    here = Path(sys.executable)
    for folder in dict.fromkeys([here.parent, here.resolve().parent]):
        for name in names:
            cand = folder / name
            if cand.is_file() and os.access(cand, os.X_OK):
                return str(cand.absolute())
    found = shutil.which("imgrag-desktop")
    if found:
        return str(Path(found).absolute())
    raise ImgragError(f"cannot find the imgrag-desktop command beside {sys.executable} or on PATH; "
                      "reinstall the app, or name the launcher with --exec PATH")


def _data_home(prefix: Path | None) -> Path:
    if prefix:
        return Path(prefix)
    xdg = os.environ.get("XDG_DATA_HOME", "")
    # The XDG spec says a relative value is invalid and must be ignored.
    return Path(xdg) if os.path.isabs(xdg) else Path.home() / ".local" / "share"


def _desktop_files(base: Path) -> dict[Path, str]:
    """Every file install_desktop_entry writes → the resource it comes from."""
    plan = {base / "applications" / f"{APP_ID}.desktop": f"{APP_ID}.desktop",
            base / "metainfo" / f"{APP_ID}.metainfo.xml": f"{APP_ID}.metainfo.xml"}
    for size in ICON_SIZES:
        plan[base / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"] = \
            f"icons/png/imgrag-desktop-{size}.png"
    plan[base / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"] = "icons/imgrag-desktop.svg"
    return plan


def _write_atomic(dest: Path, data: bytes) -> None:
    """A crash mid-write leaves the old file or none, never a truncated menu entry."""
    write_bytes(dest, data, chmod=0o644, prefix=f".{dest.name}-")


def refresh_menu_cache(base: Path) -> bool:
    """Rebuild the MIME → application cache beside the entry, as the Desktop Entry tools ask
    after adding a file with a MimeType; without it some desktops leave the app out of "Open
    with" until their next rebuild. Optional: False when the tool is absent or fails."""
    tool = shutil.which("update-desktop-database")
    apps = base / "applications"
    if not tool or not apps.is_dir():
        return False
    try:
        return subprocess.run([tool, "-q", str(apps)], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def install_desktop_entry(prefix: Path | None = None, exec_path: str | None = None,
                          refresh: bool = True) -> list[Path]:
    """Install the menu entry, icons and metainfo for the current user (XDG data dirs).

    `exec_path` is written as given (a packager staging files for /usr may name a launcher that
    is not installed yet); without it the launcher of this installation is looked up.
    """
    if sys.platform in ("win32", "darwin"):
        raise ImgragError("install-desktop writes freedesktop menu files (Linux, BSD); on Windows and macOS "
                          "start the app from its bundle or pin imgrag-desktop (see packaging/README.md)")
    base = _data_home(prefix)
    exec_path = exec_path or find_gui_executable()
    written = []
    for dest, name in _desktop_files(base).items():
        if name.endswith(".desktop"):
            data = desktop_file_text(exec_path).encode("utf-8")
        else:
            data = resource(name).read_bytes()
        _write_atomic(dest, data)
        written.append(dest)
    if refresh:
        refresh_menu_cache(base)
    return written


def uninstall_desktop_entry(prefix: Path | None = None, refresh: bool = True) -> list[Path]:
    """Remove exactly the files install_desktop_entry writes; other apps' files stay."""
    base = _data_home(prefix)
    removed = []
    for p in _desktop_files(base):
        if p.is_file() or p.is_symlink():
            p.unlink()
            removed.append(p)
    if refresh and removed:
        refresh_menu_cache(base)
    return removed
