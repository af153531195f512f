"""Search hits' rows taken by their LanceDB row id instead of looked up by path.

A query shows a few dozen rows of a table that may hold a million. Looking them up by path
(`path IN (...)`, through the BTREE index) cost ~7 ms at 100k rows and more at 1M, whatever
the columns; taking the same rows by row id reads only their pages (~3 ms for 40 rows and 7
columns, measured; see docs/performance.md, "1M rows").

The searcher knows each row's id from when it loaded the vectors (the `_rowid` column of
`Store.vectors(..., row_ids=True)`), and every row read by path here teaches its id too. An
id is only a hint, checked each time:

- in a table without stable row ids (what LanceDB makes) a row id is the row's address,
  fragment << 32 | offset. A write never changes a live row's address: an update or a
  delete marks the old row deleted and writes the new one elsewhere, and compaction moves
  rows into new fragments (fragment ids are never reused). So an id either still names its
  row or names nothing, and LanceDB's `take_row_ids` returns nothing for an id that names a
  deleted row, a fragment that is gone or an offset past a fragment's end (checked in
  tests/unit/store/test_rowids.py; pylance's own `_take_rows` panics on the last two);
- a row is used only when its path is one asked for: paths are unique among live rows (every
  write is a merge keyed by path), so a live row with that path is that path's current row;
- whatever is not found this way is looked up by path as before (`Store.hit_rows`), which
  also learns the row's new id (after a compaction, each hit pays the old cost once).
"""

from __future__ import annotations

import threading
from typing import Any, Mapping, Sequence

ROWID = "_rowid"
HIT_CACHE_ROWS = 4096
LEARNED_MAX = 65_536  # ids learned from reads by path, forgotten all at once past this


class RowTaker:
    """Takes rows by id from the images table's current version (see the module doc)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.learned: dict[str, int] = {}

    def learn(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Remember the ids of rows read with their `_rowid`."""
        with self._lock:
            if len(self.learned) + len(rows) > LEARNED_MAX:
                self.learned.clear()
            for r in rows:
                rid = r.get(ROWID)
                if rid is not None:
                    self.learned[r["path"]] = int(rid)

    def forget(self) -> None:
        with self._lock:
            self.learned.clear()

    def rows(self, store: Any, paths: Sequence[str], cols: Sequence[str], row_ids: Mapping[str, int]
             ) -> dict[str, dict[str, Any]]:
        """`cols` of these rows of `store` (a Store), as its table is now: by row id where one is known
        (learned from a later read, else `row_ids`) and still names the row, the others by
        path, whose ids are learned for the next time."""
        hints: dict[str, int] = {}
        with self._lock:
            for p in paths:
                rid = self.learned.get(p, row_ids.get(p))
                if rid is not None:
                    hints[p] = int(rid)
        got: dict[str, dict[str, Any]] = {}
        table = store.images
        if table is not None and hints:
            with store._reading("images"):
                got = self.take(table, hints, cols)
        rest = [p for p in paths if p not in got]
        if rest:
            by_path = store.rows(rest, cols, row_ids=True)
            self.learn(list(by_path.values()))
            got.update(by_path)
        return got

    def take(self, table: Any, hints: Mapping[str, int], columns: Sequence[str]) -> dict[str, dict[str, Any]]:
        """path → row (`columns`, path included) of the rows of `table`'s current version whose id
        still names them; the others are left out (the caller reads them by path)."""
        if not hints:
            return {}
        cols = list(dict.fromkeys(["path", *columns]))
        try:
            got = table.take_row_ids(sorted(set(hints.values()))).select(cols).to_arrow().to_pylist()
        except Exception:  # noqa: BLE001 - an optimisation: the look-up by path answers instead
            return {}
        return {r["path"]: r for r in got if r["path"] in hints}


class HitRows:
    """Rows of search hits, cached while the table is unchanged (one query reads its hits
    several times). Each cached row keeps the columns read so far: a call asking for more
    reads only the rows lacking one. What is not cached is read through a RowTaker."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: tuple[tuple[Any, ...], dict[str, dict[str, Any]]] = ((), {})
        self.taker = RowTaker()

    def get(self, store: Any, paths: Sequence[str], columns: Sequence[str], row_ids: Mapping[str, int],
            key: tuple[Any, ...]) -> dict[str, dict[str, Any]]:
        """`columns` of `paths` in `store` as of `key` (its writes and version)."""
        paths, cols = list(dict.fromkeys(paths)), list(dict.fromkeys(["path", *columns]))
        with self._lock:
            if self._cache[0] != key or len(self._cache[1]) > HIT_CACHE_ROWS:
                self._cache = (key, {})
            cache = self._cache[1]
            missing = [p for p in paths if p not in cache or any(c not in cache[p] for c in cols)]
        fresh = self.taker.rows(store, missing, cols, row_ids) if missing else {}
        with self._lock:
            if self._cache[0] == key:
                for p in missing:  # merged, or forgotten when gone
                    if p in fresh:
                        cache[p] = {**cache.get(p, {}), **fresh[p]}
                    else:
                        cache.pop(p, None)
        rows = {p: fresh.get(p) if p in fresh or p in missing else cache.get(p) for p in paths}
        return {p: {c: r.get(c) for c in cols} for p, r in rows.items() if r is not None}

    def forget(self) -> None:
        """Empty the cache; the row ids learned stay (they are checked on every use)."""
        with self._lock:
            self._cache = ((), {})
