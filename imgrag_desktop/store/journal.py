"""Which rows this process changed between two versions of the images table (and the path
index that finds them).

A searcher holds every vector of the library in RAM. When a picture is added, changed, moved
or deleted it asks the journal which paths changed since the version it loaded, reads those
rows alone and patches its copy (search/snapshot.py); reloading a million vectors took 6-15 s.

Only writes made through this `Store` are journalled. A version the journal cannot account
for (another process wrote, a table was dropped or created, a write failed half-way) breaks
the chain, and `since` answers None: the caller then reloads everything, as before.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

# Entries and paths kept; older ones are forgotten (a searcher that far behind reloads).
MAX_ENTRIES = 4096
MAX_PATHS = 200_000


@dataclass(frozen=True)
class Change:
    before: int  # table version before the write
    after: int  # and after it
    paths: frozenset[str]  # rows written or deleted
    columns: frozenset[str] | None  # columns written (None: whole rows, or rows deleted)


class ChangeJournal:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[Change] = []
        self._paths = 0
        self.epoch = 0  # bumped when the table is dropped: versions start again

    def note(self, before: int, after: int, paths: frozenset[str], columns: frozenset[str] | None) -> None:
        if after == before:
            return
        with self._lock:
            self._entries.append(Change(before, after, paths, columns))
            self._paths += len(paths)
            while self._entries and (len(self._entries) > MAX_ENTRIES or self._paths > MAX_PATHS):
                self._paths -= len(self._entries.pop(0).paths)

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()
            self._paths = 0
            self.epoch += 1

    def since(self, version: int, now: int, columns: frozenset[str]) -> set[str] | None:
        """Paths whose rows may differ in any of `columns` between `version` and `now`, or None
        when some version between them was not written (and journalled) by this process."""
        if version == now:
            return set()
        out: set[str] = set()
        cur = version
        with self._lock:
            for e in self._entries:
                if e.after <= cur:
                    continue
                if e.before != cur:
                    return None
                if e.columns is None or e.columns & columns:
                    out |= e.paths
                cur = e.after
        return out if cur == now else None


def ensure_path_index(t: Any) -> None:
    """A BTREE index on `images.path`, created once; optimize() keeps it up to date.

    Every search looks its hits up by path, every upsert matches on it, and a patched search
    snapshot reads its changed rows by path: at 1M rows the look-up of 10 hits took 29 ms as a
    scan and 4 ms with the index (built in 0.3 s). An index is only an optimisation, so
    failing to build one never fails the caller.
    """
    try:
        if any("path" in (getattr(i, "columns", None) or []) for i in t.list_indices()):
            return
        try:
            from lancedb.index import BTree

            t.create_index("path", config=BTree())
        except (ImportError, TypeError):  # older LanceDB
            t.create_scalar_index("path")
    except Exception as exc:
        import logging

        logging.getLogger(__name__).warning("could not index the path column: %s", exc)
