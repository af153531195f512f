"""Put the app into a freedesktop (Linux/BSD) application menu for the current user.

A pip or bundle install leaves `imgrag-desktop` inside a virtualenv or a bundle folder that the
desktop's launcher does not have on its PATH, so the installed .desktop file names the
executable by its absolute path. Files go under $XDG_DATA_HOME (~/.local/share), where every
freedesktop desktop looks, and only files this module wrote are removed again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from imgrag_desktop import resources_util as res
from imgrag_desktop.types import ImgragError

GUI_COMMAND = "imgrag-desktop"


def default_prefix() -> Path:
    xdg = os.environ.get("XDG_DATA_HOME", "").strip()
    return Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "share"


def find_gui_executable() -> Path:
    """The `imgrag-desktop` launcher that belongs to this installation.

    Looked up next to the running interpreter/executable first (a virtualenv's bin/ or a
    bundle's folder), then on PATH, so the menu entry starts this copy rather than another.
    """
    exe_dir = Path(sys.executable).resolve().parent
    candidates = [Path(sys.executable).parent / GUI_COMMAND, exe_dir / GUI_COMMAND]
    if sys.platform == "win32":
        candidates = [c.with_suffix(".exe") for c in candidates]
    for cand in candidates:
        if cand.is_file() and os.access(cand, os.X_OK):
            return cand.absolute()
    found = shutil.which(GUI_COMMAND)
    if found:
        return Path(found).absolute()
    raise ImgragError(
        f"cannot find the {GUI_COMMAND} command next to {sys.executable} or on PATH; "
        "install the package (pip install imgrag-desktop) or pass --exec PATH"
    )


def quote_exec_arg(arg: str) -> str:
    """Quote one argument for a .desktop Exec key (Desktop Entry spec, 'The Exec key').

    Reserved characters need double quotes, inside which ", `, $ and \\ are backslash-escaped;
    the whole value is then a string value, whose own escaping doubles every backslash.
    """
    reserved = set(" \t\n\"'\\><~|&;$*?#()`")
    if arg and not any(ch in reserved for ch in arg):
        quoted = arg
    else:
        inner = "".join("\\" + ch if ch in '"`$\\' else ch for ch in arg)
        quoted = f'"{inner}"'
    return quoted.replace("\\", "\\\\")


def render_desktop_entry(template: str, executable: Path) -> str:
    """The packaged .desktop file with Exec/TryExec pointing at `executable`."""
    if "\n" in str(executable) or "%" in str(executable):
        raise ImgragError(f"cannot put {executable} into a menu entry: the path has a newline or a '%'")
    lines = []
    for line in template.splitlines():
        key = line.split("=", 1)[0].strip()
        if key == "Exec":
            line = f"Exec={quote_exec_arg(str(executable))} %F"
        elif key == "TryExec":
            line = f"TryExec={str(executable).replace(chr(92), chr(92) * 2)}"
        lines.append(line)
    return "\n".join(lines) + "\n"


@dataclass
class InstallReport:
    prefix: Path
    executable: Path | None
    files: list[Path] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "prefix": str(self.prefix),
            "executable": str(self.executable) if self.executable else None,
            "files": [str(p) for p in self.files],
            "refreshed": self.refreshed,
        }


def planned_files(prefix: Path) -> dict[Path, str]:
    """Destination → resource name, for every file install() writes."""
    plan = {
        prefix / "applications" / res.DESKTOP_FILE: res.DESKTOP_FILE,
        prefix / "metainfo" / res.METAINFO_FILE: res.METAINFO_FILE,
        prefix / res.ICON_SVG: res.ICON_SVG,
    }
    for size in res.ICON_SIZES:
        name = res.icon_png_name(size)
        plan[prefix / name] = name
    return plan


def _write_atomic(dest: Path, data: bytes) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}-", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _refresh_caches(prefix: Path) -> list[str]:
    """Tell the desktop about the new files; every tool is optional and failures are harmless."""
    done = []
    jobs = [
        ("update-desktop-database", ["-q", str(prefix / "applications")]),
        ("gtk-update-icon-cache", ["-q", "-t", "-f", str(prefix / "icons" / "hicolor")]),
    ]
    for tool, args in jobs:
        path = shutil.which(tool)
        if not path:
            continue
        try:
            proc = subprocess.run([path, *args], capture_output=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if proc.returncode == 0:
            done.append(tool)
    return done


def _check_platform() -> None:
    if sys.platform == "win32" or sys.platform == "darwin":
        raise ImgragError(
            "install-desktop is for Linux/BSD desktops; on Windows and macOS use the bundle "
            "(see packaging/README.md) and pin or drag it to the Start menu or Applications"
        )


def install(
    prefix: Path | None = None, executable: Path | None = None, refresh: bool = True
) -> InstallReport:
    """Write the menu entry, icons and AppStream metadata under `prefix` (default ~/.local/share)."""
    _check_platform()
    prefix = Path(prefix) if prefix else default_prefix()
    exe = Path(executable).expanduser().absolute() if executable else find_gui_executable()
    if not exe.is_file():
        raise ImgragError(f"{exe} is not a file: pass the path of the imgrag-desktop executable")
    report = InstallReport(prefix=prefix, executable=exe)
    for dest, name in planned_files(prefix).items():
        if name == res.DESKTOP_FILE:
            data = render_desktop_entry(res.read_text_resource(name), exe).encode("utf-8")
        else:
            data = res.read_resource(name)
        _write_atomic(dest, data)
        report.files.append(dest)
    if refresh:
        report.refreshed = _refresh_caches(prefix)
    return report


def uninstall(prefix: Path | None = None, refresh: bool = True) -> InstallReport:
    """Remove exactly the files install() writes; folders and other apps' files stay."""
    _check_platform()
    prefix = Path(prefix) if prefix else default_prefix()
    report = InstallReport(prefix=prefix, executable=None)
    for dest in planned_files(prefix):
        if dest.is_file() or dest.is_symlink():
            dest.unlink()
            report.files.append(dest)
    if refresh and report.files:
        report.refreshed = _refresh_caches(prefix)
    return report
