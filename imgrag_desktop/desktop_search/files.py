"""The files that make the desktops find the search service, under the user's XDG data dir.

- `dbus-1/services/<bus name>.service`: D-Bus starts `imgrag desktop-search run` on the first
  call (the session bus reads $XDG_DATA_HOME/dbus-1/services);
- `gnome-shell/search-providers/<app id>.search-provider.ini`: GNOME Shell's provider entry,
  naming the app's .desktop file, the bus name and the object path;
- `krunner/dbusplugins/<app id>.desktop`: KRunner's D-Bus runner entry (Plasma 5 and 6);
- `applications/<app id>.desktop`, only when no menu entry of the app is installed: GNOME shows
  a provider only for an installed application.

What was written is listed with its checksum in `imgrag-desktop/desktop-search.json` beside
them; uninstall removes exactly those files, and only while they still hold what was written
(a file the user edited, or one `install-desktop` owns, stays). No file needs root.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from imgrag_desktop.atomic import write_bytes
from imgrag_desktop.desktop_search import BUS_NAME, GNOME_PATH, KRUNNER_PATH, MIN_CHARS
from imgrag_desktop.resources_util import APP_ID, _data_home, desktop_file_text, quote_exec_arg
from imgrag_desktop.types import ImgragError

MANIFEST = Path("imgrag-desktop") / "desktop-search.json"


def data_home(prefix: Path | None = None) -> Path:
    return _data_home(prefix)


def default_command() -> list[str]:
    """The `imgrag` of this installation (beside the interpreter first, as for the menu entry),
    else this interpreter running the command-line module."""
    here = Path(sys.executable)
    for folder in dict.fromkeys([here.parent, here.resolve().parent]):
        cand = folder / "imgrag"
        if cand.is_file() and os.access(cand, os.X_OK):
            return [str(cand.absolute())]
    found = shutil.which("imgrag")
    if found:
        return [str(Path(found).absolute())]
    return [str(here.absolute()), "-m", "imgrag_desktop.cli"]


def service_argv(command: list[str], data_dir: str | None = None, profile: str | None = None) -> list[str]:
    argv = list(command)
    if data_dir:
        argv += ["--data-dir", str(Path(data_dir).expanduser().absolute())]
    if profile:
        argv += ["--profile", profile]
    return argv + ["desktop-search", "run"]


def _exec_line(argv: list[str]) -> str:
    for a in argv:
        if "\n" in a or "\r" in a:
            raise ImgragError(f"cannot put {a!r} into a D-Bus service file: the path has a line break")
    return " ".join(shlex.quote(a) for a in argv)  # dbus-daemon splits Exec with shell quoting rules


def dbus_service_text(argv: list[str]) -> str:
    return f"[D-BUS Service]\nName={BUS_NAME}\nExec={_exec_line(argv)}\n"


def gnome_ini_text() -> str:
    return ("[Shell Search Provider]\n"
            f"DesktopId={APP_ID}.desktop\n"
            f"BusName={BUS_NAME}\n"
            f"ObjectPath={GNOME_PATH}\n"
            "Version=2\n")


def krunner_text() -> str:
    return ("[Desktop Entry]\n"
            "Type=Service\n"
            "Name=imgrag photos\n"
            "Comment=Find your photos and screenshots by what is in them\n"
            f"Icon={APP_ID}\n"
            "X-KDE-ServiceTypes=Plasma/Runner\n"
            "X-Plasma-API=DBus\n"
            "X-Plasma-API-Minimum-Version=2.0\n"
            f"X-KDE-PluginInfo-Name={APP_ID}\n"
            "X-KDE-PluginInfo-Version=1.0\n"
            "X-KDE-PluginInfo-EnabledByDefault=true\n"
            f"X-Plasma-DBusRunner-Service={BUS_NAME}\n"
            f"X-Plasma-DBusRunner-Path={KRUNNER_PATH}\n"
            "X-Plasma-Request-Actions-Once=true\n"
            f"X-Plasma-Runner-Min-Letter-Count={MIN_CHARS}\n")


def _system_data_dirs() -> list[Path]:
    raw = os.environ.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share"
    return [Path(d) for d in raw.split(":") if d and os.path.isabs(d)]


def app_entry_installed(base: Path) -> Path | None:
    """Where the app's menu entry already is (the user's data dir or a system one), or None."""
    for d in [base, *_system_data_dirs()]:
        p = d / "applications" / f"{APP_ID}.desktop"
        if p.is_file():
            return p
    return None


def gnome_sees(base: Path) -> bool:
    """GNOME Shell reads search providers from the system data dirs only ($XDG_DATA_DIRS),
    not from $XDG_DATA_HOME: whether `base` is one of them in this session."""
    try:
        real = base.resolve()
        return any(d.resolve() == real for d in _system_data_dirs())
    except OSError:
        return False


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_manifest(base: Path) -> dict[str, str]:
    try:
        raw = json.loads((base / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    files = raw.get("files") if isinstance(raw, dict) else None
    return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}


def _write_manifest(base: Path, files: dict[str, str]) -> None:
    dest = base / MANIFEST
    if not files:
        try:
            dest.unlink()
        except FileNotFoundError:
            pass
        return
    write_bytes(dest, json.dumps({"files": files}, indent=2, sort_keys=True).encode("utf-8"), chmod=0o644,
                prefix=f".{dest.name}-")


def config_home() -> Path:
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    return Path(xdg) if os.path.isabs(xdg) else Path.home() / ".config"


def session_env_file() -> Path:
    return config_home() / "environment.d" / "60-imgrag-desktop-search.conf"


def session_env_text(base: Path) -> str:
    """systemd's environment.d line that puts `base` into XDG_DATA_DIRS for the next login:
    GNOME Shell runs under the user's systemd manager and reads providers from there."""
    where = str(base.absolute())
    if "\n" in where or "$" in where or "\\" in where:
        raise ImgragError(f"cannot name {where!r} in an environment.d file")
    return ("# Written by `imgrag desktop-search install --session-env`: GNOME Shell reads search\n"
            "# providers from $XDG_DATA_DIRS only. Removed by `imgrag desktop-search uninstall`.\n"
            f"XDG_DATA_DIRS={where}:${{XDG_DATA_DIRS:-/usr/local/share:/usr/share}}\n")


def plan(base: Path, argv: list[str], gui_exec: str | None, session_env: bool = False) -> dict[Path, str]:
    """Every file install writes → its text."""
    out = {
        base / "dbus-1" / "services" / f"{BUS_NAME}.service": dbus_service_text(argv),
        base / "gnome-shell" / "search-providers" / f"{APP_ID}.search-provider.ini": gnome_ini_text(),
        base / "krunner" / "dbusplugins" / f"{APP_ID}.desktop": krunner_text(),
    }
    if app_entry_installed(base) is None:
        out[base / "applications" / f"{APP_ID}.desktop"] = _menu_entry(argv, gui_exec)
    if session_env and not gnome_sees(base):
        out[session_env_file()] = session_env_text(base)
    return out


def _menu_entry(argv: list[str], gui_exec: str | None) -> str:
    if gui_exec:
        return desktop_file_text(gui_exec)
    # No imgrag-desktop launcher: the entry opens the window through `imgrag gui`.
    gui_argv = [a for a in argv if a not in ("desktop-search", "run")] + ["gui"]
    text = desktop_file_text(None)
    lines = []
    for line in text.splitlines():
        key = line.split("=", 1)[0].strip()
        if key == "Exec":
            line = "Exec=" + " ".join(quote_exec_arg(a) for a in gui_argv)
        elif key == "TryExec":
            line = "TryExec=" + gui_argv[0].replace("\\", "\\\\")
        lines.append(line)
    return "\n".join(lines) + "\n"


def install(prefix: Path | None = None, argv: list[str] | None = None, gui_exec: str | None = None,
            session_env: bool = False) -> dict[str, Any]:
    """Write the activation files; returns what was written and whether GNOME will see it.
    With `session_env`, also the environment.d file that makes GNOME see it after a new login."""
    if sys.platform in ("win32", "darwin"):
        raise ImgragError("desktop search is a freedesktop D-Bus service (GNOME Shell, KRunner): Linux and BSD only")
    base = data_home(prefix)
    argv = argv or service_argv(default_command())
    files = _read_manifest(base)
    written = []
    for dest, text in plan(base, argv, gui_exec, session_env).items():
        data = text.encode("utf-8")
        write_bytes(dest, data, chmod=0o644, prefix=f".{dest.name}-")
        files[str(dest)] = _digest(data)
        written.append(dest)
    _write_manifest(base, files)
    return {"installed": [str(p) for p in written], "exec": argv, "gnome_sees_user_dir": gnome_sees(base),
            "session_env": str(session_env_file()) if session_env_file() in written else None,
            "manifest": str(base / MANIFEST)}


def uninstall(prefix: Path | None = None) -> dict[str, Any]:
    """Remove what install wrote and still holds what it wrote; say what was kept and why."""
    base = data_home(prefix)
    files = _read_manifest(base)
    removed, kept = [], []
    for name, digest in sorted(files.items()):
        p = Path(name)
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            continue
        except OSError as exc:
            kept.append({"path": name, "why": str(exc)})
            continue
        if _digest(data) != digest:
            kept.append({"path": name, "why": "changed since it was installed"})
            continue
        p.unlink()
        removed.append(name)
    _write_manifest(base, {})
    return {"removed": removed, "kept": kept}
