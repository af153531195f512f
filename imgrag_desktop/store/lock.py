"""The data dir's single-writer rule, across processes."""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from imgrag_desktop.types import ImgragError

if TYPE_CHECKING:
    from imgrag_desktop.store.images import Store


class WriterLock:
    """One writer per data dir, across processes (advisory file lock). Readers need no lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: Any = None

    def acquire(self, wait_s: float = 0.0) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")
        deadline = time.monotonic() + wait_s
        while True:
            try:
                if sys.platform == "win32":  # pragma: no cover
                    import msvcrt

                    msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
                else:
                    import fcntl

                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    fh.seek(0)
                    holder = fh.read().strip()
                    fh.close()
                    who = f" (process {holder})" if holder else ""
                    raise ImgragError(
                        f"another imgrag instance{who} is indexing into {self.path.parent}; "
                        "wait for it to finish or close it (searching still works)"
                    ) from None
                time.sleep(0.1)
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            try:
                self._fh.close()
            finally:
                self._fh = None

    def __enter__(self) -> "WriterLock":
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()



@contextmanager
def writer(store: Store, lock_path: Path, wait_s: float = 0.0) -> Iterator[Store]:
    """Hold the data dir's writer lock for the duration of a write job."""
    lock = WriterLock(lock_path)
    lock.acquire(wait_s)
    try:
        yield store
    finally:
        lock.release()
