"""LanceDB tables that live beside `images`, keyed by content hash rather than by path.

Keying by content hash is what keeps them right through moves, renames and copies for free:
a moved file keeps its hash, so its fingerprint and tiles still apply, and nothing needs
rewriting. Rows whose hash no longer appears in `images` are pruned after deletions.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Iterable, Sequence

import pyarrow as pa

from imgrag_desktop.store.images import Store
from imgrag_desktop.store.schema import META_KEY, SCHEMA_VERSION
from imgrag_desktop.store.sql import IN_CHUNK, sql_in
from imgrag_desktop.types import ImgragError

BULK_KEYS = 4000


class SideTable:
    """One table with a string key column; created on first write."""

    def __init__(self, db_dir: str | Path, name: str, key: str) -> None:
        self.db_dir = Path(db_dir)
        self.name = name
        self.key = key
        self._db: Any = None
        self._table: Any = None
        self._lock = threading.RLock()

    def _connect(self) -> Any:
        if self._db is None:
            from datetime import timedelta

            import lancedb

            self.db_dir.mkdir(parents=True, exist_ok=True)
            # Strong consistency: the indexer writes these tables through another handle (often
            # in another process) and a long-lived searcher must see its writes.
            self._db = lancedb.connect(str(self.db_dir), read_consistency_interval=timedelta(0))
        return self._db

    @property
    def table(self) -> Any | None:
        with self._lock:
            if self._table is None:
                if not (self.db_dir / f"{self.name}.lance").exists():
                    return None  # not made yet (a stat, where listing the tables costs ~1 ms a query)
                db = self._connect()
                names = db.table_names() if hasattr(db, "table_names") else list(db.list_tables())
                if self.name in names:
                    try:
                        self._table = db.open_table(self.name)
                    except Exception as exc:
                        raise ImgragError(
                            f"the index table {self.name!r} in {self.db_dir} is damaged ({str(exc).splitlines()[0][:200]}); "
                            f"delete the folder {self.db_dir / (self.name + '.lance')} and it is rebuilt"
                        ) from exc
            return self._table

    def ensure(self, schema: pa.Schema) -> Any:
        with self._lock:
            t = self.table
            if t is None:
                schema = schema.with_metadata({META_KEY: str(SCHEMA_VERSION).encode()})
                t = self._table = self._connect().create_table(self.name, schema=schema, exist_ok=True)
            return t

    def refresh(self) -> None:
        with self._lock:
            if self._table is not None:
                try:
                    self._table.checkout_latest()
                except Exception:  # dropped and made again by another handle (a new vector size): reopen
                    self._table = None
            else:
                _ = self.table

    def version(self) -> int:
        t = self.table
        return -1 if t is None else int(t.version)

    def count(self, where: str | None = None) -> int:
        t = self.table
        if t is None:
            return 0
        return int(t.count_rows(where) if where else t.count_rows())

    def query(self, where: str | None = None, columns: Sequence[str] | None = None) -> pa.Table:
        t = self.table
        if t is None:
            return pa.table({c: [] for c in (columns or [self.key])})
        q = t.search()
        if where:
            q = q.where(where)
        if columns:
            q = q.select(list(columns))
        return q.limit(max(1, t.count_rows())).to_arrow()

    def by_keys(self, keys: Iterable[str], columns: Sequence[str] | None = None,
                where: str | None = None) -> pa.Table:
        keys = list(dict.fromkeys(keys))
        if len(keys) > BULK_KEYS:  # one scan beats hundreds of IN look-ups
            import pyarrow.compute as pc

            cols = list(columns) if columns else None
            if cols and self.key not in cols:
                cols = [self.key, *cols]
            full = self.query(where, cols)
            return full.filter(pc.is_in(full.column(self.key), value_set=pa.array(keys, pa.string())))
        parts = []
        for i in range(0, len(keys), IN_CHUNK):
            cond = sql_in(self.key, keys[i : i + IN_CHUNK])
            parts.append(self.query(f"{cond} AND ({where})" if where else cond, columns))
        if not parts:
            return pa.table({c: [] for c in (columns or [self.key])})
        return pa.concat_tables(parts) if len(parts) > 1 else parts[0]

    def upsert(self, data: pa.Table) -> None:
        if data.num_rows == 0:
            return
        with self._lock:
            t = self.ensure(data.schema)
            t.merge_insert(self.key).when_matched_update_all().when_not_matched_insert_all().execute(
                data, on_bad_vectors="null")

    def drop(self) -> None:
        """Delete the whole table (a later upsert creates it again with its rows' schema)."""
        import shutil

        with self._lock:
            db = self._connect()
            names = db.table_names() if hasattr(db, "table_names") else list(db.list_tables())
            if self.name in names:
                db.drop_table(self.name)
            self._table = None
            folder = self.db_dir / f"{self.name}.lance"
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)

    def delete_where(self, where: str) -> None:
        t = self.table
        if t is not None:
            with self._lock:
                t.delete(where)

    def prune(self, hash_column: str, live_hashes: set[str]) -> int:
        """Delete rows whose content hash no longer belongs to any indexed image."""
        t = self.table
        if t is None:
            return 0
        have = set(self.query(None, [hash_column]).column(hash_column).to_pylist())
        gone = sorted(have - live_hashes)
        for i in range(0, len(gone), IN_CHUNK):
            self.delete_where(sql_in(hash_column, gone[i : i + IN_CHUNK]))
        return len(gone)

    def optimize(self) -> None:
        from datetime import timedelta

        t = self.table
        if t is not None:
            with self._lock:
                try:
                    t.optimize(cleanup_older_than=timedelta(seconds=0))
                except TypeError:  # older LanceDB
                    t.optimize()


def live_hashes(store: Store) -> set[str]:
    return set(store.query(None, ["content_hash"]).column("content_hash").to_pylist())
