"""`imgrag watch` and crash safety, through real subprocesses: signals, kill -9, the writer lock."""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgrag_desktop.models.clip import write_tiny_checkpoint
from imgrag_desktop.store import Store

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tiny_ckpt_cli(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_checkpoint(tmp_path_factory.mktemp("tinyclip-cli") / "imgrag-tiny.pt")


def make_images(folder: Path, n: int, size: int = 64, seed0: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        rng = np.random.default_rng(seed0 + i)
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buf, "JPEG", quality=90)
        p = folder / f"img_{i:04d}.jpg"
        p.write_bytes(buf.getvalue())
        out.append(p)
    return out


def data_dir_with_model(base: Path, ckpt: Path) -> Path:
    data = base / "data"
    (data / "models").mkdir(parents=True, exist_ok=True)
    shutil.copy(ckpt, data / "models" / "imgrag-tiny.pt")
    return data


def imgrag(data: Path, *args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from imgrag_desktop.cli import main; sys.exit(main())",
            "--profile", "test", "--data-dir", str(data), *args]


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(REPO) + os.pathsep + e.get("PYTHONPATH", "")
    e.pop("IMGRAG_PROFILE", None)
    return e


class Proc:
    """A running imgrag command whose stdout and stderr lines are collected as they come."""

    def __init__(self, cmd: list[str]) -> None:
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env(), text=True,
                                  bufsize=1, cwd=str(REPO))
        self.out: list[str] = []
        self.err: list[str] = []
        self._threads = [threading.Thread(target=self._pump, args=(self.p.stdout, self.out), daemon=True),
                         threading.Thread(target=self._pump, args=(self.p.stderr, self.err), daemon=True)]
        for t in self._threads:
            t.start()

    @staticmethod
    def _pump(stream, sink: list[str]) -> None:
        buf = ""
        while True:
            ch = stream.read(1)
            if not ch:
                break
            if ch in "\r\n":  # tqdm redraws with \r: every redraw counts as a line
                if buf:
                    sink.append(buf)
                buf = ""
            else:
                buf += ch
        if buf:
            sink.append(buf)

    def wait_line(self, pred, timeout: float = 120.0, stream: str = "err") -> str:
        sink = self.err if stream == "err" else self.out
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            while seen < len(sink):
                if pred(sink[seen]):
                    return sink[seen]
                seen += 1
            if self.p.poll() is not None and seen >= len(sink):
                time.sleep(0.2)
                if seen >= len(sink):
                    break
            time.sleep(0.02)
        raise AssertionError(f"no such line; rc={self.p.poll()} stderr tail: {self.err[-10:]}")

    def finish(self, timeout: float = 120.0) -> int:
        rc = self.p.wait(timeout)
        for t in self._threads:
            t.join(5)
        for stream in (self.p.stdout, self.p.stderr):
            if stream is not None:
                stream.close()
        return rc


def run(cmd: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, env=env(), timeout=timeout, cwd=str(REPO))


def check_consistent(data: Path) -> int:
    """The database opens, and no path is stored twice. Returns the row count."""
    store = Store(data / "index.lancedb")
    n = store.count()
    paths = store.query(None, ["path"]).column("path").to_pylist() if n else []
    assert len(paths) == n and len(set(paths)) == n, "duplicate rows"
    fails = store.list_failures()
    assert len({f["path"] for f in fails}) == len(fails), "duplicate failure rows"
    if n:
        _, mat = store.vectors("visual")
        assert mat.shape[0] == n and np.isfinite(mat).all()
    return n


def test_watch_command_follows_changes_holds_the_lock_and_stops_on_sigterm(tmp_path: Path, tiny_ckpt_cli: Path) -> None:
    data = data_dir_with_model(tmp_path, tiny_ckpt_cli)
    photos = tmp_path / "photos"
    make_images(photos, 3)
    staging = tmp_path / "staging"
    make_images(staging, 20, seed0=100)
    w = Proc(imgrag(data, "watch", str(photos), "--json", "--settle", "0.5"))
    try:
        w.wait_line(lambda line: line.endswith(": watching"))
        for f in sorted(staging.iterdir()):
            shutil.copy2(f, photos / ("new_" + f.name))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and sum('"event": "added"' in x for x in w.out) < 20:
            time.sleep(0.1)
        added = [json.loads(x) for x in w.out if '"event": "added"' in x]
        assert len(added) == 20 and all(a["root"] == str(photos) for a in added)
        os.rename(photos / "img_0000.jpg", photos / "renamed.jpg")
        os.remove(photos / "img_0001.jpg")
        w.wait_line(lambda line: line.startswith("removed ") and line.endswith("img_0001.jpg"), 30)
        assert any(x.startswith("moved ") and x.endswith("renamed.jpg") for x in w.err)
        # The watcher holds the writer lock: a second writer is refused with one line.
        other = run(imgrag(data, "index", str(photos)))
        assert other.returncode == 1 and "another imgrag instance" in other.stderr
        assert len(other.stderr.strip().splitlines()) == 1
        w.p.send_signal(signal.SIGTERM)
        assert w.finish(60) == 0
    finally:
        if w.p.poll() is None:
            w.p.kill()
    assert w.err[-1] == "folder " + str(photos) + ": stopped"
    events = [json.loads(x) for x in w.out]
    assert {e["event"] for e in events} >= {"added", "moved", "removed", "state", "reconciled"}
    assert check_consistent(data) == 22
    status = json.loads(run(imgrag(data, "status", "--json")).stdout)
    assert status["images"] == 22 and str(photos) in status["folders"]


def test_watch_command_rejects_bad_paths(tmp_path: Path, tiny_ckpt_cli: Path) -> None:
    data = data_dir_with_model(tmp_path, tiny_ckpt_cli)
    r = run(imgrag(data, "watch", str(tmp_path / "nope")))
    assert r.returncode == 1 and "no such folder" in r.stderr and "Traceback" not in r.stderr
    f = tmp_path / "a.jpg"
    f.write_bytes(b"x")
    r = run(imgrag(data, "watch", str(f)))
    assert r.returncode == 1 and "watch takes folders" in r.stderr
    r = run(imgrag(data, "watch"))
    assert r.returncode == 1 and "no folders to watch" in r.stderr


@pytest.mark.slow
def test_kill_9_during_indexing_leaves_a_consistent_index_and_a_rerun_completes(tmp_path: Path,
                                                                                  tiny_ckpt_cli: Path) -> None:
    data = data_dir_with_model(tmp_path, tiny_ckpt_cli)
    photos = tmp_path / "photos"
    n = 400
    make_images(photos, n, size=160)
    rng = random.Random(4)
    kill_points = [
        ("as the first batch starts", lambda p, rows: p.wait_line(lambda x: x.startswith("indexing:")), 0.0),
        ("right after a commit", lambda p, rows: wait_rows(data, rows + 1), rng.uniform(0.0, 0.3)),
        ("a moment into the run", lambda p, rows: p.wait_line(lambda x: x.startswith("indexing:")), rng.uniform(0.1, 0.5)),
    ]
    counts = [0]
    for _name, until, delay in kill_points:
        p = Proc(imgrag(data, "index", str(photos)))
        try:
            until(p, counts[-1])
            time.sleep(delay)
        except AssertionError:
            # On a fast machine an earlier run may have finished everything: this run then has
            # nothing to index and exits cleanly before the kill point. Only that is allowed.
            if p.p.poll() != 0 or counts[-1] != n:
                raise
        finally:
            p.p.send_signal(signal.SIGKILL)
            p.finish(30)
        counts.append(check_consistent(data))
    # At least one kill landed mid-run, between commits (timing decides which).
    assert any(0 < c < n for c in counts[1:]), f"no kill landed mid-run: {counts}"
    done = run(imgrag(data, "index", str(photos), "--json", "--quiet"))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["images"] == n and check_consistent(data) == n
    assert report["added"] == n - counts[-1]
    again = json.loads(run(imgrag(data, "index", str(photos), "--json", "--quiet")).stdout)
    assert again["unchanged"] == n and again["added"] == 0 and again["embedded"] == 0


def wait_rows(data: Path, k: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if Store(data / "index.lancedb").count() >= k:
                return
        except Exception as exc:  # the table is being created by the other process
            last = exc
        time.sleep(0.05)
    raise AssertionError(f"no rows appeared (last error: {last!r})")


@pytest.mark.slow
def test_kill_9_during_a_watch_batch_then_restart_completes(tmp_path: Path, tiny_ckpt_cli: Path) -> None:
    data = data_dir_with_model(tmp_path, tiny_ckpt_cli)
    photos = tmp_path / "photos"
    photos.mkdir()
    staging = tmp_path / "staging"
    make_images(staging, 300, size=160)
    w = Proc(imgrag(data, "watch", str(photos), "--settle", "0.3"))
    try:
        w.wait_line(lambda line: line.endswith(": watching"))
        for f in sorted(staging.iterdir()):
            shutil.copy2(f, photos / f.name)
        w.wait_line(lambda line: line.startswith("added "), 60)
    finally:
        w.p.send_signal(signal.SIGKILL)
        w.finish(30)
    partial = check_consistent(data)
    assert partial < 300
    w = Proc(imgrag(data, "watch", str(photos), "--settle", "0.3"))
    try:
        line = w.wait_line(lambda x: ": scanned (" in x, 120)
        assert line.split("(")[1].startswith(f"{300 - partial} new")
        w.wait_line(lambda x: x.endswith(": watching"), 30)
        w.p.send_signal(signal.SIGINT)  # Ctrl+C
        assert w.finish(60) == 0
    finally:
        if w.p.poll() is None:
            w.p.kill()
    assert check_consistent(data) == 300
