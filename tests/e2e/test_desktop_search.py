"""The desktop search on a real, private D-Bus session bus (dbus-daemon), called as GNOME Shell
and KRunner call it: `imgrag desktop-search install` writes the activation files, the bus
starts `imgrag desktop-search run` from them on the first call, and the ids it answers are the
photos `imgrag search` lists, in the same order, first on the service's own engine, then
through the warm socket of a running window or watcher."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from imgrag_desktop.desktop_search import BUS_NAME, GNOME_IFACE, GNOME_PATH, KRUNNER_IFACE, KRUNNER_PATH
from imgrag_desktop.resources_util import APP_ID
from tests.conftest import REPO, coco_images, run_cli

pytestmark = pytest.mark.skipif(shutil.which("dbus-daemon") is None or shutil.which("gdbus") is None,
                                reason="dbus-daemon and gdbus are part of every desktop this serves")

BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={dir}</listen>
  <servicedir>{services}</servicedir>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/>
  </policy>
</busconfig>
"""
# Stands in for the desktop's "open with the default application" (a test must not start a
# viewer): it writes down what it was asked to open.
OPENER = "#!/bin/sh\nprintf '%s\\n' \"$@\" >> {log}\n"


@dataclass
class Bus:
    address: str
    share: Path
    opened: Path
    env: dict[str, str]

    def gdbus(self, path: str, method: str, *args: str, timeout: int = 600) -> str:
        cmd = ["gdbus", "call", "--address", self.address, "--dest", BUS_NAME, "--object-path", path,
               "--method", method, "--timeout", str(timeout), *args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 30, env=self.env)
        if p.returncode != 0:
            raise AssertionError(f"gdbus {method} failed: {p.stderr.strip()}")
        return p.stdout.strip()

    def ids(self, method: str, *args: str) -> list[str]:
        """An `as` answer, read from gdbus's text: "(['/a.jpg', '/b.jpg'],)" or "(@as [],)"."""
        out = self.gdbus(GNOME_PATH, f"{GNOME_IFACE}.{method}", *args)
        return list(ast.literal_eval(out.replace("@as ", ""))[0])

    def owner_pid(self) -> int | None:
        p = subprocess.run(["gdbus", "call", "--address", self.address, "--dest", "org.freedesktop.DBus",
                            "--object-path", "/org/freedesktop/DBus", "--method",
                            "org.freedesktop.DBus.GetConnectionUnixProcessID", BUS_NAME],
                           capture_output=True, text=True, timeout=30)
        m = re.search(r"uint32 (\d+)", p.stdout)
        return int(m.group(1)) if p.returncode == 0 and m else None


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """8 real COCO photos indexed into a test-profile data dir (in this process, as `imgrag index`)."""
    from tests.gui.conftest import copy_images, index_into_data_dir

    base = tmp_path_factory.mktemp("desktop-search")
    pics = copy_images(coco_images()[:8], base / "pics")
    return index_into_data_dir(pics, base / "data", expect=8), pics


@pytest.fixture(scope="module")
def bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bus]:
    base = tmp_path_factory.mktemp("bus")
    share, system, tools = base / "share", base / "system", base / "bin"
    for d in (share / "dbus-1" / "services", system, tools):
        d.mkdir(parents=True)
    opener = tools / "xdg-open"
    opener.write_text(OPENER.format(log=base / "opened.txt"))
    opener.chmod(0o755)
    conf = base / "session.conf"
    conf.write_text(BUS_CONF.format(dir=base, services=share / "dbus-1" / "services"))
    # What the bus hands to the services it starts: this checkout, the recording opener, no
    # system menu entry of the app (so install writes one).
    env = {**os.environ, "PYTHONPATH": str(REPO), "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}",
           "XDG_DATA_DIRS": str(system), "XDG_DATA_HOME": str(share)}
    env.pop("IMGRAG_PROFILE", None)
    daemon = subprocess.Popen(["dbus-daemon", f"--config-file={conf}", "--nofork", "--print-address=1"],
                              stdout=subprocess.PIPE, text=True, env=env)
    assert daemon.stdout is not None
    address = daemon.stdout.readline().strip()
    assert address.startswith("unix:"), address
    b = Bus(address, share, base / "opened.txt", {**env, "DBUS_SESSION_BUS_ADDRESS": address})
    try:
        yield b
    finally:
        pid = b.owner_pid()
        if pid is not None:  # the service the bus started: stop it as a session's end would
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
        daemon.terminate()
        daemon.wait(timeout=30)
        daemon.stdout.close()  # else a ResourceWarning whenever the collector meets it (an error here)


def _reference(data: Path, text: str) -> list[str]:
    """What `imgrag search TEXT --json` lists, run cold (no warm server answers it)."""
    out = json.loads(run_cli("search", text, "--json", "-k", "10", data_dir=data,
                             env={"IMGRAG_NO_WARM": "1"}).stdout)
    return [h["path"] for h in (out["hits"] if isinstance(out, dict) else out)]


def _jeepney_call(address: str, path: str, iface: str, method: str, sig: str, args: tuple[Any, ...]) -> Any:
    from jeepney import DBusAddress, MessageType, new_method_call
    from jeepney.io.blocking import open_dbus_connection

    with open_dbus_connection(bus=address) as conn:
        reply = conn.send_and_get_reply(new_method_call(DBusAddress(path, BUS_NAME, iface), method, sig, args),
                                        timeout=600)
    assert reply.header.message_type == MessageType.method_return, reply.body
    return reply.body


@pytest.mark.slow
def test_gnome_and_krunner_get_the_photos_imgrag_search_finds(library, bus):
    data, pics = library
    inst = json.loads(run_cli("desktop-search", "install", "--prefix", str(bus.share), "--exec",
                              f"{sys.executable} -m imgrag_desktop.cli", "--json", data_dir=data,
                              env={"XDG_DATA_DIRS": bus.env["XDG_DATA_DIRS"]}).stdout)
    assert len(inst["installed"]) == 4 and (bus.share / "applications" / f"{APP_ID}.desktop").is_file()
    assert bus.owner_pid() is None  # nothing runs yet: the bus starts it on the first query

    expected = _reference(data, "a dog on grass")
    assert len(expected) == 8  # the check below can fail: an empty answer would not pass it
    got = bus.ids("GetInitialResultSet", "['a', 'dog', 'on', 'grass']")
    assert got == expected
    pid = bus.owner_pid()
    assert pid is not None
    assert "desktop-search" in Path(f"/proc/{pid}/cmdline").read_bytes().decode().replace("\0", " ")

    assert bus.ids("GetInitialResultSet", "['do']") == []  # under 3 characters: nothing
    assert bus.ids("GetSubsearchResultSet", str(got[:3]), "['a', 'dog', 'on', 'grass']") == expected
    metas = bus.gdbus(GNOME_PATH, f"{GNOME_IFACE}.GetResultMetas", str(got[:2]))
    icons = re.findall(r"'gicon': <'([^']+)'>", metas)
    names = re.findall(r"'name': <'([^']+)'>", metas)
    assert names == [Path(p).name for p in got[:2]] and len(icons) == 2
    assert all(Path(i).is_file() and Path(i).is_relative_to(data) for i in icons)  # the index's thumbnails

    (matches,) = _jeepney_call(bus.address, KRUNNER_PATH, KRUNNER_IFACE, "Match", "s", ("a dog on grass",))
    assert [m[0] for m in matches] == expected
    assert matches[0][5]["icon-data"][0] == "(iiibiiay)" and matches[0][5]["subtext"][1]

    # A click opens the photo with the desktop's viewer; an id it never returned is refused.
    bus.gdbus(GNOME_PATH, f"{GNOME_IFACE}.ActivateResult", got[0], "['a', 'dog']", "0")
    with pytest.raises(AssertionError, match="InvalidArgs"):
        bus.gdbus(GNOME_PATH, f"{GNOME_IFACE}.ActivateResult", str(data / "settings.json"), "[]", "0")
    bus.gdbus(KRUNNER_PATH, f"{KRUNNER_IFACE}.Run", got[1], "folder")
    end = time.time() + 30
    while time.time() < end and len(bus.opened.read_text().splitlines() if bus.opened.exists() else []) < 2:
        time.sleep(0.2)
    assert bus.opened.read_text().splitlines() == [got[0], str(Path(got[1]).parent)]
    assert {p.name for p in pics.iterdir()} == {Path(p).name for p in expected}  # the photos are untouched

    # With a window or watcher running, the service asks it through the warm socket.
    from imgrag_desktop import warm
    from imgrag_desktop.cli.commands import search
    from imgrag_desktop.cli.commands.warm import handler
    from imgrag_desktop.cli.context import run_safely
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.services import Services

    served: list[str] = []
    answer = handler(Services(AppConfig.load(data, "test")), lambda ctx: run_safely(search.cmd_search, ctx))

    def counting(req: dict[str, Any]) -> dict[str, Any]:
        served.append(req["args"]["text"])
        return answer(req)

    srv = warm.WarmServer(data, counting, {"front": "watch"}).start()
    try:
        assert bus.ids("GetInitialResultSet", "['a', 'dog', 'on', 'grass']") == expected
        assert served == ["a dog on grass"]
    finally:
        srv.stop()
    assert bus.owner_pid() == pid  # one service all along

    done = json.loads(run_cli("desktop-search", "uninstall", "--prefix", str(bus.share), "--json",
                              data_dir=data).stdout)
    assert sorted(done["removed"]) == sorted(inst["installed"]) and done["kept"] == []
    assert [p for p in bus.share.rglob("*") if p.is_file()] == []
