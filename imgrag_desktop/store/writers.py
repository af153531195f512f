"""One process's writers of a data dir: the file lock taken once, its threads taking turns.

Only one process may write to a data dir (`WriterLock`, an advisory file lock), and inside the
window two threads write: the index worker (Add folder, Rescan) and the folder watcher. A second
flock on the same file from the same process would fail, so the process takes the file lock once
(`DataDirWriter.hold`, reference-counted) and serialises its own writers with one in-process
lock (`YieldingLock`). That lock also tells slow later stages (OCR, captions) running under it
that the other writer is waiting, so neither the watcher nor an indexing job stalls behind a
caption queue. No Qt here: any front end with several writing threads uses it.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from imgrag_desktop.store.lock import WriterLock


class YieldingLock:
    """A re-entrant lock whose holders can be asked to hurry.

    A thread running an interruptible stage under the lock registers that stage's cancel event
    (`yielding`); another thread that then wants the lock sets it, and the stage returns at its
    next check instead of making the other writer wait for a whole caption queue."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._mutex = threading.Lock()
        self._stages: dict[int, list[threading.Event]] = {}

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if blocking:  # a mere try (the Duplicates tab's) never interrupts anyone
            me = threading.get_ident()
            with self._mutex:
                for tid, events in self._stages.items():
                    if tid != me:
                        for ev in events:
                            ev.set()
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> "YieldingLock":
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    @contextmanager
    def yielding(self, cancel: threading.Event) -> Iterator[threading.Event]:
        """Run a stage that returns when `cancel` is set; another writer may set it."""
        me = threading.get_ident()
        with self._mutex:
            self._stages.setdefault(me, []).append(cancel)
        try:
            yield cancel
        finally:
            with self._mutex:
                events = self._stages.get(me, [])
                if cancel in events:
                    events.remove(cancel)
                if not events:
                    self._stages.pop(me, None)


class DataDirWriter:
    """This process's hold on the data dir's writer lock, shared by the watcher and indexing."""

    def __init__(self, lock_path: str | Path) -> None:
        self.lock_path = Path(lock_path)
        self.lock = YieldingLock()
        self._mutex = threading.Lock()
        self._file: Any = None
        self._holders = 0

    def hold(self) -> None:
        """Take the file lock unless this process holds it already; ImgragError (one line,
        naming the other process) when another instance is writing."""
        with self._mutex:
            if self._holders == 0:
                lock = WriterLock(self.lock_path)
                lock.acquire()
                self._file = lock
            self._holders += 1

    def release(self) -> None:
        with self._mutex:
            if self._holders <= 0:
                return
            self._holders -= 1
            if self._holders == 0 and self._file is not None:
                self._file.release()
                self._file = None

    @property
    def held(self) -> bool:
        with self._mutex:
            return self._holders > 0

    @contextmanager
    def writing(self) -> Iterator[None]:
        """One write job: the file lock (shared with a running watcher) and the in-process lock."""
        self.hold()
        try:
            with self.lock:
                yield
        finally:
            self.release()
