"""The `images` table (one row per indexed file) and the `failures` table (one row per skipped file).

Every write is one Lance transaction (merge_insert keyed by path), so a crash loses at most
the batch in flight and never leaves duplicates. Tables are opened through check_version, so
a database written by a newer version is refused with a clear message rather than misread.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
import pyarrow as pa

from imgrag_desktop.store.errors import damaged, looks_damaged
from imgrag_desktop.store.journal import ChangeJournal, ensure_path_index
from imgrag_desktop.store.rowids import HitRows
from imgrag_desktop.store.schema import (
    DEFAULT_TEXT_DIM,
    FAILURES,
    HIT_COLUMNS,
    IMAGES,
    LIGHT_COLUMNS,
    VISUAL_SIDE,
    SchemaTooNew,
    check_version,
    failures_schema,
    images_schema,
    upgrade_in_place,
)
from imgrag_desktop.store.sql import IN_CHUNK, sql_in, sql_str
from imgrag_desktop.types import DiskFull, Failure, ImgragError, is_disk_full

# optimize() prunes table versions older than this: a reader (the window's searcher, a CLI
# search) may still be reading one, so recent versions stay.
OLD_VERSIONS_KEPT_MIN = 10


class Store:
    """The index on disk. Thread-safe for one writer thread plus any number of readers."""

    def __init__(self, db_dir: str | os.PathLike[str], text_dim: int = DEFAULT_TEXT_DIM) -> None:
        self.db_dir = Path(db_dir)
        self.text_dim = text_dim
        self._db: Any = None
        self._images: Any = None
        self._failures: Any = None
        self._lock = threading.RLock()
        self.writes = 0  # bumped on every committed write; caches compare it
        self._hits = HitRows()  # search hits' rows: cached, taken by row id (rowids.py)
        self._visual_token = 0
        self._visual_seen: int | None = None  # images version that _visual_token stands for
        self.journal = ChangeJournal()  # which paths this process changed, per version

    # Opening ---------------------------------------------------------------------------------
    def _connect(self) -> Any:
        if self._db is None:
            import lancedb

            self.db_dir.mkdir(parents=True, exist_ok=True)
            self._db = lancedb.connect(str(self.db_dir))
        return self._db

    def _table_names(self) -> list[str]:
        db = self._connect()
        names = db.table_names() if hasattr(db, "table_names") else list(db.list_tables())
        return list(names)

    def _damaged(self, name: str, exc: BaseException) -> ImgragError:
        return damaged(self.db_dir, name, exc)

    @contextmanager
    def _reading(self, name: str) -> Iterator[None]:
        try:
            yield
        except ImgragError:
            raise
        except Exception as exc:
            if looks_damaged(exc) and not is_disk_full(exc):
                raise self._damaged(name, exc) from exc
            raise

    def _open_table(self, name: str) -> Any:
        db = self._connect()
        try:
            table = db.open_table(name)
            check_version(table)
            return table
        except ImgragError:
            raise
        except Exception as exc:
            raise self._damaged(name, exc) from exc

    def _unborn(self, name: str) -> bool:
        """A table folder without a single committed version: its creation was cut short (a
        kill or a full disk during the first write). It holds nothing, so it counts as absent,
        and create_table(exist_ok=True) commits version 1 into it."""
        folder = self.db_dir / f"{name}.lance"
        try:
            return folder.is_dir() and not any((folder / "_versions").glob("*.manifest"))
        except OSError:
            return False

    def _exists(self, name: str) -> bool:
        return name in self._table_names() and not self._unborn(name)

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """A full disk during a write becomes DiskFull (one clear line; the failed transaction
        was never committed, so the table is as it was)."""
        try:
            yield
        except ImgragError:
            raise
        except Exception as exc:
            if is_disk_full(exc):
                raise DiskFull(self.db_dir.parent) from exc
            if looks_damaged(exc):
                raise self._damaged(IMAGES, exc) from exc
            raise

    @property
    def images(self) -> Any | None:
        """The images table, or None before the first image was indexed."""
        with self._lock:
            if self._images is None and self._exists(IMAGES):
                table = self._open_table(IMAGES)
                self._upgrade(table)
                self._images = table
            return self._images

    def _upgrade(self, table: Any) -> None:
        """An index from an older release gains this release's columns in place (schema.py)."""
        wanted = images_schema(table.schema.field("visual").type.list_size, table.schema.field("textual").type.list_size)
        with self._writing():
            if upgrade_in_place(table, wanted):
                self.writes += 1

    @property
    def failures(self) -> Any:
        with self._lock:
            if self._failures is None:
                if self._exists(FAILURES):
                    self._failures = self._open_table(FAILURES)
                else:
                    with self._writing():
                        self._failures = self._connect().create_table(FAILURES, schema=failures_schema(), exist_ok=True)
            return self._failures

    def ensure_images(self, visual_dim: int) -> Any:
        """Open the images table, creating it for vectors of `visual_dim` when missing."""
        with self._lock:
            table = self.images
            if table is None:
                with self._writing():
                    table = self._connect().create_table(
                        IMAGES, schema=images_schema(visual_dim, self.text_dim), exist_ok=True
                    )
                self._images = table
            return table

    @property
    def visual_dim(self) -> int | None:
        t = self.images
        return None if t is None else t.schema.field("visual").type.list_size

    def refresh(self) -> None:
        """See writes made by other processes (a long-lived reader calls this now and then)."""
        with self._lock:
            for t in (self._images, self._failures):
                if t is not None:
                    try:
                        t.checkout_latest()
                    except Exception:
                        pass
            if self._images is None:
                _ = self.images

    def version(self) -> int:
        t = self.images
        return -1 if t is None else int(t.version)

    def visual_token(self) -> int:
        """Changes whenever vectors or light columns may have changed: any new version of the
        images table except those this process wrote without touching them (OCR text, captions,
        text vectors, compaction). A searcher keys its loaded vectors on it, so a library whose
        text is being read does not reload every vector after each flush."""
        with self._lock:
            v = self.version()
            if v != self._visual_seen:
                self._visual_token += 1
                self._visual_seen = v
            return self._visual_token

    def changes_since(self, version: int, columns: frozenset[str]) -> set[str] | None:
        """Paths this process changed in `columns` since `version` (None: unknown; journal.py)."""
        with self._lock:
            return self.journal.since(version, self.version(), columns)

    def _kept_visual(self, before: int) -> None:
        """After a write that changed no vector nor light column: when nothing else had
        changed the table since the token was taken, the new version stands for the same."""
        if before == self._visual_seen:
            self._visual_seen = self.version()

    def check_droppable(self) -> None:
        """Before a rebuild: a damaged table may be dropped, one from a newer version may not
        (the user may go back to that version)."""
        for name in (IMAGES, FAILURES):
            if self._exists(name):
                try:
                    self._open_table(name)
                except SchemaTooNew:
                    raise
                except ImgragError:
                    pass  # damaged: dropping it is what the rebuild is for

    def drop_images(self) -> None:
        """Drop the images table (model change to another vector size, or a rebuild)."""
        with self._lock:
            if IMAGES in self._table_names():
                self._connect().drop_table(IMAGES)
            self._images = None
            self.journal.reset()
            self.writes += 1

    def drop_failures(self) -> None:
        """Forget every recorded failure (a rebuild retries everything)."""
        with self._lock:
            if FAILURES in self._table_names():
                self._connect().drop_table(FAILURES)
            self._failures = None
            self.writes += 1

    # Reads -----------------------------------------------------------------------------------
    def count(self, where: str | None = None) -> int:
        t = self.images
        if t is None:
            return 0
        with self._reading(IMAGES):
            return int(t.count_rows(where) if where else t.count_rows())

    def failure_count(self, where: str | None = None) -> int:
        f = self.failures
        with self._reading(FAILURES):
            return int(f.count_rows(where) if where else f.count_rows())

    def query(self, where: str | None = None, columns: Sequence[str] | None = None, limit: int | None = None,
              row_ids: bool = False) -> pa.Table:
        t = self.images
        if t is None:
            return pa.table({c: [] for c in (columns or ["path"])})
        with self._reading(IMAGES):
            q = t.search()
            if where:
                q = q.where(where)
            if columns:
                q = q.select(list(columns))
            if row_ids:
                q = q.with_row_id(True)
            q = q.limit(limit if limit is not None else max(1, t.count_rows()))
            return q.to_arrow()

    def rows(self, paths: Sequence[str], columns: Sequence[str] | None = None,
             row_ids: bool = False) -> dict[str, dict[str, Any]]:
        """Rows by path (chunked IN filters); `row_ids` adds their `_rowid`."""
        out: dict[str, dict[str, Any]] = {}
        paths = list(dict.fromkeys(paths))
        cols = list(columns) if columns else None
        if cols and "path" not in cols:
            cols = ["path", *cols]
        for i in range(0, len(paths), IN_CHUNK):
            chunk = paths[i : i + IN_CHUNK]
            for row in self.query(sql_in("path", chunk), cols, limit=len(chunk), row_ids=row_ids).to_pylist():
                out[row["path"]] = row
        return out

    def hit_rows(self, paths: Sequence[str], columns: Sequence[str] = HIT_COLUMNS,
                 row_ids: Mapping[str, int] | None = None) -> dict[str, dict[str, Any]]:
        """`columns` of search hits, cached while the table is unchanged, taken by row id where
        `row_ids` (path → `_rowid`) or an earlier read knows it (rowids.HitRows)."""
        return self._hits.get(self, paths, columns, row_ids or {}, (self.writes, self.version()))

    def forget_hits(self) -> None:
        """Empty the hit-row cache (the benchmark times queries whose hits were never read)."""
        self._hits.forget()

    def file_states(self, where: str | None = None) -> dict[str, tuple[int, int, str, str]]:
        """path → (size, mtime_ns, content_hash, clip_model): what the scanner diffs against."""
        tbl = self.query(where, ["path", "size", "mtime_ns", "content_hash", "clip_model"])
        cols = [tbl.column(c).to_pylist() for c in ("path", "size", "mtime_ns", "content_hash", "clip_model")]
        return {p: (s, m, h, c) for p, s, m, h, c in zip(*cols)}

    def failure_states(self, where: str | None = None) -> dict[str, tuple[int, int, str]]:
        f = self.failures
        with self._reading(FAILURES):
            tbl = f.search().where(where).limit(max(1, f.count_rows())) if where else f.search().limit(max(1, f.count_rows()))
            rows = tbl.select(["path", "size", "mtime_ns", "reason"]).to_arrow().to_pylist()
        return {r["path"]: (r["size"], r["mtime_ns"], r["reason"]) for r in rows}

    def list_failures(self, where: str | None = None, limit: int = 10_000) -> list[dict[str, Any]]:
        f = self.failures
        with self._reading(FAILURES):
            q = f.search()
            if where:
                q = q.where(where)
            return q.limit(limit).to_arrow().to_pylist()

    def rows_by_hash(self, hashes: Iterable[str], clip_model: str) -> dict[str, dict[str, Any]]:
        """One existing row per content hash made by `clip_model`: its vectors and text can be
        reused for a moved, renamed or copied file."""
        out: dict[str, dict[str, Any]] = {}
        hashes = list(dict.fromkeys(hashes))
        for i in range(0, len(hashes), IN_CHUNK):
            chunk = hashes[i : i + IN_CHUNK]
            where = f"{sql_in('content_hash', chunk)} AND clip_model = {sql_str(clip_model)}"
            for row in self.query(where).to_pylist():
                out.setdefault(row["content_hash"], row)
        return out

    def vectors(self, column: str = "visual", where: str | None = None,
                extra: Sequence[str] = (), row_ids: bool = False) -> tuple[pa.Table, np.ndarray]:
        """All non-null vectors of `column` matching `where`, as a float32 matrix, with light
        columns beside them (and each row's `_rowid` with `row_ids`: see rowids.py)."""
        cols = list(dict.fromkeys([*LIGHT_COLUMNS, *extra, column]))
        cond = f"{column} IS NOT NULL"
        tbl = self.query(f"({where}) AND {cond}" if where else cond, cols, row_ids=row_ids)
        if tbl.num_rows == 0:
            return tbl, np.zeros((0, 0), np.float32)
        vec = tbl.column(column).combine_chunks()
        dim = vec.type.list_size
        mat = vec.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False).reshape(-1, dim)
        # One chunk per column: LanceDB returns ~1,000-row batches, and taking the 10 rows of a
        # search's hits from 977 chunks cost 5-18 ms at 1M rows (0.02 ms from one chunk).
        light = tbl.drop_columns([column])
        try:
            light = light.combine_chunks()
        except (pa.ArrowInvalid, pa.ArrowCapacityError):  # over 2 GB of text in a column: keep chunks
            pass
        return light, mat

    # Writes ----------------------------------------------------------------------------------
    def _table_from_rows(self, rows: Sequence[dict[str, Any]], schema: pa.Schema) -> pa.Table:
        cols: dict[str, list[Any]] = {f.name: [] for f in schema}
        for r in rows:
            for name in cols:
                v = r.get(name)
                if isinstance(v, np.ndarray):
                    v = v.astype(np.float32, copy=False).tolist()
                cols[name].append(v)
        return pa.table(cols, schema=schema)

    def upsert(self, rows: Sequence[dict[str, Any]], visual_dim: int | None = None) -> None:
        """Insert or replace rows by path, in one transaction. Rows may lack a visual vector
        (None: CLIP not there yet); `visual_dim` then sizes a table that does not exist yet."""
        if not rows:
            return
        with self._lock:
            dim = next((len(r["visual"]) for r in rows if r.get("visual") is not None), None) \
                or self.visual_dim or visual_dim
            if not dim:
                raise ImgragError("cannot create the index without knowing the CLIP model's vector size")
            table = self.ensure_images(dim)
            data = self._table_from_rows(rows, table.schema)
            before = int(table.version)
            with self._writing():
                table.merge_insert("path").when_matched_update_all().when_not_matched_insert_all().execute(
                    data, on_bad_vectors="null")
            self.journal.note(before, int(table.version), frozenset(r["path"] for r in rows), None)
            self.writes += 1

    def update_rows(self, changes: dict[str, dict[str, Any]]) -> int:
        """Change some columns of existing rows (path → {column: value}), in one transaction.

        Rows that vanished meanwhile (file deleted) are skipped, never re-created. Returns the
        number of rows written.
        """
        if not changes:
            return 0
        with self._lock:
            current = self.rows(list(changes))
            merged = []
            for path, row in current.items():
                row = dict(row)
                row.update(changes[path])
                merged.append(row)
            if not merged:
                return 0
            table: Any = self.images  # not None: the rows merged above were read from it
            data = self._table_from_rows(merged, table.schema)
            before = int(table.version)
            with self._writing():
                table.merge_insert("path").when_matched_update_all().execute(data, on_bad_vectors="null")
            self.journal.note(before, int(table.version), frozenset(current),
                              frozenset(c for ch in changes.values() for c in ch))
            self.writes += 1
            if not any(VISUAL_SIDE.intersection(c) for c in changes.values()):
                self._kept_visual(before)
            return len(merged)

    def mark_pending(self, where: str, status_column: str) -> int:
        """Queue the rows matching `where` again for a later stage (`ocr_status`,
        `caption_status`): status 'pending', error cleared, in transactions of 500 rows.
        Returns the number of rows queued."""
        paths = self.query(where, ["path"]).column("path").to_pylist()
        n = 0
        for i in range(0, len(paths), 500):
            n += self.update_rows({p: {status_column: "pending", "error": ""} for p in paths[i:i + 500]})
        return n

    def delete_paths(self, paths: Sequence[str]) -> None:
        t = self.images
        if t is None or not paths:
            return
        with self._lock, self._writing():
            before = int(t.version)
            for i in range(0, len(paths), IN_CHUNK):
                t.delete(sql_in("path", paths[i : i + IN_CHUNK]))
            self.journal.note(before, int(t.version), frozenset(paths), None)
            self.writes += 1

    def delete_where(self, where: str) -> None:
        t = self.images
        if t is None:
            return
        with self._lock, self._writing():
            before, gone = int(t.version), frozenset(self.query(where, ["path"]).column("path").to_pylist())
            t.delete(where)
            self.journal.note(before, int(t.version), gone, None)
            self.writes += 1

    def record_failures(self, failures: Sequence[tuple[Failure, str, int, int]]) -> None:
        """(failure, folder, size, mtime_ns) rows: the file is skipped until it changes."""
        if not failures:
            return
        now = time.time()
        rows = [
            {"path": f.path, "folder": folder, "size": size, "mtime_ns": mtime, "stage": f.stage, "reason": f.reason, "at": now}
            for f, folder, size, mtime in failures
        ]
        with self._lock:
            data = self._table_from_rows(rows, failures_schema())
            with self._writing():
                self.failures.merge_insert("path").when_matched_update_all().when_not_matched_insert_all().execute(data)
            self.writes += 1

    def clear_failures(self, paths: Sequence[str]) -> None:
        if not paths:
            return
        with self._lock, self._writing():
            f = self.failures
            for i in range(0, len(paths), IN_CHUNK):
                f.delete(sql_in("path", paths[i : i + IN_CHUNK]))
            self.writes += 1

    def clear_failures_where(self, where: str) -> None:
        with self._lock, self._writing():
            self.failures.delete(where)
            self.writes += 1

    def optimize(self) -> None:
        """Compact fragments and prune old versions (after large runs)."""
        from datetime import timedelta

        with self._lock, self._writing():
            before = self.version()
            for t in (self.images, self.failures):
                if t is None:
                    continue
                try:
                    t.optimize(cleanup_older_than=timedelta(minutes=OLD_VERSIONS_KEPT_MIN))
                except TypeError:  # older LanceDB without the argument
                    t.optimize()
            self.ensure_path_index()
            self.journal.note(before, self.version(), frozenset(), frozenset())  # same rows, compacted
            self._kept_visual(before)

    def ensure_path_index(self) -> None:
        """A BTREE index on `images.path`, created once (journal.py: ensure_path_index)."""
        if self.images is not None:
            ensure_path_index(self.images)
