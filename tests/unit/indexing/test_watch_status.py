"""WatchService.status() is what the window polls; it must answer while the watcher's worker is
stuck in a stat of a settling file (a hung network share), with the real watchdog observer and
the real settle path, only its os.stat made to hang."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from imgrag_desktop.indexing.watch import settle
from imgrag_desktop.indexing.watch.roots import WATCHING
from imgrag_desktop.indexing.watch.service import WatchService


class StubStore:
    def file_states(self, where: str) -> dict[str, Any]:
        return {}

    def optimize(self) -> None:
        pass


class StubIndexer:
    """Nothing is indexed in these tests: the worker never gets past the hung stat."""

    ignore_hidden = True
    exclude: list[str] = []

    def __init__(self) -> None:
        self.store = StubStore()

    def index_files(self, paths: list[str], root: str, cancel: threading.Event) -> Any:
        return SimpleNamespace(failures=[])


class HangingOs:
    """Stands in for `os` in the settle module: a stat of `target` hangs until released."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.armed = False
        self.entered = threading.Event()
        self.release = threading.Event()

    def stat(self, path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if self.armed and os.fspath(path) == self.target:
            self.entered.set()
            self.release.wait(20)
        return os.stat(path, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


def wait_for(cond: Any, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return bool(cond())


def test_status_answers_while_the_worker_hangs_in_a_settle_stat(tmp_path: Path, monkeypatch: Any) -> None:
    root = tmp_path / "share"
    root.mkdir()
    photo = root / "a.jpg"
    hang = HangingOs(str(photo))
    monkeypatch.setattr(settle, "os", hang)
    w = WatchService(StubIndexer(), settle_s=1.0, closed_settle_s=0.5, root_poll_s=0.1, reconcile_on_start=False,
                     ignore_hidden=True)
    w.start([str(root)])
    try:
        assert wait_for(lambda: w.status()[str(root)].state == WATCHING)
        photo.write_bytes(b"\xff\xd8 not really a jpeg")
        assert wait_for(lambda: w.status()[str(root)].pending == 1)
        time.sleep(0.2)  # the write's last events are in; the file settles 0.5 s after them
        hang.armed = True  # so the next stat of the file is the settle check's, and it hangs
        assert hang.entered.wait(30), "the worker never checked the settling file"
        t0 = time.monotonic()
        for _ in range(5):
            st = w.status()
            assert st[str(root)].state == WATCHING and st[str(root)].pending == 1
        assert time.monotonic() - t0 < 0.5
        assert not hang.release.is_set() and w.running  # still hung: the answers did not wait for it
    finally:
        hang.release.set()
        assert w.stop(30)


def test_status_sees_a_folder_added_from_another_thread_at_once(tmp_path: Path) -> None:
    w = WatchService(StubIndexer(), root_poll_s=0.1, reconcile_on_start=False, ignore_hidden=True)
    with w.write_lock:  # an indexing job of the window holds the shared write lock
        w.add_folder(str(tmp_path))
        assert list(w.status()) == [str(tmp_path)]
    w.start()
    try:
        assert wait_for(lambda: w.status()[str(tmp_path)].state == WATCHING)
    finally:
        assert w.stop(30)
