"""The desktop search's parts without a bus: activation files, the provider's answers, the
D-Bus dispatch and introspection (tests/e2e/test_desktop_search.py runs them on a real bus)."""

from __future__ import annotations

import configparser
import json
import shlex
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from imgrag_desktop import imaging
from imgrag_desktop.desktop_search import BUS_NAME, GNOME_IFACE, GNOME_PATH, KRUNNER_IFACE, KRUNNER_PATH, files
from imgrag_desktop.desktop_search.bus import DBusFailure, Service, introspect
from imgrag_desktop.desktop_search.provider import Actions, Provider, describe, query_text
from imgrag_desktop.resources_util import APP_ID


def _ini(path: Path) -> configparser.ConfigParser:
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    assert cp.read(path, encoding="utf-8") == [str(path)]
    return cp


@pytest.fixture
def no_system_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """XDG_DATA_DIRS of this test: an empty system dir (no menu entry of the app installed)."""
    system = tmp_path / "system-share"
    system.mkdir()
    monkeypatch.setenv("XDG_DATA_DIRS", str(system))
    return system


def test_install_writes_the_activation_files_and_uninstall_removes_only_them(tmp_path, no_system_entry):
    base = tmp_path / "home share"
    cmd = ["/opt/o'brien apps/imgrag"]
    argv = files.service_argv(cmd, str(tmp_path / "my data"), "test")
    done = files.install(base, argv, gui_exec="/opt/o'brien apps/imgrag-desktop")
    service = base / "dbus-1" / "services" / f"{BUS_NAME}.service"
    ini = base / "gnome-shell" / "search-providers" / f"{APP_ID}.search-provider.ini"
    runner = base / "krunner" / "dbusplugins" / f"{APP_ID}.desktop"
    entry = base / "applications" / f"{APP_ID}.desktop"
    assert sorted(done["installed"]) == sorted(map(str, (service, ini, runner, entry)))
    assert done["gnome_sees_user_dir"] is False  # GNOME reads providers from XDG_DATA_DIRS only

    svc = _ini(service)["D-BUS Service"]
    assert svc["Name"] == BUS_NAME
    assert shlex.split(svc["Exec"]) == [cmd[0], "--data-dir", str(tmp_path / "my data"), "--profile", "test",
                                        "desktop-search", "run"]
    gnome = _ini(ini)["Shell Search Provider"]
    assert dict(gnome) == {"DesktopId": f"{APP_ID}.desktop", "BusName": BUS_NAME, "ObjectPath": GNOME_PATH,
                           "Version": "2"}
    assert (base / "applications" / gnome["DesktopId"]) == entry  # GNOME shows providers of installed apps only
    kr = _ini(runner)["Desktop Entry"]
    assert kr["X-Plasma-API"] == "DBus" and kr["X-Plasma-DBusRunner-Service"] == BUS_NAME
    assert kr["X-Plasma-DBusRunner-Path"] == KRUNNER_PATH and kr["X-KDE-ServiceTypes"] == "Plasma/Runner"
    if shutil.which("desktop-file-validate"):
        proc = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr

    # A file the user changed since stays; the others and the manifest go; other files are untouched.
    other = base / "dbus-1" / "services" / "org.example.Other.service"
    other.write_text("[D-BUS Service]\nName=org.example.Other\nExec=/bin/true\n")
    runner.write_text(runner.read_text() + "X-Plasma-Runner-Min-Letter-Count=5\n")
    gone = files.uninstall(base)
    assert sorted(gone["removed"]) == sorted(map(str, (service, ini, entry)))
    assert gone["kept"] == [{"path": str(runner), "why": "changed since it was installed"}]
    assert runner.exists() and other.exists() and not service.exists()
    assert not (base / files.MANIFEST).exists()
    assert files.uninstall(base) == {"removed": [], "kept": []}


def test_an_installed_menu_entry_is_neither_overwritten_nor_removed(tmp_path, no_system_entry):
    base = tmp_path / "share"
    entry = no_system_entry / "applications" / f"{APP_ID}.desktop"
    entry.parent.mkdir(parents=True)
    entry.write_text("[Desktop Entry]\nType=Application\nName=imgrag\nExec=imgrag-desktop\n")
    done = files.install(base, files.service_argv(["imgrag"]))
    assert len(done["installed"]) == 3 and not (base / "applications").exists()
    # Installing twice keeps one manifest entry per file; uninstall then removes all three.
    files.install(base, files.service_argv(["imgrag"]))
    assert len(json.loads((base / files.MANIFEST).read_text())["files"]) == 3
    assert len(files.uninstall(base)["removed"]) == 3 and entry.exists()


def test_the_menu_entry_opens_the_window_through_imgrag_gui_without_a_launcher(tmp_path, no_system_entry):
    base = tmp_path / "share"
    files.install(base, files.service_argv(["/usr/bin/python3", "-m", "imgrag_desktop.cli"], None, "test"))
    entry = _ini(base / "applications" / f"{APP_ID}.desktop")["Desktop Entry"]
    assert entry["Exec"] == "/usr/bin/python3 -m imgrag_desktop.cli --profile test gui"


def test_a_line_break_in_the_command_is_refused(tmp_path, no_system_entry):
    from imgrag_desktop.types import ImgragError

    with pytest.raises(ImgragError, match="line break"):
        files.install(tmp_path, files.service_argv(["/opt/bad\nname/imgrag"]))
    assert not (tmp_path / "dbus-1").exists()


# -- the provider ------------------------------------------------------------------------------------------
class Library:
    """A search over a fixed list of real files: the words of the query must be in the name."""

    def __init__(self, photos: list[Path]) -> None:
        self.photos = photos
        self.asked: list[tuple[str, int]] = []

    def __call__(self, text: str, limit: int) -> list[dict[str, Any]]:
        self.asked.append((text, limit))
        words = text.lower().split()
        hits = [{"path": str(p), "taken_at": 1_700_000_000.0} for p in self.photos
                if all(w in p.name for w in words)]
        return (hits + hits)[:limit]  # duplicates must not reach the desktop


class Opened:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def actions(self) -> Actions:
        return Actions(*(lambda arg, k=kind: self.calls.append((k, arg))
                         for kind in ("photo", "search", "similar", "folder")))


@pytest.fixture
def photos(tmp_path: Path) -> tuple[list[Path], Path]:
    pics, thumbs = tmp_path / "pics", tmp_path / "thumbs"
    pics.mkdir()
    out = []
    for i, name in enumerate(["red_car.jpg", "red_bus.jpg", "blue_car.jpg"]):
        p = pics / name
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (300, 200, 3), dtype=np.uint8)).save(p)
        out.append(p)
    # The index's thumbnail of the first, as the indexer caches it (by content hash).
    dec, data = imaging.decode_path(str(out[0]))
    imaging.save_thumbnail(dec.image, thumbs, imaging.content_hash(data))
    return out, thumbs


def test_the_provider_answers_from_the_search_with_limits_and_metas(photos):
    pics, thumbs = photos
    lib, opened = Library(pics), Opened()
    p = Provider(lib, opened.actions(), thumbs_dir=thumbs, limit=2)
    assert p.initial(["ca"]) == [] and p.initial(["  ", "c"]) == [] and lib.asked == []  # < 3 characters
    assert p.initial(["car"]) == [str(pics[0]), str(pics[2])] and lib.asked == [("car", 2)]
    assert p.subsearch([str(pics[0]), str(pics[2])], ["red", "car"]) == [str(pics[0])]
    assert lib.asked[-1] == ("red car", 2)

    meta, meta2 = p.metas([str(pics[0]), str(pics[2])])
    assert meta["id"] == str(pics[0]) and meta["name"] == "red_car.jpg"
    assert meta["description"].startswith(str(pics[0].parent)) and "2023" in meta["description"]
    with Image.open(meta["thumbnail"]) as im:  # the index's own thumbnail
        assert max(im.size) == imaging.THUMB_SIZE
    # A photo without a cached thumbnail gets one made in the data dir's cache (not beside the photo).
    assert meta2["thumbnail"] and Path(meta2["thumbnail"]).is_relative_to(thumbs)
    assert sorted(x.name for x in pics[0].parent.iterdir()) == sorted(x.name for x in pics)

    (mid, text, icon, kind, rel, props), = p.krunner_matches("red car")
    assert (mid, text) == (str(pics[0]), "red_car.jpg") and 0 < rel <= 1
    w, h, stride, alpha, bits, channels, data = props["icon-data"]
    assert max(w, h) == 64 and stride == 3 * w and len(data) == stride * h and (alpha, bits, channels) == (False, 8, 3)
    assert props["urls"] == [pics[0].as_uri()]

    p.activate(str(pics[0]))
    p.krunner_run(str(pics[0]), "folder")
    p.krunner_run(str(pics[0]), "similar")
    p.launch(["red", "car"])
    assert opened.calls == [("photo", str(pics[0])), ("folder", str(pics[0])), ("similar", str(pics[0])),
                            ("search", "red car")]
    with pytest.raises(ValueError):  # not a result of this search: never opened
        p.activate(str(pics[1]))
    with pytest.raises(ValueError):
        p.activate("/etc/passwd")
    assert len(opened.calls) == 4


def test_describe_and_query_text():
    assert query_text(["  a", "", "dog "]) == "a dog"
    assert describe({"path": "/home/u/Pictures/x.jpg", "taken_at": None, "mtime": 0}, home="/home/u") == "~/Pictures"
    assert describe({"path": "/data/x.jpg"}, home="/home/u") == "/data"


# -- dispatch and introspection ------------------------------------------------------------------------------
def test_dispatch_checks_objects_members_and_signatures(photos):
    pics, thumbs = photos
    svc = Service(Provider(Library(pics), Opened().actions(), thumbs_dir=thumbs))
    assert svc.dispatch(GNOME_PATH, GNOME_IFACE, "GetInitialResultSet", "as", (["blue"],)) == ("as", ([str(pics[2])],))
    out_sig, (metas,) = svc.dispatch(GNOME_PATH, None, "GetResultMetas", "as", ([str(pics[2])],))
    assert out_sig == "aa{sv}" and metas[0]["name"] == ("s", "blue_car.jpg") and metas[0]["gicon"][0] == "s"
    out_sig, (matches,) = svc.dispatch(KRUNNER_PATH, KRUNNER_IFACE, "Match", "s", ("blue car",))
    assert out_sig == "a(sssida{sv})" and matches[0][0] == str(pics[2])
    assert matches[0][5]["icon-data"][0] == "(iiibiiay)"
    assert svc.dispatch(KRUNNER_PATH, None, "Config", "", ()) == ("a{sv}", ({"MinLetterCount": ("i", 3)},))
    for args, error in [((GNOME_PATH, GNOME_IFACE, "GetInitialResultSet", "s", ("x",)), "InvalidArgs"),
                        ((GNOME_PATH, KRUNNER_IFACE, "Match", "s", ("x",)), "UnknownMethod"),
                        ((GNOME_PATH, GNOME_IFACE, "Nope", "", ()), "UnknownMethod"),
                        (("/elsewhere", None, "Match", "s", ("x",)), "UnknownObject")]:
        with pytest.raises(DBusFailure) as exc:
            svc.dispatch(*args)
        assert exc.value.name == f"org.freedesktop.DBus.Error.{error}"


def test_introspection_lists_both_interfaces_as_the_desktops_define_them():
    root = ET.fromstring(introspect(GNOME_PATH).split("\n", 1)[1])
    methods = {m.get("name"): [(a.get("type"), a.get("direction")) for a in m.findall("arg")]
               for i in root.findall("interface") if i.get("name") == GNOME_IFACE for m in i.findall("method")}
    assert methods == {
        "GetInitialResultSet": [("as", "in"), ("as", "out")],
        "GetSubsearchResultSet": [("as", "in"), ("as", "in"), ("as", "out")],
        "GetResultMetas": [("as", "in"), ("aa{sv}", "out")],
        "ActivateResult": [("s", "in"), ("as", "in"), ("u", "in")],
        "LaunchSearch": [("as", "in"), ("u", "in")],
    }
    kr = ET.fromstring(introspect(KRUNNER_PATH).split("\n", 1)[1])
    assert {m.get("name") for i in kr.findall("interface") if i.get("name") == KRUNNER_IFACE
            for m in i.findall("method")} == {"Actions", "Match", "Run", "Teardown", "Config"}
    top = ET.fromstring(introspect("/").split("\n", 1)[1])
    assert [n.get("name") for n in top.findall("node")] == ["io"]
    below = ET.fromstring(introspect("/io/github/imgrag/Desktop").split("\n", 1)[1])
    assert sorted(n.get("name") for n in below.findall("node")) == ["Runner", "SearchProvider"]


def test_each_query_is_the_search_command_as_the_command_line_parses_it(tmp_path):
    """The warm server runs the request's arguments as `imgrag search` would: they must be the
    parser's own, defaults included, or a warm answer could differ from a cold one."""
    from imgrag_desktop.cli import build_parser
    from imgrag_desktop.cli.commands.desktop_search import Searcher

    s = Searcher(str(tmp_path / "data"), "test", min_score="off")
    _, req = s._request("a -dog", 7)
    parsed = vars(build_parser().parse_args(["search", "--json", "--data-dir", str(tmp_path / "data"),
                                             "--profile", "test", "--min-score", "off", "-k", "7", "x"]))
    parsed["text"] = "a -dog"
    assert req["args"] == {**parsed, "data_dir": str(tmp_path / "data")}
    assert req["command"] == "search" and req["profile"] == "test"


def test_session_env_puts_the_data_dir_into_xdg_data_dirs_for_gnome(tmp_path, no_system_entry, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    base = tmp_path / "share"
    done = files.install(base, files.service_argv(["imgrag"]), session_env=True)
    env_file = tmp_path / "config" / "environment.d" / "60-imgrag-desktop-search.conf"
    assert done["session_env"] == str(env_file) and str(env_file) in done["installed"]
    lines = [ln for ln in env_file.read_text().splitlines() if ln and not ln.startswith("#")]
    assert lines == [f"XDG_DATA_DIRS={base}:${{XDG_DATA_DIRS:-/usr/local/share:/usr/share}}"]
    assert str(env_file) in files.uninstall(base)["removed"] and not env_file.exists()
    # A data dir GNOME already reads needs no such file.
    monkeypatch.setenv("XDG_DATA_DIRS", f"{no_system_entry}:{base}")
    assert files.install(base, files.service_argv(["imgrag"]), session_env=True)["session_env"] is None
    assert not env_file.exists()
