"""The vectors a search reads, held in RAM as one immutable snapshot per vector column.

A query takes the current snapshot once and works on it throughout, so a concurrent reload
(the index changed) never mixes rows of two versions. A snapshot is replaced whole when the
store says its column changed; visual vectors survive writes of text (OCR, captions), the
textual ones do not.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from imgrag_desktop.search.vectors import VectorIndex
from imgrag_desktop.store import Store, sql_str

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa


@dataclass(frozen=True)
class LoadedVectors:
    """One vector column of the rows made by one model: row i of `table` is vector i of `index`."""

    key: tuple[Any, ...]  # the store's version this was read at (compared to reuse it)
    table: "pa.Table"  # light columns (store.LIGHT_COLUMNS)
    index: VectorIndex
    paths: list[str]
    row_of: Mapping[str, int]

    @cached_property
    def rows_by_hash(self) -> dict[str, list[int]]:
        """Rows per content hash (tiles are stored per hash; copies share them)."""
        out: dict[str, list[int]] = {}
        if self.table.num_rows:
            for i, h in enumerate(self.table.column("content_hash").to_pylist()):
                out.setdefault(h, []).append(i)
        return out

    def mask_of(self, paths: Sequence[str]) -> np.ndarray:
        """A row mask holding these paths (unknown ones are ignored)."""
        mask = np.zeros(len(self.paths), bool)
        for p in paths:
            i = self.row_of.get(p)
            if i is not None:
                mask[i] = True
        return mask


def allowed_mask(store: Store, snapshot: LoadedVectors, where: str | None) -> np.ndarray | None:
    """Rows passing a LanceDB filter, as a mask over the snapshot (None: every row)."""
    if not where:
        return None
    return snapshot.mask_of(store.query(where, ["path"]).column("path").to_pylist())


class VectorCache:
    """The current snapshot of each vector column; thread-safe, reloaded when the store changed."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._held: dict[str, LoadedVectors] = {}

    def get(self, column: str, model_col: str, model_id: str) -> LoadedVectors:
        store = self.store
        key = (store.visual_token(), model_id) if column == "visual" else (store.writes, store.version(), model_id)
        with self._lock:
            held = self._held.get(column)
            if held is not None and held.key == key:
                return held
            table, matrix = store.vectors(column, f"{model_col} = {sql_str(model_id)}")
            paths = table.column("path").to_pylist() if table.num_rows else []
            # The previous index lends its clusters to the new one (no k-means at >= 250k rows).
            like = held.index if held is not None else None
            index = VectorIndex(matrix if len(paths) else np.zeros((0, 1), np.float32), like=like)
            loaded = LoadedVectors(key, table, index, paths, {p: i for i, p in enumerate(paths)})
            self._held[column] = loaded
            return loaded
