"""Offline roots: a missing, emptied, unmounted, replaced or hung root keeps its rows; removal
needs positive evidence, and a mass disappearance waits for a confirmation.

Real file systems throughout: a tmpfs mounted and unmounted under the root (when this process
may mount), a root moved to another device (/dev/shm is a tmpfs), and a stat that sleeps
injected at the one place the scanner calls it (`scanner.Fs`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from imgrag_desktop.indexing import offline, scanner
from tests.conftest import run_cli
from tests.support.hostile_corpus import _jpeg, _noise


def _photos(root: Path, n: int, seed: int = 0) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = root / f"p{seed}_{i:02d}.jpg"
        p.write_bytes(_jpeg(_noise((64, 48), seed * 100 + i)))
        out.append(p)
    return out


@pytest.fixture
def svc(tmp_path: Path):
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.services import Services

    return Services(AppConfig.load(tmp_path / "data", "test"))


def _count(svc, root: Path) -> int:
    return svc.store.count(f"starts_with(path, '{root}{os.sep}')")


def test_missing_and_emptied_roots_are_offline_and_keep_their_rows(tmp_path: Path, svc) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _photos(a, 3, 1)
    _photos(b, 3, 2)
    ix = svc.indexer()
    assert ix.index_paths([str(a), str(b)]).added == 6
    a.rename(tmp_path / "a-away")  # the drive is gone
    for p in b.iterdir():  # the mount point left behind: an empty folder
        p.unlink()
    report = ix.index_paths([str(a), str(b)])
    assert report.removed == 0 and _count(svc, a) == 3 and _count(svc, b) == 3
    assert set(report.offline) == {str(a), str(b)}
    assert "not found" in report.offline[str(a)] and "empty" in report.offline[str(b)]
    assert offline.offline_roots(svc.cfg.data_dir) == report.offline
    (tmp_path / "a-away").rename(a)  # back: online again, nothing re-embedded
    again = ix.index_paths([str(a)])
    assert again.offline == {} and again.added == 0 and again.unchanged == 3
    assert str(a) not in offline.offline_roots(svc.cfg.data_dir)


def test_a_folder_whose_pictures_all_gave_way_to_new_ones_is_online(tmp_path: Path, svc) -> None:
    """Deleted and re-created with new pictures (or emptied and refilled): not an unmounted
    drive. It once stayed offline for ever, re-scanned every probe, its old rows kept."""
    a = tmp_path / "a"
    old = _photos(a, 2, 1)
    ix = svc.indexer()
    assert ix.index_paths([str(a)]).added == 2
    shutil.rmtree(a)
    new = _photos(a, 1, 2)  # the same folder path, maybe even the same inode number
    report = ix.index_paths([str(a)])
    assert report.offline == {} and report.removed == 2 and report.added == 1
    assert svc.store.query(None, ["path"]).column("path").to_pylist() == [str(new[0])]
    assert str(a) not in offline.offline_roots(svc.cfg.data_dir) and old[0] != new[0]
    ino = a.stat().st_ino
    a.rename(tmp_path / "a-old")  # renamed away, a new folder made: a new inode for certain
    newer = _photos(a, 1, 3)
    assert a.stat().st_ino != ino
    report = ix.index_paths([str(a)])
    assert report.offline == {} and report.removed == 1 and report.added == 1
    assert svc.store.query(None, ["path"]).column("path").to_pylist() == [str(newer[0])]


def test_removal_needs_evidence_and_a_mass_disappearance_waits(tmp_path: Path, svc) -> None:
    root = tmp_path / "lib"
    files = _photos(root, 10, 3)
    ix = svc.indexer()
    ix.index_paths([str(root)])
    files[0].unlink()  # one photo deleted: positive evidence, removed
    assert ix.index_paths([str(root)]).removed == 1
    for p in files[1:6]:  # 5 of 9 at once: held
        p.unlink()
    report = ix.index_paths([str(root)])
    assert report.removed == 0 and report.held == {str(root): (5, 9)} and _count(svc, root) == 9
    assert report.to_json()["held"] == [{"root": str(root), "gone": 5, "of": 9}]
    confirmed = ix.index_paths([str(root)], confirm_removal=True)
    assert confirmed.removed == 5 and confirmed.held == {} and _count(svc, root) == 4


def test_cli_refuses_a_mass_removal_with_one_line_and_a_flag(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    files = _photos(root, 8, 4)
    data = tmp_path / "data"
    run_cli("index", str(root), "--quiet", data_dir=data)
    for p in files[:6]:
        p.unlink()
    refused = run_cli("index", str(root), "--json", "--quiet", data_dir=data, check=False)
    assert refused.returncode != 0
    last = refused.stderr.strip().splitlines()[-1]
    assert "6 of 8" in last and "--confirm-removal" in last
    assert json.loads(refused.stdout)["held"] == [{"root": str(root), "gone": 6, "of": 8}]
    status = json.loads(run_cli("status", "--json", data_dir=data).stdout)
    assert status["images"] == 8
    done = run_cli("index", str(root), "--json", "--quiet", "--confirm-removal", data_dir=data)
    assert json.loads(done.stdout)["removed"] == 6 and json.loads(done.stdout)["images"] == 2


def test_a_root_moved_to_another_device_is_offline_until_confirmed(tmp_path: Path, svc) -> None:
    shm = Path("/dev/shm")
    assert shm.is_dir() and os.stat(shm).st_dev != os.stat(tmp_path).st_dev, "needs a tmpfs at /dev/shm"
    first = tmp_path / "disk1"
    _photos(first, 5, 5)
    other = Path(shm / f"imgrag-test-{os.getpid()}-{time.monotonic_ns()}")
    try:
        _photos(other, 1, 6)  # another drive, with another photo
        link = tmp_path / "Photos"  # the path the user indexed: where the drive is mounted
        link.symlink_to(first, target_is_directory=True)
        ix = svc.indexer()
        ix.index_paths([str(link)])
        link.unlink()
        link.symlink_to(other, target_is_directory=True)
        report = ix.index_paths([str(link)])
        assert "device changed" in report.offline[str(link)] and report.removed == 0
        assert _count(svc, link) == 6  # the new drive's photo is indexed, none of the old ones lost
        accepted = ix.index_paths([str(link)], confirm_removal=True)
        assert accepted.removed == 5 and _count(svc, link) == 1
    finally:
        shutil.rmtree(other, ignore_errors=True)


def _can_mount(where: Path) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "none", str(where)], capture_output=True).returncode == 0
    if ok:
        subprocess.run(["umount", str(where)], check=True)
    return ok


def test_an_unmounted_drive_is_offline_not_emptied(tmp_path: Path, svc) -> None:
    mnt = tmp_path / "usb"
    mnt.mkdir()
    if not _can_mount(mnt):
        pytest.skip("this process may not mount a tmpfs (the device-change test covers the same rule)")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "none", str(mnt)], check=True)
    try:
        _photos(mnt, 4, 7)
        ix = svc.indexer()
        ix.index_paths([str(mnt)])
        rec = offline.RootRegistry.for_data_dir(svc.cfg.data_dir).get(str(mnt))
        assert rec is not None and rec.mount
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    _photos(mnt, 1, 8)  # a file written into the bare mount point while the drive was away
    report = ix.index_paths([str(mnt)])
    assert str(mnt) in report.offline and report.removed == 0 and _count(svc, mnt) == 5


class SleepyFs(scanner.Fs):
    """A network share that stops answering: stat() below `hung` sleeps until released."""

    def __init__(self, hung: Path) -> None:
        self.hung = str(hung)
        self.release = threading.Event()

    def stat(self, path: str) -> os.stat_result:
        if path == self.hung or path.startswith(self.hung + os.sep):
            self.release.wait(30)
        return os.stat(path)


def test_a_hung_share_costs_only_its_own_root(tmp_path: Path, svc) -> None:
    good, share = tmp_path / "good", tmp_path / "share"
    _photos(good, 3, 9)
    _photos(share, 3, 10)
    ix = svc.indexer()
    ix.index_paths([str(good), str(share)])
    _photos(good, 2, 11)
    fs = SleepyFs(share)
    ix.fs, ix.fs_timeout_s = fs, 0.5
    t0 = time.monotonic()
    try:
        report = ix.index_paths([str(share), str(good)])
    finally:
        fs.release.set()
    took = time.monotonic() - t0
    assert "not responding" in report.offline[str(share)]
    assert report.added == 2 and report.removed == 0 and _count(svc, share) == 3 and _count(svc, good) == 5
    assert took < 20, f"the scan waited on the hung share ({took:.1f} s)"


def test_scan_without_a_timeout_is_unchanged_and_timeout_drops_only_the_hung_root(tmp_path: Path) -> None:
    good, share = tmp_path / "good", tmp_path / "share"
    _photos(good, 2, 12)
    _photos(share, 2, 13)
    plain = scanner.scan([good, share])
    assert len(plain.files) == 4 and set(plain.idents) == {str(good), str(share)}
    fs = SleepyFs(share)
    try:
        t0 = time.monotonic()
        res = scanner.scan([share, good], fs=fs, timeout_s=0.2)
        assert time.monotonic() - t0 < 5
    finally:
        fs.release.set()
    assert [f.path for f in res.files] == sorted(str(p) for p in good.iterdir())
    assert list(res.offline) == [str(share)]


def test_judge_rules() -> None:
    rec = offline.RootRecord(dev=1, ino=2, files=10)
    idx = [f"/r/{i}" for i in range(10)]
    assert offline.judge("/r", None, "", set(), idx, rec).offline
    assert offline.judge("/r", (1, 2, False), "", set(), idx, rec).offline.startswith("empty")
    assert offline.judge("/r", (1, 2, False), "", set(), idx, rec, confirmed=True).gone == idx
    moved = offline.judge("/r", (9, 2, False), "", set(idx[:9]), idx, rec)  # NFS remounted: same files
    assert not moved.offline and moved.gone == ["/r/9"] and not moved.held
    assert offline.judge("/r", (9, 2, False), "", set(idx[:5]), idx, rec).offline
    renewed = offline.judge("/r", (1, 2, False), "", {"/r/new", "/other/x"}, idx[:2], rec)
    assert not renewed.offline and renewed.gone == idx[:2] and not renewed.held
    assert offline.judge("/r", (1, 2, False), "", {"/r2/x", "/other/x"}, idx, rec).offline.startswith("empty")
    assert offline.judge("/r", (1, 2, False), "", {"/r/new"}, idx, rec).held  # all 10 replaced: ask first
    recreated = offline.judge("/r", (1, 7, False), "", {"/r/new"}, idx[:2], rec)  # same drive, new inode
    assert not recreated.offline and recreated.gone == idx[:2]
    assert "device changed" in offline.judge("/r", (5, 7, False), "", {"/r/new"}, idx[:2], rec).offline
    few = offline.judge("/r", (1, 2, False), "", set(idx[:7]), idx, rec)
    assert not few.held and len(few.gone) == 3
