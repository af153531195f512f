"""Warm queries: with `imgrag watch` running, `imgrag search/similar` answer through its Unix
socket (no torch, open_clip or LanceDB imported by the command), with the same output as
without it; a socket left by a killed watcher is ignored."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from imgrag_desktop import warm

from .test_watch_cli import (
    REPO,
    Proc,
    data_dir_with_model,
    env,
    imgrag,
    make_images,
    tiny_ckpt_cli,  # noqa: F401 - the fixture
)

# Prints the command's own output, then (last line of stderr) which heavy modules it imported.
CLIENT = ("import sys; from imgrag_desktop.cli import main; rc = main(); "
          "print('HEAVY=' + ','.join(m for m in ('torch', 'open_clip', 'lancedb') if m in sys.modules), "
          "file=sys.stderr); sys.exit(rc)")


def client(data: Path, *args: str, cold: bool = False) -> tuple[str, str, str]:
    e = env()
    if cold:
        e["IMGRAG_NO_WARM"] = "1"
    p = subprocess.run([sys.executable, "-c", CLIENT, "--profile", "test", "--data-dir", str(data), *args],
                       capture_output=True, text=True, env=e, cwd=str(REPO), timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    err, _, heavy = p.stderr.rstrip("\n").rpartition("\n")
    return p.stdout, err, heavy.removeprefix("HEAVY=")


def stop(proc: Proc, sig: int = signal.SIGINT) -> None:
    proc.p.send_signal(sig)
    try:
        proc.finish(timeout=60)
    except subprocess.TimeoutExpired:
        proc.p.kill()
        proc.finish(timeout=30)


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, tiny_ckpt_cli: Path) -> tuple[Path, Path]:  # noqa: F811
    base = tmp_path_factory.mktemp("warm")
    data = data_dir_with_model(base, tiny_ckpt_cli)
    pics = base / "pics"
    make_images(pics, 10)
    p = subprocess.run(imgrag(data, "index", str(pics), "--quiet", "--json"), capture_output=True, text=True,
                       env=env(), cwd=str(REPO), timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    # `imgrag index --json` says where its time went (issue 19: per-stage breakdown)
    t = json.loads(p.stdout)["timings"]
    assert t["start_up_s"] > 0 and 0 < t["visual_pass_s"] <= t["command_s"]
    assert {"ocr", "text"} <= set(t["stage_seconds"]) and t["later_stages_s"] >= sum(
        v for k, v in t["stage_seconds"].items() if k in ("ocr", "text"))
    return data, pics


def wait_for_server(data: Path, proc: Proc, timeout: float = 180) -> dict:
    end = time.time() + timeout
    while time.time() < end:
        info = warm.probe(data)
        if info is not None:
            return info
        assert proc.p.poll() is None, "".join(proc.err)[-2000:]
        time.sleep(0.3)
    raise AssertionError("the watcher never served warm queries:\n" + "".join(proc.err)[-2000:])


@pytest.mark.slow
def test_search_and_similar_answer_through_a_running_watcher_with_the_same_output(library):
    data, pics = library
    queries = [("search", "random noise", "--json"), ("search", "random noise", "-k", "3"),
               ("similar", str(pics / "img_0003.jpg"), "--json"), ("search", "pictures", "--mode", "visual", "--json")]
    cold = {q: client(data, *q, cold=True) for q in queries}
    for q, (_, _, heavy) in cold.items():
        assert "lancedb" in heavy, q  # the cold path really loads the engine (the check can fail)
    assert not warm.socket_path(data).exists()
    watcher = Proc(imgrag(data, "watch", str(pics), "--quiet", "--no-remember"))
    try:
        info = wait_for_server(data, watcher)
        assert info["pid"] == watcher.p.pid and info["profile"] == "test"
        mode = os.stat(warm.socket_path(data)).st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
        for q in queries:
            out, err, heavy = client(data, *q)
            assert heavy == "", (q, heavy)  # answered by the watcher
            assert (out, err) == cold[q][:2], q
        # A relative image path means the caller's working directory, not the server's.
        rel = os.path.relpath(pics / "img_0003.jpg", REPO)
        assert client(data, "similar", rel, "--json")[0] == cold[queries[2]][0]
        # A new picture reaches the watcher's loaded vectors: the next warm query finds it.
        make_images(pics / "new", 1, seed0=99)
        new = pics / "new" / "img_0000.jpg"
        end = time.time() + 120
        while time.time() < end:
            out, _, heavy = client(data, "similar", str(new), "--json", "-k", "1", "--min-score", "off")
            if str(new) in out:
                break
            time.sleep(1)
        assert str(new) in out and heavy == ""
    finally:
        stop(watcher)
    assert not warm.socket_path(data).exists()  # removed on a clean stop


@pytest.mark.slow
def test_a_socket_left_by_a_killed_watcher_is_ignored(library):
    data, pics = library
    watcher = Proc(imgrag(data, "watch", str(pics), "--quiet", "--no-remember"))
    try:
        wait_for_server(data, watcher)
    finally:
        stop(watcher, signal.SIGKILL)
    assert warm.socket_path(data).exists()  # stale: nobody listens
    assert warm.probe(data) is None
    out, _, heavy = client(data, "search", "random noise", "--json")
    assert "lancedb" in heavy and out.startswith("{")
    assert out == client(data, "search", "random noise", "--json", cold=True)[0]
    # A new server replaces the stale file.
    watcher = Proc(imgrag(data, "watch", str(pics), "--quiet", "--no-remember"))
    try:
        wait_for_server(data, watcher)
        assert client(data, "search", "random noise", "--json")[2] == ""
    finally:
        stop(watcher)


def test_the_socket_refuses_other_modes_and_foreign_files(tmp_path):
    """A socket file others could open (or a plain file named like it) is never talked to."""
    srv = warm.WarmServer(tmp_path, lambda req: {"rc": 0, "stdout": "hi", "stderr": ""}).start()
    try:
        assert warm.request(tmp_path, {"op": "run"}) == {"rc": 0, "stdout": "hi", "stderr": ""}
        os.chmod(warm.socket_path(tmp_path), 0o666)
        assert warm.request(tmp_path, {"op": "run"}) is None
        os.chmod(warm.socket_path(tmp_path), 0o600)
        assert warm.probe(tmp_path)["pid"] == os.getpid()
        with pytest.raises(OSError):
            warm.WarmServer(tmp_path, lambda req: {}).start()  # a live server is not replaced
    finally:
        srv.stop()
    assert not warm.socket_path(tmp_path).exists()
    warm.socket_path(tmp_path).write_text("not a socket")
    assert warm.probe(tmp_path) is None and warm.request(tmp_path, {"op": "run"}) is None


@pytest.mark.slow
def test_the_window_answers_warm_queries_once_its_engine_is_ready(library):
    data, _ = library
    cold = client(data, "search", "random noise", "--json", cold=True)
    e = {**env(), "QT_QPA_PLATFORM": "offscreen"}
    window = subprocess.Popen([sys.executable, "-m", "imgrag_desktop", "--profile", "test", "--data-dir", str(data)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=e, cwd=str(REPO))
    try:
        end = time.time() + 180
        while warm.probe(data) is None:
            assert window.poll() is None and time.time() < end, "the window never served warm queries"
            time.sleep(0.3)
        assert warm.probe(data)["front"] == "window"
        out, err, heavy = client(data, "search", "random noise", "--json")
        assert heavy == "" and (out, err) == cold[:2]
    finally:
        window.terminate()
        try:
            window.wait(timeout=60)
        except subprocess.TimeoutExpired:
            window.kill()
            window.wait()
