"""SIGKILL at random points during `imgrag index`, again and again; then SIGTERM/SIGINT.

After every kill the database must open, hold no duplicate path, lose no committed row, and
hold only rows that match the bytes on disk; the run after the last kill must end with the
exact counts. A clean stop (SIGTERM or Ctrl+C) must commit the batch in flight and exit
non-zero with one line saying so.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support.hostile_corpus import _jpeg, _noise, tree_state

N_UNIQUE = 560
N_COPIES = 40  # same bytes under other names: exercises the reuse path (rows copied from rows)
BAD = {"empty.jpg": b"", "random.jpg": bytes(random.Random(1).randbytes(3000)), "text.png": b"not a png\n" * 40}


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("crash") / "photos"
    for i in range(N_UNIQUE):
        sub = root / f"album{i % 7}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"img_{i:04d}.jpg").write_bytes(_jpeg(_noise((120, 90), 5000 + i), quality=85))
    for i in range(N_COPIES):
        shutil.copy2(root / f"album{i % 7}" / f"img_{i:04d}.jpg", root / f"copy_{i:03d}.jpg")
    for name, data in BAD.items():
        (root / name).write_bytes(data)
    return root


def _data_dir(tmp_path: Path, ckpt: Path) -> Path:
    """A data dir with the test model already in place (saves rebuilding it in every child) and
    small batches, so a run commits several times."""
    data = tmp_path / "data"
    (data / "models").mkdir(parents=True)
    shutil.copy2(ckpt, data / "models" / "imgrag-tiny.pt")
    (data / "settings.json").write_text(json.dumps({"batch_size": 8, "decode_workers": 2}))
    return data


def _start(data: Path, *args: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "imgrag_desktop.cli", "--profile", "test", "--data-dir", str(data), *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)})


def _commits(data: Path, tables: tuple[str, ...] = ("images", "failures")) -> int:
    """Committed versions of the tables (each is one manifest file; creation counts as one)."""
    n = 0
    for table in tables:
        d = data / "index.lancedb" / f"{table}.lance" / "_versions"
        if d.is_dir():
            n += sum(1 for p in d.iterdir() if p.name.endswith(".manifest"))
    return n


def _wait_for_commits(proc: subprocess.Popen[str], data: Path, target: int, timeout: float = 240,
                      tables: tuple[str, ...] = ("images", "failures")) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _commits(data, tables) >= target:
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    raise AssertionError("indexing made no progress")


def _expected(library: Path) -> tuple[set[str], set[str]]:
    good, bad = set(), set()
    for p in library.rglob("*"):
        if p.is_file():
            (bad if p.name in BAD else good).add(str(p))
    return good, bad


def _check_consistent(data: Path, library: Path) -> tuple[int, int]:
    """Open the index as a fresh reader and check every invariant; returns (rows, failures)."""
    from imgrag_desktop.imaging import content_hash
    from imgrag_desktop.store import Store

    good, bad = _expected(library)
    store = Store(data / "index.lancedb")
    tbl = store.query(None, ["path", "size", "mtime_ns", "content_hash", "visual"])
    paths = tbl.column("path").to_pylist()
    assert len(paths) == len(set(paths)) == store.count(), "duplicate rows after a kill"
    assert set(paths) <= good
    for row in tbl.to_pylist():
        p = Path(row["path"])
        assert row["visual"] is not None and len(row["visual"]) > 0
        assert row["size"] == p.stat().st_size
        assert row["content_hash"] == content_hash(p.read_bytes()), f"row does not match the file: {p}"
    fails = [f["path"] for f in store.list_failures()]
    assert len(fails) == len(set(fails)), "duplicate failure rows"
    assert set(fails) <= bad
    return len(paths), len(fails)


@pytest.mark.slow
def test_kill_loop_leaves_a_consistent_index(tmp_path: Path, library: Path, tiny_ckpt: Path) -> None:
    before = tree_state(library)
    data = _data_dir(tmp_path, tiny_ckpt)
    rnd = random.Random(8)
    # Where to kill: during start-up, or right after the Nth new commit plus a random delay
    # (which lands anywhere: decoding, embedding, inside the next merge_insert...).
    points: list[str | int] = ["startup", 1, 1, 2, 1, 3]
    log = []
    rows_before = 0
    for point in points:
        base = _commits(data)
        proc = _start(data, "index", str(library), "--json", "--quiet")
        if point == "startup":
            time.sleep(rnd.uniform(0.3, 2.5))
            reached = True
        else:
            reached = _wait_for_commits(proc, data, base + int(point))
            time.sleep(rnd.uniform(0.0, 0.4))
        finished = proc.poll() is not None
        proc.kill()
        proc.communicate(timeout=60)
        rows, fails = _check_consistent(data, library)
        assert rows >= rows_before, "a committed row was lost"
        rows_before = rows
        log.append((point, "finished first" if finished or not reached else "killed", rows, fails))
    killed = [entry for entry in log if entry[1] == "killed"]
    assert len(killed) >= 4, f"too few runs were killed mid-way to prove anything: {log}"
    assert any(0 < entry[2] for entry in killed), log

    final = _start(data, "index", str(library), "--json", "--quiet")
    out, err = final.communicate(timeout=600)
    assert final.returncode == 0, err[-2000:]
    report = json.loads(out)
    good, bad = _expected(library)
    rows, fails = _check_consistent(data, library)
    assert (rows, fails) == (len(good), len(bad)), log
    assert report["images"] == len(good)
    assert tree_state(library) == before
    print(f"\nkill loop: {log}; final {rows} rows, {fails} failures (expected {len(good)}, {len(bad)})")


def _stop_with(sig: int, data: Path, library: Path, rows_before: int) -> int:
    proc = _start(data, "index", str(library), "--json", "--quiet")
    # A new manifest of the images table: this run has committed its first batch of rows.
    target = _commits(data, ("images",)) + (2 if rows_before == 0 else 1)
    assert _wait_for_commits(proc, data, target, tables=("images",)), "finished before the signal could be sent"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, (proc.returncode, err[-2000:])
    last = err.strip().splitlines()[-1]
    assert f"stopped by {signal.Signals(sig).name}" in last and "run the same command again" in last, last
    report = json.loads(out)
    assert report["cancelled"] is True
    rows, _ = _check_consistent(data, library)
    # Everything the run took in was committed: what it reports added is what the index gained.
    assert rows == report["images"] == rows_before + report["added"]
    assert rows_before < rows < len(_expected(library)[0])
    return rows


@pytest.mark.slow
def test_sigterm_and_sigint_commit_the_batch_in_flight(tmp_path: Path, library: Path, tiny_ckpt: Path) -> None:
    data = _data_dir(tmp_path, tiny_ckpt)
    rows = _stop_with(signal.SIGTERM, data, library, 0)
    rows = _stop_with(signal.SIGINT, data, library, rows)
    again = _start(data, "index", str(library), "--json", "--quiet")
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err[-2000:]
    good, bad = _expected(library)
    assert json.loads(out)["added"] == len(good) - rows
    assert _check_consistent(data, library) == (len(good), len(bad))


def _caption_state(db: Path) -> dict[str, int]:
    """Check the caption invariants with a fresh reader; returns status → count."""
    from imgrag_desktop.store import Store

    store = Store(db)
    tbl = store.query(None, ["path", "name", "caption_status", "caption", "caption_model", "search_text",
                             "ocr_text", "textual"])
    rows = tbl.to_pylist()
    assert len(rows) == len({r["path"] for r in rows}) == store.count(), "duplicate rows after a kill"
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["caption_status"]] = counts.get(r["caption_status"], 0) + 1
        if r["caption_status"] == "done":
            assert r["caption"] and r["caption_model"], r["path"]
            assert r["caption"] in r["search_text"], "a caption was stored without its search text"
            assert r["textual"] is None, "changed text must be embedded again"
        else:
            assert not r["caption"], "a half-made caption was kept"
    assert set(counts) <= {"pending", "done", "failed"}, counts
    return counts


def _poll_done(db: Path) -> int:
    from imgrag_desktop.store import Store

    try:
        return Store(db).count("caption_status = 'done'")
    except Exception:  # the table may not exist yet
        return 0


@pytest.mark.slow
def test_kill_loop_during_captioning(tmp_path: Path, tiny_ckpt: Path) -> None:
    """SIGKILL while the local model writes captions (after `imgrag index` and in `imgrag
    captions`): finished captions are kept, none is half-written, the rest resumes."""
    photos = tmp_path / "photos"
    photos.mkdir()
    n = 160
    for i in range(n):
        (photos / f"c{i:03d}.jpg").write_bytes(_jpeg(_noise((96, 72), 7000 + i)))
    before = tree_state(photos)
    data = _data_dir(tmp_path, tiny_ckpt)
    (data / "settings.json").write_text(json.dumps({"captions_enabled": True, "batch_size": 32}))
    db = data / "index.lancedb"
    rnd = random.Random(5)
    log = []
    done_before = 0
    for round_no, command in enumerate(["index", "captions", "index", "captions", "captions"]):
        args = ["index", str(photos)] if command == "index" else ["captions"]
        proc = _start(data, *args, "--json", "--quiet")
        deadline = time.monotonic() + 300
        target = done_before + (1 if round_no == 0 else 8)  # captions are flushed 8 at a time
        while _poll_done(db) < target and proc.poll() is None:
            assert time.monotonic() < deadline, "captioning made no progress"
            time.sleep(0.02)
        time.sleep(rnd.uniform(0.0, 0.5))
        finished = proc.poll() is not None
        proc.kill()
        proc.communicate(timeout=60)
        counts = _caption_state(db)
        assert sum(counts.values()) == n, counts
        assert counts.get("done", 0) >= done_before, "a finished caption was lost"
        done_before = counts.get("done", 0)
        log.append((command, "finished first" if finished else "killed", dict(counts)))
    assert sum(1 for entry in log if entry[1] == "killed") >= 3, log
    final = _start(data, "captions", "--json", "--quiet")
    out, err = final.communicate(timeout=600)
    assert final.returncode == 0, err[-2000:]
    counts = _caption_state(db)
    assert counts.get("pending", 0) == 0 and sum(counts.values()) == n, counts
    again = _start(data, "index", str(photos), "--json", "--quiet")
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err[-2000:]
    assert (json.loads(out)["added"], json.loads(out)["updated"]) == (0, 0)
    assert tree_state(photos) == before
    print(f"\ncaption kill loop: {log}; final {counts}")


@pytest.mark.slow
def test_sigterm_stops_captioning_after_the_picture_in_flight(tmp_path: Path, tiny_ckpt: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    n = 80
    for i in range(n):
        (photos / f"t{i:03d}.jpg").write_bytes(_jpeg(_noise((96, 72), 9000 + i)))
    data = _data_dir(tmp_path, tiny_ckpt)
    db = data / "index.lancedb"
    indexed = _start(data, "index", str(photos), "--json", "--quiet")
    assert indexed.communicate(timeout=600)[0] and indexed.returncode == 0
    proc = _start(data, "captions", "--requeue", "--json", "--quiet")
    deadline = time.monotonic() + 300
    while _poll_done(db) < 8 and proc.poll() is None:
        assert time.monotonic() < deadline, "captioning made no progress"
        time.sleep(0.02)
    assert proc.poll() is None, "captioning finished before the signal could be sent"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, (proc.returncode, err[-2000:])
    last = err.strip().splitlines()[-1]
    assert "captioning stopped by SIGTERM" in last and "run the command again" in last, last
    report = json.loads(out)
    counts = _caption_state(db)
    assert 8 <= counts["done"] < n and report["remaining"] == counts.get("pending", 0) > 0, (report, counts)
    final = _start(data, "captions", "--json", "--quiet")
    out, err = final.communicate(timeout=600)
    assert final.returncode == 0, err[-2000:]
    assert json.loads(out)["remaining"] == 0 and _caption_state(db).get("pending", 0) == 0
