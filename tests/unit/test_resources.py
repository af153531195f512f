"""Shipped resources: found through importlib.resources, valid for the desktop's own validators,
present in the built wheel, and installable into a menu prefix."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from imgrag_desktop import desktop_integration as di
from imgrag_desktop import resources_util as res

ROOT = Path(__file__).resolve().parents[2]


def test_every_icon_size_is_a_square_png_of_that_size():
    for size in res.ICON_SIZES:
        path = res.app_icon_path(size)
        assert path.is_file()
        with Image.open(path) as im:
            assert im.format == "PNG"
            assert im.size == (size, size)
            assert im.mode == "RGBA"
            # The corners are transparent (rounded tile), the centre is opaque.
            assert im.getpixel((0, 0))[3] == 0
            assert im.getpixel((size // 2, size // 2))[3] == 255
    assert [p.name for p in res.app_icon_paths()] == [f"{res.APP_ID}.png"] * len(res.ICON_SIZES)


def test_icon_lookup_picks_the_smallest_png_that_is_large_enough():
    assert res.app_icon_path(20).parent.parent.name == "24x24"
    assert res.app_icon_path(48).parent.parent.name == "48x48"
    assert res.app_icon_path(4096).parent.parent.name == "512x512"
    svg = res.app_icon_path()
    root = ET.fromstring(svg.read_bytes())
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox") == "0 0 128 128"


def test_resources_are_read_through_importlib_not_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    qss = res.stylesheet()
    assert "QLineEdit#searchField" in qss
    assert qss.count("{") == qss.count("}") > 5
    assert res.read_resource(res.DESKTOP_FILE).startswith(b"[Desktop Entry]")
    path = res.resource_path(res.STYLE_FILE)
    assert path.is_absolute() and path.read_text("utf-8") == qss
    # The files sit inside the package that was imported, wherever that is installed.
    import imgrag_desktop

    assert Path(imgrag_desktop.__file__).parent in path.parents


@pytest.mark.parametrize("bad", ["", "/etc/passwd", "../pyproject.toml", "icons/../../config.py"])
def test_resource_names_cannot_leave_the_resources_folder(bad):
    with pytest.raises(ValueError, match="invalid resource name"):
        res.read_resource(bad)


def test_a_missing_resource_says_to_reinstall():
    with pytest.raises(FileNotFoundError, match="reinstall imgrag-desktop"):
        res.read_resource("no-such-file.png")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.skip(f"{name} is not installed (Debian package: "
                    f"{'desktop-file-utils' if name == 'desktop-file-validate' else 'appstream'})")
    return path


def test_desktop_file_passes_desktop_file_validate():
    tool = _tool("desktop-file-validate")
    proc = subprocess.run([tool, str(res.resource_path(res.DESKTOP_FILE))], capture_output=True, text=True)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr
    text = res.read_text_resource(res.DESKTOP_FILE)
    assert f"Icon={res.APP_ID}\n" in text
    assert "Exec=imgrag-desktop %F\n" in text
    assert "image/jpeg;" in text and "image/png;" in text


def test_metainfo_passes_appstreamcli_validate():
    tool = _tool("appstreamcli")
    path = res.resource_path(res.METAINFO_FILE)
    proc = subprocess.run([tool, "validate", "--no-net", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    root = ET.parse(path).getroot()
    assert root.findtext("id") == res.APP_ID
    assert root.findtext("launchable") == res.DESKTOP_FILE
    import imgrag_desktop

    assert root.find("releases/release").get("version") == imgrag_desktop.__version__


@pytest.mark.parametrize("arg, expected", [
    ("/usr/bin/imgrag-desktop", "/usr/bin/imgrag-desktop"),
    ("/home/me/My Apps/imgrag-desktop", '"/home/me/My Apps/imgrag-desktop"'),
    ('/opt/a"b$c`d\\e', '"/opt/a\\\\"b\\\\$c\\\\`d\\\\\\\\e"'),
])
def test_exec_quoting_follows_the_desktop_entry_spec(arg, expected):
    assert di.quote_exec_arg(arg) == expected


def _fake_launcher(folder: Path) -> Path:
    exe = folder / "imgrag-desktop"
    exe.parent.mkdir(parents=True, exist_ok=True)
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    return exe


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="freedesktop menus only")
def test_install_desktop_writes_a_valid_entry_pointing_at_the_launcher_and_uninstall_removes_it(tmp_path):
    exe = _fake_launcher(tmp_path / "venv with space" / "bin")
    prefix = tmp_path / "share"
    neighbour = prefix / "applications" / "other.desktop"
    neighbour.parent.mkdir(parents=True)
    neighbour.write_text("[Desktop Entry]\n")

    report = di.install(prefix=prefix, executable=exe, refresh=True)
    entry = prefix / "applications" / res.DESKTOP_FILE
    assert entry in report.files and len(report.files) == len(res.ICON_SIZES) + 3
    text = entry.read_text("utf-8")
    assert f'Exec="{exe}" %F\n' in text
    assert f"TryExec={exe}\n" in text
    assert (prefix / "icons/hicolor/256x256/apps" / f"{res.APP_ID}.png").read_bytes() == res.read_resource(
        res.icon_png_name(256))
    assert (prefix / "metainfo" / res.METAINFO_FILE).is_file()
    if shutil.which("desktop-file-validate"):
        proc = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout

    mime_cache = prefix / "applications" / "mimeinfo.cache"
    if shutil.which("update-desktop-database"):
        # The desktop now offers the app in "Open with" for images.
        assert "update-desktop-database" in report.refreshed
        assert f"image/jpeg={res.DESKTOP_FILE};" in mime_cache.read_text("utf-8")

    removed = di.uninstall(prefix=prefix, refresh=True)
    assert sorted(removed.files) == sorted(report.files)
    assert not entry.exists() and neighbour.exists()
    if mime_cache.exists():
        assert res.DESKTOP_FILE not in mime_cache.read_text("utf-8")


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="freedesktop menus only")
def test_install_desktop_refuses_a_missing_executable(tmp_path):
    from imgrag_desktop.types import ImgragError

    with pytest.raises(ImgragError, match="is not a file"):
        di.install(prefix=tmp_path / "share", executable=tmp_path / "nope", refresh=False)
    assert not (tmp_path / "share").exists()


def test_default_prefix_follows_xdg_data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert di.default_prefix() == tmp_path
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")
    assert di.default_prefix() == Path.home() / ".local" / "share"


def test_built_wheel_contains_the_resources_and_both_commands(tmp_path):
    """Build from a copy, so the checkout gets no build/ or egg-info; no deps, no isolation
    (the venv's setuptools), so the build needs no network."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "imgrag_desktop", src / "imgrag_desktop",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "out")],
        cwd=src, capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = (tmp_path / "out").glob("imgrag_desktop-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        record = next(n for n in names if n.endswith(".dist-info/RECORD"))
        recorded = {line.split(",")[0] for line in zf.read(record).decode().splitlines()}
        entry_points = zf.read(record.replace("RECORD", "entry_points.txt")).decode()
    wanted = [f"imgrag_desktop/resources/{n}" for n in (
        res.DESKTOP_FILE, res.METAINFO_FILE, res.STYLE_FILE, res.ICON_SVG,
        *(res.icon_png_name(s) for s in res.ICON_SIZES))]
    wanted += ["imgrag_desktop/resources_util.py", "imgrag_desktop/data/imgrag-tiny.json"]
    for name in wanted:
        assert name in names and name in recorded, name
    assert "imgrag = imgrag_desktop.cli:main" in entry_points
    assert "imgrag-desktop = imgrag_desktop.gui.app:main" in entry_points
