"""The vectors a search reads, held in RAM as one immutable snapshot per vector column.

A query takes the current snapshot once and works on it throughout, so a concurrent change
never mixes rows of two versions. After a write the next snapshot is the held one patched
with the changed rows only (new, changed, moved, deleted pictures: `LoadedVectors.patched`),
sharing the rest; it is loaded whole when the store cannot say what changed (another process
wrote). Writes that touch none of a column's vectors or light columns keep its snapshot.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

import numpy as np

from imgrag_desktop.search import startcache
from imgrag_desktop.search.startcache import table_identity
from imgrag_desktop.search.vectors import VectorIndex
from imgrag_desktop.store import IN_CHUNK, LIGHT_COLUMNS, Store, sql_in, sql_str

# A snapshot is patched after a write until its patched and dead rows pass this share of its
# rows (or PATCH_MIN rows): then one full reload is cheaper than carrying them.
PATCH_MAX = 0.05
PATCH_MIN = 5_000

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa


class RowPaths(Sequence[str]):
    """Path of each row number: the loaded rows, then the rows patched in after them."""

    def __init__(self, base: list[str], tail: list[str]) -> None:
        self._base, self._tail = base, tail

    def __len__(self) -> int:
        return len(self._base) + len(self._tail)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self)
        n = len(self._base)
        return self._base[i] if i < n else self._tail[i - n]


class PathRows(Mapping[str, int]):
    """path → its live row: the loaded rows' dict, shared, under the patched paths."""

    def __init__(self, base: Mapping[str, int], added: dict[str, int], removed: frozenset[str]) -> None:
        self._base, self._added, self._removed = base, added, removed

    def __getitem__(self, path: str) -> int:
        if path in self._added:
            return self._added[path]
        if path in self._removed:
            raise KeyError(path)
        return self._base[path]

    def __contains__(self, path: object) -> bool:
        return path in self._added or (path not in self._removed and path in self._base)

    def __iter__(self) -> Iterator[str]:
        yield from (p for p in self._base if p not in self._removed)
        yield from self._added

    def __len__(self) -> int:
        return sum(1 for _ in self)


class HashRows(Mapping[str, list[int]]):
    """content hash → live rows (what tiles are matched by), the same way."""

    def __init__(self, base: Mapping[str, list[int]], added: dict[str, list[int]], dead: frozenset[int]) -> None:
        self._base, self._added, self._dead = base, added, dead

    def __getitem__(self, h: str) -> list[int]:
        rows = [r for r in self._base.get(h, ()) if r not in self._dead] + self._added.get(h, [])
        if not rows:
            raise KeyError(h)
        return rows

    def __iter__(self) -> Iterator[str]:
        return iter([h for h in {**self._base, **self._added} if h in self])

    def __len__(self) -> int:
        return sum(1 for _ in self)


class ColumnHashRows(Mapping[str, list[int]]):
    """content hash → rows of a loaded snapshot, grouped in Arrow and numpy on first use:
    a Python dict of lists over a million rows took 5 s of the first query after a start."""

    def __init__(self, column: "pa.ChunkedArray") -> None:
        self._column = column
        self._built: tuple[dict[str, int], np.ndarray, np.ndarray] | None = None
        self._lock = threading.Lock()

    def _index(self) -> tuple[dict[str, int], np.ndarray, np.ndarray]:
        with self._lock:
            if self._built is None:
                import pyarrow.compute as pc

                enc = pc.dictionary_encode(self._column.combine_chunks())
                codes = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
                uniq = enc.dictionary.to_pylist()
                order = np.argsort(codes, kind="stable")
                offsets = np.searchsorted(codes[order], np.arange(-1, len(uniq)), side="left")
                offsets = np.append(offsets, codes.shape[0])  # [start of -1, start of 0, ..., end]
                self._built = ({h: c for c, h in enumerate(uniq)}, order, offsets)
            return self._built

    def __getitem__(self, h: str) -> list[int]:
        code_of, order, offsets = self._index()
        c = code_of[h]
        return order[offsets[c + 1]:offsets[c + 2]].tolist()

    def __iter__(self) -> Iterator[str]:
        return iter(self._index()[0])

    def __len__(self) -> int:
        return len(self._index()[0])


_generation = itertools.count(1)


@dataclass(frozen=True)
class LoadedVectors:
    """One vector column of the rows made by one model: row i of `table` is vector i of `index`.

    A snapshot loaded whole has `base` None. One patched after a write (`patched`) shares the
    loaded rows with the snapshot it came from and adds the changed rows after them; the rows
    they replace stay in place but are dead (`index.dead`): no search returns them.
    """

    key: tuple[Any, ...]  # unique per content (tiles cache on it)
    table: "pa.Table"  # light columns (store.LIGHT_COLUMNS)
    index: VectorIndex
    paths: Sequence[str]
    row_of: Mapping[str, int]
    base: "LoadedVectors | None" = None  # the snapshot loaded whole that this one patches
    delta: "pa.Table | None" = None  # light columns of the rows after base's (patched in)
    added: dict[str, int] = field(default_factory=dict)  # patched path → row
    removed: frozenset[str] = frozenset()  # paths whose base row is dead

    @cached_property
    def rows_by_hash(self) -> Mapping[str, list[int]]:
        """Rows per content hash (tiles are stored per hash; copies share them)."""
        if self.base is not None:
            added: dict[str, list[int]] = {}
            if self.delta is not None and self.delta.num_rows:
                n0 = len(self.base.paths)
                dead = set(self.index.dead.tolist())
                for j, h in enumerate(self.delta.column("content_hash").to_pylist()):
                    if n0 + j not in dead:
                        added.setdefault(h, []).append(n0 + j)
            return HashRows(self.base.rows_by_hash, added, frozenset(self.index.dead.tolist()))
        if not self.table.num_rows:
            return {}
        return ColumnHashRows(self.table.column("content_hash"))

    def mask_of(self, paths: Sequence[str]) -> np.ndarray:
        """A row mask holding these paths (unknown ones are ignored)."""
        mask = np.zeros(len(self.paths), bool)
        for p in paths:
            i = self.row_of.get(p)
            if i is not None:
                mask[i] = True
        return mask

    def patched(self, changed: set[str], light: "pa.Table", matrix: np.ndarray) -> "LoadedVectors":
        """This snapshot after the rows of `changed` paths were written or deleted: `light` and
        `matrix` are those rows as they are now (none for a deleted path)."""
        import pyarrow as pa

        base = self.base or self
        n = len(self.paths)
        dead = [self.row_of[p] for p in changed if p in self.row_of]
        new_paths = light.column("path").to_pylist() if light.num_rows else []
        index = self.index.patched(np.asarray(dead, np.int64), matrix if new_paths else np.zeros((0, 0), np.float32))
        delta = light if self.delta is None else pa.concat_tables([self.delta, light.select(self.delta.column_names)])
        delta = delta.combine_chunks()
        table = pa.concat_tables([base.table, delta])
        added = {p: r for p, r in self.added.items() if p not in changed}
        added.update({p: n + j for j, p in enumerate(new_paths)})
        removed = self.removed | frozenset(changed)
        tail = list(self.paths[len(base.paths):]) + new_paths
        return LoadedVectors((next(_generation), *self.key[1:]), table, index,
                             RowPaths(base.paths if isinstance(base.paths, list) else list(base.paths), tail),
                             PathRows(base.row_of, added, removed), base, delta, added, removed)

    @property
    def patched_rows(self) -> int:
        """Rows after the loaded ones plus dead rows: when this grows, a full reload pays."""
        return (0 if self.delta is None else self.delta.num_rows) + int(self.index.dead.size)


def allowed_mask(store: Store, snapshot: LoadedVectors, where: str | None) -> np.ndarray | None:
    """Rows passing a LanceDB filter, as a mask over the snapshot (None: every row)."""
    if not where:
        return None
    return snapshot.mask_of(store.query(where, ["path"]).column("path").to_pylist())


class VectorCache:
    """The current snapshot of each vector column; thread-safe, kept up to date with the store.

    After a write by this process only the changed rows are read and patched into the held
    snapshot (`LoadedVectors.patched`); a change the store cannot account for (another
    process wrote; see store/journal.py), or a patch grown past `PATCH_MAX` rows, reloads the
    column whole. `incremental=False` reloads whole after every change (the old behaviour,
    kept for the benchmark's comparison).
    """

    def __init__(self, store: Store, incremental: bool = True, clusters_dir: "Path | None" = None,
                 start_cache: bool = True, compact: bool = True) -> None:
        self.store = store
        # The 8-bit scan copy of large columns (compact.py); False: float32 scans (benchmark).
        self.compact = compact
        self.incremental = incremental
        # Keep the loaded vectors in clusters_dir for the next start (startcache.py).
        self.start_cache = start_cache
        self.start_cache_write_s = 0.0  # time the last full load spent writing them (benchmark)
        # Where the IVF's clusters are kept between runs (None: not kept): opening a large
        # library again skips k-means and calibration, over half of building its index.
        self.clusters_dir = clusters_dir
        self._lock = threading.Lock()
        self._held: dict[str, tuple[tuple[Any, ...], LoadedVectors]] = {}

    def get(self, column: str, model_col: str, model_id: str) -> LoadedVectors:
        store = self.store
        if not self.incremental:
            key = (store.visual_token(), model_id) if column == "visual" else (store.writes, store.version(), model_id)
        with self._lock:
            if self.incremental:
                key = (store.journal.epoch, store.version(), model_id)
            held_key, held = self._held.get(column, ((), None))
            if held is not None and held_key == key:
                return held
            if held is not None and self.incremental and held_key[0::2] == key[0::2] and len(held.paths):
                patched = self._patch(held, held_key[1], column, model_col, model_id)
                if patched is not None:
                    self._held[column] = (key, patched)
                    return patched
            # At start, the vectors the last run loaded, memory-mapped, when the table is still
            # the one they came from (startcache.py); else the normal load, which writes them.
            cache = self._start_cache(column, model_id)
            identity = table_identity(store) if cache is not None else None
            cached = cache.load(identity) if cache is not None and held is None else None
            if cached is not None:
                table, index = cached
                if not self.compact and index.compact_info is not None:
                    index = index.with_compact(False)
                paths = table.column("path").to_pylist() if table.num_rows else []
            else:
                table, matrix = store.vectors(column, f"{model_col} = {sql_str(model_id)}", row_ids=True)
                paths = table.column("path").to_pylist() if table.num_rows else []
                # The previous index lends its clusters to the new one (no k-means at >= 250k rows),
                # or, at start, the clusters saved by the last run on this library.
                like = held.index if held is not None else self._saved_clusters(column, model_id, matrix)
                index = VectorIndex(matrix if len(paths) else np.zeros((0, 1), np.float32), like=like,
                                    compact="auto" if self.compact else False)
                del matrix
                if index.is_ann and index.info is not None and (
                        not index.reuses(like) or (like is not None and like.nprobe != index.nprobe)):
                    self._save_clusters(column, model_id, index)
                if cache is not None and identity is not None and len(paths) >= startcache.MIN_ROWS:
                    t0 = time.perf_counter()
                    cache.save(identity, table, index)
                    self.start_cache_write_s = time.perf_counter() - t0
            loaded = LoadedVectors((next(_generation), model_id), table, index, paths,
                                   {p: i for i, p in enumerate(paths)})
            self._held[column] = (key, loaded)
            return loaded

    def _start_cache(self, column: str, model_id: str) -> "startcache.StartCache | None":
        if self.clusters_dir is None or not self.incremental or not self.start_cache:
            return None
        return startcache.StartCache(self.clusters_dir, column, model_id)

    def _clusters_file(self, column: str, model_id: str) -> "Path | None":
        if self.clusters_dir is None:
            return None
        import hashlib

        return self.clusters_dir / f"ivf-{column}-{hashlib.sha1(model_id.encode()).hexdigest()[:16]}.npz"

    def _saved_clusters(self, column: str, model_id: str, matrix: np.ndarray) -> VectorIndex | None:
        path = self._clusters_file(column, model_id)
        if path is None or matrix.ndim != 2 or not matrix.shape[0] or not path.exists():
            return None
        return VectorIndex.load_clusters(path, matrix.shape[1])

    def _save_clusters(self, column: str, model_id: str, index: VectorIndex) -> None:
        path = self._clusters_file(column, model_id)
        if path is None:
            return
        try:
            index.save_clusters(path)
        except OSError:  # a read-only data dir: the next start clusters again
            pass

    def _patch(self, held: LoadedVectors, version: int, column: str, model_col: str,
               model_id: str) -> LoadedVectors | None:
        """The held snapshot with what changed since `version`, or None: reload it whole."""
        side = frozenset([*LIGHT_COLUMNS, column, model_col])
        changed = self.store.changes_since(version, side)
        if changed is None:
            return None
        if not changed:
            return held
        limit = max(PATCH_MIN, int(PATCH_MAX * held.index.live))
        if len(changed) + held.patched_rows > limit:
            return None
        import pyarrow as pa

        paths = sorted(changed)
        parts = [self.store.vectors(column, f"{model_col} = {sql_str(model_id)} AND {sql_in('path', paths[i:i + IN_CHUNK])}",
                                    row_ids=True) for i in range(0, len(paths), IN_CHUNK)]
        parts = [(t, m) for t, m in parts if t.num_rows]
        if not parts:
            light = held.table.schema.empty_table()
            matrix = np.zeros((0, held.index.dim), np.float32)
        else:
            try:
                light = pa.concat_tables([t.select(held.table.column_names) for t, _ in parts])
            except (pa.ArrowInvalid, KeyError):
                return None
            matrix = np.vstack([m for _, m in parts])
            if matrix.shape[1] != held.index.dim:
                return None
        try:
            return held.patched(changed, light, matrix)
        except pa.ArrowInvalid:  # the columns' types differ from the loaded ones: reload
            return None
