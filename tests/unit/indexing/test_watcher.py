"""The folder watcher with real watchdog observers, real files, the real store and the test
profile's tiny CLIP (random weights: identity of vectors is what is checked, not meaning)."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgrag_desktop.config import AppConfig
from imgrag_desktop.indexing import scanner
from imgrag_desktop.indexing.watch.events import WatchEvent, is_partial_name
from imgrag_desktop.indexing.watch.roots import OFFLINE, POLLING, WATCHING
from imgrag_desktop.indexing.watch.service import WatchService
from imgrag_desktop.services import Services

SETTLE = 0.4


def jpeg_bytes(seed: int, size: int = 64) -> bytes:
    """A small JPEG whose content (and hash) differs per seed."""
    import io

    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def write_jpeg(path: Path, seed: int, size: int = 64) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(jpeg_bytes(seed, size))
    return path


def wait_for(cond, timeout: float = 60.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return bool(cond())


class Env:
    def __init__(self, base: Path, ckpt: Path) -> None:
        self.base = base
        self.root = base / "photos"
        self.root.mkdir()
        data = base / "data"
        (data / "models").mkdir(parents=True)
        shutil.copy(ckpt, data / "models" / "imgrag-tiny.pt")
        self.cfg = AppConfig.load(data, "test")
        self.svc = Services(self.cfg)
        self.store = self.svc.store
        self.events: list[WatchEvent] = []
        self.encoded = 0  # images through the real encoder
        self.watcher: WatchService | None = None
        enc = self.svc.clip
        real = enc.encode_tensors

        def counting(batch):
            self.encoded += int(batch.shape[0])
            return real(batch)

        enc.encode_tensors = counting  # counts calls into the real model, changes nothing

    def start(self, **kw) -> WatchService:
        kw.setdefault("settle_s", SETTLE)
        kw.setdefault("root_poll_s", 0.3)
        self.watcher = WatchService.from_services(self.svc, **kw)
        # `encoded` counts file embeddings; the relevance calibration's probe encodes (run after
        # full scans, see calibration.py) are another feature, tested in its own files.
        self.watcher.indexer.auto_calibrate = False
        self.watcher.add_listener(self.events.append)
        self.watcher.start([self.root])
        assert wait_for(lambda: self.watcher.status()[str(self.root)].state in (WATCHING, POLLING, OFFLINE), 60)
        return self.watcher

    def stop(self) -> None:
        if self.watcher is not None:
            assert self.watcher.stop(60)
            assert self.watcher.error is None
            self.watcher = None

    def paths(self) -> list[str]:
        return self.store.query(None, ["path"]).column("path").to_pylist()

    def count(self) -> int:
        return self.store.count()

    def actions(self, action: str) -> list[WatchEvent]:
        return [e for e in self.events if e.action == action]

    def vectors(self) -> dict[str, np.ndarray]:
        tbl, mat = self.store.vectors("visual")
        return dict(zip(tbl.column("path").to_pylist(), mat))

    def state(self) -> str:
        assert self.watcher is not None
        return self.watcher.status()[str(self.root)].state


@pytest.fixture
def env(tmp_path: Path, tiny_ckpt: Path):
    e = Env(tmp_path, tiny_ckpt)
    yield e
    if e.watcher is not None:
        e.watcher.stop(60)


def test_burst_of_500_copies_gives_exactly_500_rows(env: Env, tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    for i in range(500):
        write_jpeg(staging / f"img_{i:03d}.jpg", i)
    env.start()
    for f in sorted(staging.iterdir()):
        shutil.copy2(f, env.root / f.name)
    assert wait_for(lambda: env.count() >= 500, 120)
    assert env.watcher.wait_idle(60)
    paths = env.paths()
    assert len(paths) == 500 and len(set(paths)) == 500
    assert set(paths) == {str(env.root / f.name) for f in staging.iterdir()}
    added = env.actions("added")
    assert len(added) == 500 and len({e.path for e in added}) == 500  # each file indexed once
    assert not env.actions("updated") and not env.actions("failed")
    assert env.encoded == 500


def test_file_written_in_slow_chunks_is_indexed_once_complete(env: Env) -> None:
    env.start()
    data = jpeg_bytes(7, 256)
    target = env.root / "slow.jpg"
    pieces = [data[i : i + len(data) // 8 + 1] for i in range(0, len(data), len(data) // 8 + 1)]
    with open(target, "wb") as fh:
        for n, piece in enumerate(pieces):
            fh.write(piece)
            fh.flush()
            os.fsync(fh.fileno())
            # Pauses below the settle time, and one well above it while the file stays open.
            time.sleep(SETTLE * 3 if n == 3 else SETTLE / 3)
    assert wait_for(lambda: env.count() == 1, 30)
    assert env.watcher.wait_idle(30)
    row = env.store.rows([str(target)])[str(target)]
    assert row["size"] == len(data)
    from imgrag_desktop.imaging import content_hash

    assert row["content_hash"] == content_hash(data)
    assert [e.path for e in env.actions("added")] == [str(target)]
    assert not env.actions("failed") and not env.actions("updated")
    assert env.encoded == 1
    assert env.store.failure_count() == 0


def test_partial_download_names_wait_for_the_rename(env: Env) -> None:
    env.start()
    for n, suffix in enumerate((".part", ".crdownload")):
        part = env.root / f"download{n}.jpg{suffix}"
        data = jpeg_bytes(100 + n)
        with open(part, "wb") as fh:
            fh.write(data[:200])
        time.sleep(SETTLE * 3)  # far longer than the settle time: still not indexed
        assert env.count() == n
        with open(part, "ab") as fh:
            fh.write(data[200:])
        os.rename(part, env.root / f"download{n}.jpg")
        assert wait_for(lambda: env.count() == n + 1, 30)
    assert env.watcher.wait_idle(30)
    assert sorted(env.paths()) == [str(env.root / "download0.jpg"), str(env.root / "download1.jpg")]
    assert env.store.failure_count() == 0 and not env.actions("failed")
    assert is_partial_name("x.jpg.part") and not is_partial_name("x.jpg")


def test_move_of_a_folder_of_50_keeps_vectors_without_embedding(env: Env) -> None:
    album = env.root / "album"
    for i in range(50):
        write_jpeg(album / f"p{i}.jpg", 1000 + i)
    write_jpeg(env.root / "other.jpg", 5)
    env.start()  # the start-up scan indexes them
    assert env.count() == 51 and env.encoded == 51
    before = env.vectors()
    env.encoded = 0
    os.rename(album, env.root / "renamed album")
    assert wait_for(lambda: any(e.action == "moved" for e in env.events), 30)
    assert env.watcher.wait_idle(30)
    after = env.vectors()
    assert len(after) == 51 and env.count() == 51
    new_paths = {p for p in after if p.startswith(str(env.root / "renamed album") + os.sep)}
    assert len(new_paths) == 50
    assert not any(p.startswith(str(album) + os.sep) for p in after)
    for i in range(50):
        old, new = str(album / f"p{i}.jpg"), str(env.root / "renamed album" / f"p{i}.jpg")
        assert np.array_equal(before[old], after[new])
    assert env.encoded == 0
    moved = env.actions("moved")
    assert moved[0].path == str(album) and moved[0].count == 50
    # The folder column still names the watched root.
    assert set(env.store.query(None, ["folder"]).column("folder").to_pylist()) == {str(env.root)}


def test_rename_updates_the_path_and_delete_removes_rows(env: Env) -> None:
    a = write_jpeg(env.root / "a.jpg", 1)
    write_jpeg(env.root / "sub" / "b.jpg", 2)
    write_jpeg(env.root / "sub" / "deeper" / "c.jpg", 3)
    env.start()
    assert env.count() == 3
    vec_a = env.vectors()[str(a)]
    env.encoded = 0
    os.rename(a, env.root / "a renamed.jpg")
    assert wait_for(lambda: str(env.root / "a renamed.jpg") in env.paths(), 30)
    assert env.watcher.wait_idle(30)
    assert str(a) not in env.paths() and env.count() == 3
    assert np.array_equal(env.vectors()[str(env.root / "a renamed.jpg")], vec_a)
    row = env.store.rows([str(env.root / "a renamed.jpg")])[str(env.root / "a renamed.jpg")]
    assert row["name"] == "a renamed.jpg" and "renamed" in row["search_text"]
    assert env.encoded == 0
    os.remove(env.root / "a renamed.jpg")
    assert wait_for(lambda: env.count() == 2, 30)
    shutil.rmtree(env.root / "sub")
    assert wait_for(lambda: env.count() == 0, 30)
    assert env.watcher.wait_idle(30)
    assert env.store.failure_count() == 0


def test_modified_file_is_updated_in_place(env: Env) -> None:
    p = write_jpeg(env.root / "x.jpg", 1)
    env.start()
    v1 = env.vectors()[str(p)]
    p.write_bytes(jpeg_bytes(2))
    assert wait_for(lambda: env.actions("updated"), 30)
    assert env.watcher.wait_idle(30)
    assert env.count() == 1
    assert not np.array_equal(env.vectors()[str(p)], v1)


def test_changes_while_closed_are_found_at_start_up(env: Env) -> None:
    write_jpeg(env.root / "keep.jpg", 1)
    write_jpeg(env.root / "gone.jpg", 2)
    write_jpeg(env.root / "old name.jpg", 3)
    env.start()
    assert env.count() == 3
    env.stop()
    os.remove(env.root / "gone.jpg")
    os.rename(env.root / "old name.jpg", env.root / "new name.jpg")
    write_jpeg(env.root / "fresh.jpg", 4)
    env.encoded = 0
    env.start()
    assert env.watcher.wait_idle(30)
    assert sorted(os.path.basename(p) for p in env.paths()) == ["fresh.jpg", "keep.jpg", "new name.jpg"]
    assert env.encoded == 1  # the renamed file reused its vector
    rec = env.actions("reconciled")[-1]
    # fresh.jpg and the renamed file are new rows (the latter reusing its vector), two are gone.
    assert rec.detail.startswith("2 new, 0 changed, 2 removed, 1 unchanged") and rec.count == 4


def test_hidden_system_and_data_dir_files_are_ignored(env: Env) -> None:
    env.start()
    write_jpeg(env.root / ".hidden.jpg", 1)
    write_jpeg(env.root / ".cache" / "x.jpg", 2)
    write_jpeg(env.root / "@eaDir" / "thumb.jpg", 3)
    (env.root / "notes.txt").write_text("not an image")
    write_jpeg(env.root / "seen.jpg", 4)
    assert wait_for(lambda: env.count() == 1, 30)
    assert env.watcher.wait_idle(30)
    time.sleep(SETTLE * 2)
    assert env.paths() == [str(env.root / "seen.jpg")]
    assert scanner.is_ignored_name("@eaDir") and scanner.is_ignored_name(".x") and not scanner.is_ignored_name("a.jpg")


def test_data_dir_inside_a_watched_folder_is_never_indexed(tmp_path: Path, tiny_ckpt: Path) -> None:
    """Thumbnails are JPEGs in the data dir: indexing them would feed on itself."""
    root = tmp_path / "photos"
    data = root / "imgrag-data"
    (data / "models").mkdir(parents=True)
    shutil.copy(tiny_ckpt, data / "models" / "imgrag-tiny.pt")
    svc = Services(AppConfig.load(data, "test"))
    w = WatchService.from_services(svc, settle_s=SETTLE, root_poll_s=0.3)
    w.start([root])
    try:
        write_jpeg(root / "a.jpg", 1)
        assert wait_for(lambda: svc.store.count() == 1, 60)
        assert any((data / "thumbnails").rglob("*.jpg"))  # a thumbnail was written inside the watched tree
        assert w.wait_idle(30)
        time.sleep(SETTLE * 3)
        assert svc.store.query(None, ["path"]).column("path").to_pylist() == [str(root / "a.jpg")]
        report = svc.indexer().index_paths([str(root)])
        assert report.scanned == 1 and svc.store.count() == 1
    finally:
        assert w.stop(60)


def test_offline_root_keeps_rows_and_reattaches(env: Env, tmp_path: Path) -> None:
    write_jpeg(env.root / "a.jpg", 1)
    write_jpeg(env.root / "b.jpg", 2)
    env.start()
    assert env.count() == 2
    away = tmp_path / "unplugged"
    os.rename(env.root, away)  # the drive goes away (the path vanishes, nothing is deleted)
    assert wait_for(lambda: env.state() == OFFLINE, 30)
    time.sleep(SETTLE * 3)
    assert env.count() == 2  # rows kept while offline
    write_jpeg(away / "c.jpg", 3)  # changed elsewhere while offline
    os.remove(away / "a.jpg")
    os.rename(away, env.root)  # plugged back in
    assert wait_for(lambda: env.state() == WATCHING, 30)
    assert env.watcher.wait_idle(30)
    assert sorted(os.path.basename(p) for p in env.paths()) == ["b.jpg", "c.jpg"]
    write_jpeg(env.root / "d.jpg", 4)  # live events work again
    assert wait_for(lambda: env.count() == 3, 30)
    states = [e.detail.split(":")[0] for e in env.actions("state")]
    assert "offline" in states and states[-1] == "watching"


def test_removed_and_recreated_folder_recovers(env: Env) -> None:
    write_jpeg(env.root / "a.jpg", 1)
    env.start()
    assert env.count() == 1
    shutil.rmtree(env.root)
    env.root.mkdir()
    time.sleep(1.0)
    write_jpeg(env.root / "new.jpg", 2)
    assert wait_for(lambda: env.paths() == [str(env.root / "new.jpg")], 30)
    assert env.watcher.wait_idle(30)
    write_jpeg(env.root / "later.jpg", 3)
    assert wait_for(lambda: env.count() == 2, 30)
    assert env.state() == WATCHING


def test_remove_folder_can_forget_its_rows(env: Env) -> None:
    write_jpeg(env.root / "a.jpg", 1)
    env.start()
    assert env.count() == 1
    env.watcher.remove_folder(str(env.root), forget_rows=True)
    assert wait_for(lambda: env.count() == 0, 30)
    assert str(env.root) not in env.watcher.status()


def test_symlink_loop_and_unreadable_folder_do_not_hang(env: Env) -> None:
    (env.root / "sub").mkdir()
    os.symlink(env.root, env.root / "sub" / "loop")  # a loop back to the root
    os.symlink(env.root / "sub", env.root / "sub" / "loop2")
    locked = env.root / "locked"
    write_jpeg(locked / "secret.jpg", 9)
    write_jpeg(env.root / "ok.jpg", 1)
    os.chmod(locked, 0)
    try:
        env.start()
        assert env.watcher.wait_idle(60)
        write_jpeg(env.root / "sub" / "new.jpg", 2)
        assert wait_for(lambda: str(env.root / "sub" / "new.jpg") in env.paths(), 30)
        assert env.watcher.wait_idle(30)
        paths = env.paths()
        assert len(paths) == len(set(paths))
        assert str(env.root / "ok.jpg") in paths
        rel = sorted(os.path.relpath(p, env.root) for p in paths)
        assert not any("loop" in r for r in rel), rel  # the loop was cut, nothing indexed twice through it
        if os.geteuid() != 0:
            assert str(locked / "secret.jpg") not in paths
    finally:
        os.chmod(locked, 0o755)


def test_plan_keeps_rows_below_an_unreadable_folder() -> None:
    """An unreadable folder is not an empty one (its rows must survive a scan)."""
    res = scanner.ScanResult(files=[scanner.FileEntry("/r/a.jpg", "/r", 1, 1)], roots=["/r"], unreadable=["/r/locked"])
    indexed = {"/r/a.jpg": (1, 1, "h", "m"), "/r/locked/x.jpg": (1, 1, "h2", "m"), "/r/gone.jpg": (1, 1, "h3", "m")}
    p = scanner.plan(res, indexed, {}, "m")
    assert p.gone == ["/r/gone.jpg"]


def test_unreadable_folder_is_recorded_as_unreadable(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("running as root: chmod 000 does not deny root a read, so no folder is unreadable")
    locked = tmp_path / "locked"
    write_jpeg(locked / "x.jpg", 1)
    os.chmod(locked, 0)
    try:
        res = scanner.scan([tmp_path])
        assert str(locked) in res.unreadable
    finally:
        os.chmod(locked, 0o755)


def test_lost_events_are_recovered_by_a_rescan(env: Env, tmp_path: Path) -> None:
    """A file the live watch cannot see (inside a symlinked folder, which inotify does not
    follow) is found when watchdog reports a kernel queue overflow, and by periodic rescans."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.symlink(outside, env.root / "linked")
    env.start()
    write_jpeg(outside / "unseen.jpg", 1)
    time.sleep(SETTLE * 3)
    assert env.count() == 0
    logging.getLogger("watchdog.observers.inotify_c").warning("Inotify queue overflowed; filesystem events were lost")
    assert wait_for(lambda: env.count() == 1, 30)
    assert env.paths() == [str(env.root / "linked" / "unseen.jpg")]


def test_periodic_rescan_and_polling_fallback(env: Env) -> None:
    def broken_observer():
        raise OSError(28, "inotify watch limit reached")

    write_jpeg(env.root / "a.jpg", 1)
    env.start(observer_factory=broken_observer, poll_fallback_s=1.0)
    assert env.state() == POLLING and env.count() == 1
    write_jpeg(env.root / "b.jpg", 2)
    assert wait_for(lambda: env.count() == 2, 30)


def test_listener_errors_do_not_stop_the_watcher(env: Env) -> None:
    def bad(ev: WatchEvent) -> None:
        raise RuntimeError("listener bug")

    w = env.start()
    w.add_listener(bad)
    write_jpeg(env.root / "a.jpg", 1)
    assert wait_for(lambda: env.count() == 1, 30)
    assert w.running


def test_large_tree_is_watched_without_hanging(env: Env) -> None:
    """10,000 non-image files in 100 folders plus a few images: start-up stays quick and the
    live watch works. (The 100,000-file figure is in the benchmark, the README, "Watching folders".)"""
    for d in range(100):
        sub = env.root / f"d{d:03d}"
        sub.mkdir()
        for i in range(100):
            (sub / f"f{i}.txt").touch()
    for i in range(10):
        write_jpeg(env.root / f"d{i:03d}" / "img.jpg", i)
    t0 = time.monotonic()
    env.start()
    assert env.watcher.wait_idle(120)
    assert env.count() == 10
    write_jpeg(env.root / "d099" / "late.jpg", 99)
    assert wait_for(lambda: env.count() == 11, 30)
    print(f"10k-file tree: watch start + scan {time.monotonic() - t0:.2f} s")


def test_pause_holds_writes_until_resume(env: Env) -> None:
    w = env.start()
    w.pause()
    write_jpeg(env.root / "a.jpg", 1)
    time.sleep(SETTLE * 4)
    assert env.count() == 0
    w.resume()
    assert wait_for(lambda: env.count() == 1, 30)


def test_shared_write_lock_serialises_with_other_jobs(env: Env) -> None:
    lock = threading.RLock()
    env.start(write_lock=lock)
    with lock:
        write_jpeg(env.root / "a.jpg", 1)
        time.sleep(SETTLE * 4)
        assert env.count() == 0  # the watcher waits for the lock holder
    assert wait_for(lambda: env.count() == 1, 30)


def test_folders_moved_in_and_out_of_the_watched_tree(env: Env, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    for i in range(5):
        write_jpeg(outside / "trip" / f"t{i}.jpg", 300 + i)
    env.start()
    os.rename(outside / "trip", env.root / "trip")  # arrives whole: seen as a created folder
    assert wait_for(lambda: env.count() == 5, 30)
    assert env.watcher.wait_idle(30)
    os.rename(env.root / "trip", outside / "trip back")  # leaves the tree: seen as a deleted folder
    assert wait_for(lambda: env.count() == 0, 30)
    assert env.watcher.wait_idle(30)
    assert env.encoded == 5 and len(env.actions("added")) == 5


def test_move_between_two_watched_folders_reuses_vectors(env: Env, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    for i in range(4):
        write_jpeg(env.root / f"m{i}.jpg", 500 + i)
    w = env.start()
    w.add_folder(str(other))
    assert wait_for(lambda: w.status().get(str(other)) is not None and w.status()[str(other)].state == WATCHING, 30)
    before = env.vectors()
    env.encoded = 0
    for i in range(4):
        os.rename(env.root / f"m{i}.jpg", other / f"m{i}.jpg")
    assert wait_for(lambda: sorted(env.paths()) == sorted(str(other / f"m{i}.jpg") for i in range(4)), 30)
    assert w.wait_idle(30)
    after = env.vectors()
    for i in range(4):
        assert np.array_equal(before[str(env.root / f"m{i}.jpg")], after[str(other / f"m{i}.jpg")])
    assert env.encoded == 0
    rows = env.store.rows([str(other / "m0.jpg")])
    assert rows[str(other / "m0.jpg")]["folder"] == str(other)


def test_editor_style_save_replaces_the_row(env: Env) -> None:
    """Save via a temporary name and a rename over the original: one row, new content."""
    p = write_jpeg(env.root / "edit.jpg", 1)
    env.start()
    v1 = env.vectors()[str(p)]
    tmp = env.root / "edit.jpg.tmp"
    tmp.write_bytes(jpeg_bytes(2))
    os.replace(tmp, p)
    assert wait_for(lambda: env.actions("updated"), 30)
    assert env.watcher.wait_idle(30)
    assert env.paths() == [str(p)] and not np.array_equal(env.vectors()[str(p)], v1)


def test_slow_later_stage_yields_to_new_files(env: Env) -> None:
    """A slow stage after a batch (OCR, captions) stops when new files arrive, and is resumed
    once they are indexed."""
    calls: list[tuple[int, bool]] = []

    def slow_stage(cancel: threading.Event) -> None:
        cancel.wait(20)  # "works" until told to yield
        calls.append((env.count(), cancel.is_set()))

    w = env.start(after_batch=slow_stage)
    write_jpeg(env.root / "a.jpg", 1)
    assert wait_for(lambda: env.count() == 1, 30)
    time.sleep(SETTLE)
    t0 = time.monotonic()
    write_jpeg(env.root / "b.jpg", 2)
    assert wait_for(lambda: env.count() == 2, 30)
    assert time.monotonic() - t0 < 10  # not held back by the 20 s stage
    assert wait_for(lambda: len(calls) >= 2, 30)
    assert (1, True) in calls  # the run after a.jpg was interrupted by b.jpg
    w.stop(60)
    assert all(c[1] for c in calls)  # every run ended on a cancel (new files, or the stop)


def test_scanner_skips_system_folders_and_excluded_folders_by_identity(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    write_jpeg(root / "a.jpg", 1)
    write_jpeg(root / "@eaDir" / "a.jpg" / "SYNOPHOTO_THUMB_M.jpg", 2)
    write_jpeg(root / "$RECYCLE.BIN" / "old.jpg", 3)
    write_jpeg(root / "data" / "thumbnails" / "ab" / "x.jpg", 4)
    os.symlink(root / "data", root / "data-link")  # the same folder under another name
    res = scanner.scan([root], exclude=[root / "data"])
    assert [os.path.relpath(f.path, root) for f in res.files] == ["a.jpg"]
    with_hidden = scanner.scan([root], ignore_hidden=False, exclude=[root / "data"])
    assert len(with_hidden.files) == 3
