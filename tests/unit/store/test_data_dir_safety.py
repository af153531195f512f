"""The data dir under stress: a second instance, a newer or damaged index, a full disk.

Each case must end in one clear line (never a traceback), lose nothing that was committed,
and never touch anything outside the data dir.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support.hostile_corpus import _jpeg, _noise, tree_state


def _photos(root: Path, n: int, size: tuple[int, int] = (120, 90)) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"p{i:04d}.jpg").write_bytes(_jpeg(_noise(size, 9000 + i), quality=85))
    return root


def _seed(data: Path, ckpt: Path, **settings: object) -> Path:
    (data / "models").mkdir(parents=True, exist_ok=True)
    shutil.copy2(ckpt, data / "models" / "imgrag-tiny.pt")
    if settings:
        (data / "settings.json").write_text(json.dumps(settings))
    return data


def _cmd(data: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "imgrag_desktop.cli", "--profile", "test", "--data-dir", str(data), *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _run(data: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_cmd(data, *args), capture_output=True, text=True, timeout=timeout, env=_env(), cwd=REPO)


def _one_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("imgrag: "), proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    return lines[0]


def _manifests(data: Path, table: str = "images") -> int:
    d = data / "index.lancedb" / f"{table}.lance" / "_versions"
    return sum(1 for p in d.iterdir() if p.name.endswith(".manifest")) if d.is_dir() else 0


def _index_in_process(data: Path, photos: Path) -> int:
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.services import Services

    svc = Services(AppConfig.load(data, "test"))
    rep = svc.indexer().index_paths([str(photos)])
    assert rep.failed == 0
    return svc.store.count()


# --- single instance ---------------------------------------------------------------------------
@pytest.mark.slow
def test_second_writer_is_refused_and_readers_work_while_indexing(tmp_path: Path, tiny_ckpt: Path) -> None:
    photos = _photos(tmp_path / "photos", 400)
    data = _seed(tmp_path / "data", tiny_ckpt, batch_size=8, decode_workers=1)
    writer = subprocess.Popen(_cmd(data, "index", str(photos), "--json", "--quiet"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=_env(), cwd=REPO)
    try:
        deadline = time.monotonic() + 240
        while _manifests(data) < 2:  # table created and a first batch committed
            assert writer.poll() is None, writer.communicate()[1][-2000:]
            assert time.monotonic() < deadline
            time.sleep(0.01)
        # Freeze the writer mid-run, holding its lock: the window of overlap is then certain.
        writer.send_signal(signal.SIGSTOP)
        second = _run(data, "index", str(photos), "--json")
        assert second.returncode == 1
        line = _one_line(second)
        assert "another imgrag instance" in line and f"process {writer.pid}" in line, line

        from imgrag_desktop.config import AppConfig
        from imgrag_desktop.store import WriterLock
        from imgrag_desktop.types import ImgragError

        with pytest.raises(ImgragError, match="another imgrag instance"):
            WriterLock(AppConfig.load(data, "test").lock_file).acquire()

        status = _run(data, "status", "--json")
        assert status.returncode == 0, status.stderr[-2000:]
        frozen_count = json.loads(status.stdout)["images"]
        assert frozen_count > 0
        hits = _run(data, "search", "a photo", "-k", "5", "--json")
        assert hits.returncode == 0, hits.stderr[-2000:]
        assert len(json.loads(hits.stdout)["hits"]) == 5

        writer.send_signal(signal.SIGCONT)
        counts = [frozen_count]
        while writer.poll() is None:  # readers while the writer really writes
            st = _run(data, "status", "--json")
            assert st.returncode == 0, st.stderr[-2000:]
            counts.append(json.loads(st.stdout)["images"])
        out, err = writer.communicate(timeout=600)
        assert writer.returncode == 0, err[-2000:]
    finally:
        if writer.poll() is None:
            writer.send_signal(signal.SIGCONT)
            writer.kill()
            writer.communicate()
    assert counts == sorted(counts), counts
    assert json.loads(out)["images"] == 400
    assert json.loads(_run(data, "status", "--json").stdout)["images"] == 400


# --- newer schema, damaged tables --------------------------------------------------------------
def _newer_schema_db(data: Path) -> None:
    import lancedb

    from imgrag_desktop.store import META_KEY, images_schema

    schema = images_schema(64)
    schema = schema.with_metadata({**(schema.metadata or {}), META_KEY: b"99"})
    lancedb.connect(str(data / "index.lancedb")).create_table("images", schema=schema)


def test_index_from_a_newer_version_is_refused_and_never_dropped(tmp_path: Path, tiny_ckpt: Path) -> None:
    photos = _photos(tmp_path / "photos", 3)
    data = _seed(tmp_path / "data", tiny_ckpt)
    _newer_schema_db(data)
    before = tree_state(data / "index.lancedb")
    for args in (["status", "--json"], ["index", str(photos)], ["index", "--rebuild", str(photos)]):
        proc = _run(data, *args)
        assert proc.returncode == 1, (args, proc.stderr[-2000:])
        line = _one_line(proc)
        assert "newer imgrag-desktop" in line and "schema 99" in line, line
    assert tree_state(data / "index.lancedb") == before, "the newer index was modified"


def _delete_data_files(data: Path) -> None:
    files = list((data / "index.lancedb" / "images.lance" / "data").glob("*.lance"))
    assert files
    for f in files:
        f.unlink()


def _garble_latest_manifest(data: Path) -> None:
    versions = data / "index.lancedb" / "images.lance" / "_versions"
    latest = min((p for p in versions.iterdir() if p.name.endswith(".manifest")), key=lambda p: int(p.stem))
    latest.write_bytes(b"\x00garbage" * 7)


@pytest.mark.parametrize("damage", [_delete_data_files, _garble_latest_manifest])
def test_damaged_table_is_explained_and_rebuilt_without_touching_anything_else(tmp_path: Path, tiny_ckpt: Path,
                                                                               damage) -> None:
    photos = _photos(tmp_path / "photos", 12)
    outside = tmp_path / "outside"  # a neighbour of the data dir: must survive everything
    _photos(outside, 2)
    (outside / "notes.txt").write_text("keep me")
    data = _seed(tmp_path / "data", tiny_ckpt)
    assert _index_in_process(data, photos) == 12
    damage(data)
    watched = {p: tree_state(p) for p in (photos, outside)}
    for args in (["status", "--json"], ["search", "x", "--json"]):
        proc = _run(data, *args)
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr[-2000:])
        line = _one_line(proc)
        assert "is damaged" in line and "imgrag index --rebuild" in line, line
        assert ".rs:" not in line, "Rust source locations are noise to a user"
    rebuilt = _run(data, "index", "--rebuild", str(photos), "--json", "--quiet")
    assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
    assert json.loads(rebuilt.stdout)["images"] == 12
    status = _run(data, "status", "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["images"] == 12
    assert {p: tree_state(p) for p in watched} == watched


def test_table_whose_creation_was_cut_short_counts_as_empty(tmp_path: Path, tiny_ckpt: Path) -> None:
    """A kill or a full disk during the very first write leaves a table folder with no committed
    version; that must not read as 'damaged' forever."""
    from imgrag_desktop.store import Store

    data = _seed(tmp_path / "data", tiny_ckpt)
    for table in ("images", "failures"):
        for sub in ("_versions", "_transactions"):
            (data / "index.lancedb" / f"{table}.lance" / sub).mkdir(parents=True)
    store = Store(data / "index.lancedb")
    assert store.count() == 0 and store.failure_count() == 0
    photos = _photos(tmp_path / "photos", 4)
    assert _index_in_process(data, photos) == 4


# --- disk full ---------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path):
    """A 24 MiB tmpfs for the data dir (root only; the honest way to get ENOSPC)."""
    mnt = tmp_path / "small_disk"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({proc.stderr.strip()[:200]})")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.mark.slow
@pytest.mark.parametrize("free_kib", [300, 1500])
def test_disk_full_stops_cleanly_and_resumes(tmp_path: Path, tiny_ckpt: Path, small_disk: Path, free_kib: int) -> None:
    from imgrag_desktop.store import Store

    photos = _photos(tmp_path / "photos", 300, size=(160, 120))
    before = tree_state(photos)
    data = _seed(small_disk / "data", tiny_ckpt, batch_size=16)
    st = os.statvfs(small_disk)
    ballast = small_disk / "ballast"
    ballast.write_bytes(b"\0" * (st.f_bavail * st.f_frsize - free_kib * 1024))

    full = _run(data, "index", str(photos), "--json", "--quiet")
    assert full.returncode == 1, full.stderr[-2000:]
    line = _one_line(full)
    assert "no space left" in line and "run the same command again" in line, line

    # Nothing half-written: the index opens, holds no duplicates, and no file was blamed.
    store = Store(data / "index.lancedb")
    paths = store.query(None, ["path"]).column("path").to_pylist()
    assert len(paths) == len(set(paths)) == store.count() < 300
    assert store.failure_count() == 0, "a full disk was recorded as a problem with the photos"
    status = _run(data, "status", "--json")
    assert status.returncode == 0, status.stderr[-2000:]
    assert not list((data / "thumbnails").rglob(".thumb-*")), "temporary thumbnail files left behind"
    assert not list(data.glob(".settings-*")), "temporary settings file left behind"

    ballast.unlink()
    resumed = _run(data, "index", str(photos), "--json", "--quiet")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    report = json.loads(resumed.stdout)
    assert report["images"] == 300 and report["failed"] == 0
    assert report["added"] == 300 - len(paths)
    assert tree_state(photos) == before


def test_a_thumbnail_that_cannot_be_written_never_fails_the_image(tmp_path: Path, tiny_ckpt: Path) -> None:
    """Thumbnails are a cache: any write error other than a full disk is logged and the image
    is indexed anyway (the thumbnail is made again when it is first shown)."""
    data = _seed(tmp_path / "data", tiny_ckpt)
    thumbs = data / "thumbnails"
    thumbs.mkdir()
    for i in range(256):  # every shard folder name taken by a plain file: no thumbnail can be saved
        (thumbs / f"{i:02x}").write_bytes(b"")
    photos = _photos(tmp_path / "photos", 6)
    assert _index_in_process(data, photos) == 6
    assert not any(p.is_dir() for p in thumbs.iterdir())
