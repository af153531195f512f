"""Resources load through importlib.resources, validate with the desktop tools, and ship in the wheel."""

import configparser
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from imgrag_desktop import resources_util as res

REPO = Path(__file__).resolve().parents[2]


def test_icon_svg_and_png_sizes():
    svg = res.app_icon_path()
    assert svg.suffix == ".svg" and "<svg" in svg.read_text("utf-8")
    for size in res.ICON_SIZES:
        with Image.open(res.app_icon_path(size)) as im:
            assert im.size == (size, size)
    assert res.app_icon_path(100).name == "imgrag-desktop-128.png"  # nearest size at or above


def test_stylesheet_loads():
    qss = res.stylesheet()
    assert "QListView#results" in qss and "QLineEdit#search" in qss


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils not installed")
def test_desktop_file_validates(tmp_path):
    src = res.resource_path(f"{res.APP_ID}.desktop")
    proc = subprocess.run(["desktop-file-validate", str(src)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The entry installed for a user (absolute Exec path) validates too.
    written = res.install_desktop_entry(tmp_path, exec_path="/opt/imgrag desktop/imgrag-desktop")
    desk = tmp_path / "applications" / f"{res.APP_ID}.desktop"
    assert desk in written
    proc = subprocess.run(["desktop-file-validate", str(desk)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    entry = configparser.ConfigParser(interpolation=None)
    entry.read(desk)
    assert entry["Desktop Entry"]["Exec"] == '"/opt/imgrag desktop/imgrag-desktop" %F'
    assert (tmp_path / "icons/hicolor/256x256/apps" / f"{res.APP_ID}.png").exists()
    removed = res.uninstall_desktop_entry(tmp_path)
    assert len(removed) == len(written) and not desk.exists()


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstream not installed")
def test_metainfo_validates():
    src = res.resource_path(f"{res.APP_ID}.metainfo.xml")
    proc = subprocess.run(["appstreamcli", "validate", "--no-net", str(src)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_subpackage_is_declared():
    """pyproject lists packages explicitly (resources/ is mapped in): a new subpackage must be added."""
    declared = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "imgrag_desktop").rglob("__init__.py")}
    assert found - declared == set()


def test_wheel_contains_resources_and_entry_points(tmp_path):
    """Built from a copy of what a clean checkout has (pip builds in the source folder, and
    its build/ and egg-info must not leak into, or race on, the working tree)."""
    src = tmp_path / "src"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(REPO / "imgrag_desktop", src / "imgrag_desktop", ignore=skip)
    shutil.copytree(REPO / "resources", src / "resources", ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    out = tmp_path / "wheel"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(out), str(src)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheel = next(out.glob("imgrag_desktop-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        ep = next(n for n in names if n.endswith("entry_points.txt"))
        entry_points = zf.read(ep).decode()
    for needed in ("imgrag_desktop/resources/style.qss", "imgrag_desktop/resources/icons/imgrag-desktop.svg",
                   "imgrag_desktop/resources/icons/png/imgrag-desktop-512.png",
                   f"imgrag_desktop/resources/{res.APP_ID}.desktop", f"imgrag_desktop/resources/{res.APP_ID}.metainfo.xml",
                   "imgrag_desktop/data/imgrag-tiny.json", "imgrag_desktop/gui/app.py", "imgrag_desktop/__main__.py"):
        assert needed in names, needed
    assert "imgrag = imgrag_desktop.cli:main" in entry_points
    # The window's entry point wires in the warm-query server (__main__.py; the window does not import the CLI).
    assert "imgrag-desktop = imgrag_desktop.__main__:main" in entry_points


# --- menu entry for a user install -------------------------------------------------------------
@pytest.mark.parametrize("exe, exec_value", [
    ("/usr/bin/imgrag-desktop", "/usr/bin/imgrag-desktop"),
    ("/opt/my apps (x86)/imgrag-desktop", '"/opt/my apps (x86)/imgrag-desktop"'),
    ("/home/o'brien/venv/bin/imgrag-desktop", "\"/home/o'brien/venv/bin/imgrag-desktop\""),
    ("/opt/a$b/imgrag-desktop", '"/opt/a\\\\$b/imgrag-desktop"'),
    ('/opt/q"t/imgrag-desktop', '"/opt/q\\\\"t/imgrag-desktop"'),
    ("/opt/back\\slash/imgrag-desktop", '"/opt/back\\\\\\\\slash/imgrag-desktop"'),
    ("/opt/100%/imgrag-desktop", "/opt/100%%/imgrag-desktop"),
])
def test_exec_path_is_quoted_as_the_desktop_entry_spec_asks(tmp_path, exe, exec_value):
    """Paths with spaces, quotes, '$', '%' or backslashes still give a valid entry."""
    res.install_desktop_entry(tmp_path, exec_path=exe, refresh=False)
    desk = tmp_path / "applications" / f"{res.APP_ID}.desktop"
    lines = desk.read_text("utf-8").splitlines()
    assert f"Exec={exec_value} %F" in lines
    if shutil.which("desktop-file-validate"):
        proc = subprocess.run(["desktop-file-validate", str(desk)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_line_break_in_the_launcher_path_is_refused(tmp_path):
    from imgrag_desktop.types import ImgragError

    with pytest.raises(ImgragError, match="line break"):
        res.install_desktop_entry(tmp_path, exec_path="/opt/a\nb/imgrag-desktop", refresh=False)
    assert not (tmp_path / "applications" / f"{res.APP_ID}.desktop").exists()


def _launcher(folder: Path, name: str = "imgrag-desktop") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / name
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    return exe


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX launcher scripts")
def test_the_launcher_beside_the_running_interpreter_wins_over_path(tmp_path, monkeypatch):
    """A menu entry must start this installation, not an older one earlier on PATH."""
    mine = _launcher(tmp_path / "venv" / "bin")
    other = _launcher(tmp_path / "elsewhere")
    monkeypatch.setattr(sys, "executable", str(tmp_path / "venv" / "bin" / "python"))
    monkeypatch.setenv("PATH", str(other.parent))
    assert res.find_gui_executable() == str(mine)
    mine.unlink()
    assert res.find_gui_executable() == str(other)
    other.unlink()
    from imgrag_desktop.types import ImgragError

    with pytest.raises(ImgragError, match="--exec"):
        res.find_gui_executable()


@pytest.mark.skipif(shutil.which("update-desktop-database") is None, reason="desktop-file-utils not installed")
def test_install_refreshes_the_open_with_cache_and_uninstall_leaves_other_apps(tmp_path):
    other = tmp_path / "applications" / "other.desktop"
    other.parent.mkdir(parents=True)
    other.write_text("[Desktop Entry]\nType=Application\nName=Other\nExec=other %f\nMimeType=image/png;\n")
    written = res.install_desktop_entry(tmp_path, exec_path="/usr/bin/imgrag-desktop")
    cache = (tmp_path / "applications" / "mimeinfo.cache").read_text("utf-8")
    assert f"image/jpeg={res.APP_ID}.desktop;" in cache  # offered in "Open with" for photos
    assert not list((tmp_path / "applications").glob(".*"))  # no temp file left behind
    removed = res.uninstall_desktop_entry(tmp_path)
    assert sorted(removed) == sorted(written)
    assert other.exists()
    assert res.APP_ID not in (tmp_path / "applications" / "mimeinfo.cache").read_text("utf-8")


def test_xdg_data_home_is_the_default_prefix_unless_relative(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    written = res.install_desktop_entry(exec_path="/usr/bin/imgrag-desktop", refresh=False)
    assert all(tmp_path / "xdg" in p.parents for p in written)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", "relative/share")  # invalid per the XDG spec: ignored
    written = res.install_desktop_entry(exec_path="/usr/bin/imgrag-desktop", refresh=False)
    assert written[0] == tmp_path / "home" / ".local" / "share" / "applications" / f"{res.APP_ID}.desktop"


def test_cli_install_desktop_and_uninstall(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO)}
    env.pop("XDG_DATA_HOME", None)
    base = [sys.executable, "-m", "imgrag_desktop.cli", "--data-dir", str(tmp_path / "data"), "install-desktop",
            "--prefix", str(tmp_path / "share")]
    proc = subprocess.run([*base, "--exec", str(tmp_path / "my apps" / "imgrag-desktop"), "--json"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    installed = [Path(p) for p in json.loads(proc.stdout)["installed"]]
    desk = tmp_path / "share" / "applications" / f"{res.APP_ID}.desktop"
    assert desk in installed and all(p.is_file() for p in installed)
    assert f'Exec="{tmp_path}/my apps/imgrag-desktop" %F' in desk.read_text("utf-8").splitlines()
    proc = subprocess.run([*base, "--uninstall", "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert sorted(Path(p) for p in json.loads(proc.stdout)["removed"]) == sorted(installed)
    assert not any(p.exists() for p in installed)
    assert not (tmp_path / "home" / ".local").exists()  # nothing went to the real menu


@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_install_desktop_says_it_is_for_freedesktop_systems(tmp_path, monkeypatch, platform):
    from imgrag_desktop.types import ImgragError

    monkeypatch.setattr(sys, "platform", platform)
    with pytest.raises(ImgragError, match="freedesktop"):
        res.install_desktop_entry(tmp_path, exec_path="/x/imgrag-desktop", refresh=False)
    assert not any(tmp_path.iterdir())
