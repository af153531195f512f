"""Resources load through importlib.resources, validate with the desktop tools, and ship in the wheel."""

import configparser
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
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path), str(REPO)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheel = next(tmp_path.glob("imgrag_desktop-*.whl"))
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
    assert "imgrag-desktop = imgrag_desktop.gui.app:main" in entry_points
