"""The D-Bus round trip of the desktop search's GetInitialResultSet, as docs/performance.md
reports it (issue 19): `python -m tests.support.measure_desktop_search [N_PHOTOS] [ROUNDS]`.

A test-profile library of N real COCO photos, a private dbus-daemon, `imgrag desktop-search
run` on it; then ROUNDS calls from a client connection (jeepney, as GNOME Shell's own
connection would be: no process start per call), timed end to end, in three states:
the first query (the service loads its engine), the service's own warm engine, and with a
warm-socket server (what a running window or `imgrag watch` serves) answering. Also one
`gdbus call` (a new process per call, what a shell script pays).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from imgrag_desktop.desktop_search import BUS_NAME, GNOME_IFACE, GNOME_PATH
from tests.conftest import REPO, coco_images

CONF = """<busconfig><type>session</type><listen>unix:dir={d}</listen>
<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/>
<allow own="*"/></policy></busconfig>"""


def main(n_photos: int = 24, rounds: int = 20) -> dict[str, Any]:
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection

    from imgrag_desktop import warm
    from imgrag_desktop.cli.commands import search
    from imgrag_desktop.cli.commands.warm import handler, warm_up
    from imgrag_desktop.cli.context import run_safely
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.services import Services
    from tests.gui.conftest import copy_images, index_into_data_dir

    base = Path(tempfile.mkdtemp(prefix="ds-measure-"))
    pics = copy_images(coco_images()[:n_photos], base / "pics")
    data = index_into_data_dir(pics, base / "data", expect=n_photos)
    (base / "bus.conf").write_text(CONF.format(d=base))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    daemon = subprocess.Popen(["dbus-daemon", f"--config-file={base / 'bus.conf'}", "--nofork", "--print-address=1"],
                              stdout=subprocess.PIPE, text=True, env=env)
    assert daemon.stdout is not None
    address = daemon.stdout.readline().strip()
    service = subprocess.Popen([sys.executable, "-m", "imgrag_desktop.cli", "--profile", "test", "--data-dir",
                                str(data), "desktop-search", "run", "--bus", address, "--idle-exit", "0"],
                               env=env, stderr=subprocess.PIPE, text=True)
    assert service.stderr is not None
    service.stderr.readline()  # "serves … on D-Bus": the name is owned (its warm-up may still run)
    addr = DBusAddress(GNOME_PATH, BUS_NAME, GNOME_IFACE)
    queries = ["a dog on grass", "people at a table", "a red bus", "a plate of food", "snow and skis"]
    out: dict[str, Any] = {"photos": n_photos, "rounds": rounds}
    try:
        with open_dbus_connection(bus=address) as conn:
            def call(text: str) -> float:
                t0 = time.perf_counter()
                reply = conn.send_and_get_reply(new_method_call(addr, "GetInitialResultSet", "as", (text.split(),)),
                                                timeout=600)
                ms = (time.perf_counter() - t0) * 1e3
                assert reply.body and len(reply.body[0]) > 0, reply.body
                return ms

            out["first_query_ms"] = round(call(queries[0]), 1)
            own = [call(queries[i % len(queries)]) for i in range(rounds)]
            out["own_engine_ms"] = {"p50": round(statistics.median(own), 1), "max": round(max(own), 1)}
            svc = Services(AppConfig.load(data, "test"))
            srv = warm.WarmServer(data, handler(svc, lambda c: run_safely(search.cmd_search, c))).start()
            warm_up(svc)
            try:
                call(queries[0])
                via = [call(queries[i % len(queries)]) for i in range(rounds)]
                out["warm_socket_ms"] = {"p50": round(statistics.median(via), 1), "max": round(max(via), 1)}
                t0 = time.perf_counter()
                subprocess.run(["gdbus", "call", "--address", address, "--dest", BUS_NAME, "--object-path", GNOME_PATH,
                                "--method", f"{GNOME_IFACE}.GetInitialResultSet", "['a', 'dog']"], check=True,
                               capture_output=True, timeout=120)
                out["gdbus_process_ms"] = round((time.perf_counter() - t0) * 1e3, 1)
            finally:
                srv.stop()
    finally:
        service.terminate()
        service.wait(timeout=60)
        daemon.terminate()
        daemon.wait(timeout=30)
    return out


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    print(json.dumps(main(*args), indent=2))
