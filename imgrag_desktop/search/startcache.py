"""The searcher's start-up cache: the loaded vectors of one column, kept on disk between runs.

Opening a large library reads every vector from LanceDB into numpy, files every row into its
IVF cluster and copies the matrix into cluster order (over a minute at 1M rows on 2 cores).
After such a full load the searcher writes what it built to `<data dir>/search-cache/`:

- `<stem>.data.npy`: the index's rows as it holds them (float32; in cluster order for an IVF),
- `<stem>.order.npy`, `.offsets.npy`, `.centroids.npy` (IVF only): its layout,
- `<stem>.compact.npy` (20,000 rows or more): the 8-bit scan copy (compact.py, a serialised
  faiss index, a quarter of the float32 size), read into memory at start; the float32 rows
  stay memory-mapped and only the re-rank of each query's candidates reads them,
- `<stem>.light.arrow`: the light columns (Arrow IPC file; paths come from it),
- `<stem>.json`: what they were made from (table version, row count, the table's manifest),
  their sizes and a checksum of a sample of their bytes. It is written last.

At the next start they are opened memory-mapped (numpy, Arrow), no copy: the first query reads
the pages of the clusters it scans. They are used only when the table is exactly the one they
were made from (same version, row count and manifest file); anything else, a missing, truncated
or altered file, or one that does not parse, means the normal load (which writes them again).
Each file is written atomically (atomic.py); a cache written by another run replaces them
whole, and a process holding the old ones mapped keeps reading the old ones.

The float32 rows are kept beside the compact copy because the re-rank, `scores` (every row's
exact score) and the calibration read them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from imgrag_desktop.atomic import atomic_file, write_json
from imgrag_desktop.store import LIGHT_COLUMNS, ROWID

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from imgrag_desktop.search.vectors import VectorIndex
    from imgrag_desktop.store import Store

FORMAT = 3  # 2: the compact scan copy (compact.py) is kept too; 3: the light rows carry their `_rowid`
# Below this many rows the normal load takes well under a second: no cache is written.
MIN_ROWS = 50_000
_SAMPLE_BLOCK = 4096
_SAMPLES = 256
ARRAYS = ("data", "order", "offsets", "centroids", "compact")


def _sample_digest(path: Path) -> str:
    """blake2b of `_SAMPLES` blocks spread over the file, its first and its last: catches a
    truncated, overwritten or foreign file without reading gigabytes at start."""
    size = path.stat().st_size
    h = hashlib.blake2b(digest_size=16)
    h.update(str(size).encode())
    with open(path, "rb") as fh:
        step = max(_SAMPLE_BLOCK, size // _SAMPLES)
        for off in [*range(0, size, step), max(0, size - _SAMPLE_BLOCK)]:
            fh.seek(off)
            h.update(fh.read(_SAMPLE_BLOCK))
    return h.hexdigest()


def table_identity(store: "Store") -> dict[str, Any] | None:
    """What says the images table is the same one: version, rows, its manifest's stat (a table
    dropped and written again starts its versions over, with new manifest files)."""
    t = store.images
    if t is None:
        return None
    version = int(t.version)
    manifest: list[int] | None = None
    versions = Path(store.db_dir) / "images.lance" / "_versions"
    with contextlib.suppress(OSError):
        for name in (f"{version}.manifest", f"{2**64 - 1 - version}.manifest"):  # both naming schemes
            f = versions / name
            if f.exists():
                st = f.stat()
                manifest = [st.st_size, st.st_mtime_ns, st.st_ino]
                break
    return {"version": version, "rows": int(t.count_rows()), "manifest": manifest}


class StartCache:
    """The cache files of one vector column made by one model (see the module's text)."""

    def __init__(self, directory: Path, column: str, model_id: str) -> None:
        stem = f"start-{column}-{hashlib.sha1(model_id.encode()).hexdigest()[:16]}"
        self.dir = Path(directory)
        self.meta_path = self.dir / f"{stem}.json"
        self.files = {name: self.dir / f"{stem}.{name}.npy" for name in ARRAYS}
        self.light_path = self.dir / f"{stem}.light.arrow"
        self.column, self.model_id = column, model_id

    # Writing ------------------------------------------------------------------------------------
    def save(self, identity: dict[str, Any], light: "pa.Table", index: "VectorIndex") -> bool:
        """Write the cache of this freshly loaded snapshot; False when it cannot be (a patched
        index, a read-only or full disk: the next start loads normally)."""
        import pyarrow as pa

        state = index.start_state()
        if state is None:
            return False
        try:
            with contextlib.suppress(OSError):
                self.meta_path.unlink()  # first: a reader never pairs old meta with new files
            files: dict[str, Any] = {}
            for name in ARRAYS:
                path = self.files[name]
                arr = state.get(name)
                if arr is None:
                    with contextlib.suppress(OSError):
                        path.unlink()
                    continue
                with atomic_file(path, "wb") as fh:
                    np.save(fh, np.ascontiguousarray(arr), allow_pickle=False)
                files[name] = [path.name, path.stat().st_size, _sample_digest(path)]
            with atomic_file(self.light_path, "wb") as fh:
                with pa.ipc.new_file(fh, light.schema) as writer:
                    writer.write_table(light)
            files["light"] = [self.light_path.name, self.light_path.stat().st_size, _sample_digest(self.light_path)]
            write_json(self.meta_path, {
                "format": FORMAT, "column": self.column, "model_id": self.model_id, "table": identity,
                "info": state["info"], "compact": state["compact_info"], "files": files})
            return True
        except (OSError, ValueError, pa.ArrowException):
            with contextlib.suppress(OSError):
                self.meta_path.unlink()
            return False

    # Reading ------------------------------------------------------------------------------------
    def load(self, identity: dict[str, Any] | None) -> "tuple[pa.Table, VectorIndex] | None":
        """(light table, index) memory-mapped from the cache, or None: not valid for this table."""
        import pyarrow as pa

        from imgrag_desktop.search.vectors import VectorIndex

        if identity is None or identity.get("manifest") is None:
            return None
        try:
            meta = json.loads(self.meta_path.read_text(encoding="utf-8"))
            if (meta.get("format") != FORMAT or meta.get("column") != self.column
                    or meta.get("model_id") != self.model_id or meta.get("table") != identity):
                return None
            files = meta["files"]
            for fname, size, digest in files.values():
                path = self.dir / Path(fname).name
                if path.stat().st_size != size or _sample_digest(path) != digest:
                    return None
            arrays = {name: np.load(self.dir / Path(files[name][0]).name, mmap_mode="r", allow_pickle=False)
                      for name in ARRAYS if name in files}
            source = pa.memory_map(str(self.dir / Path(files["light"][0]).name), "r")
            light = pa.ipc.open_file(source).read_all()
            if light.column_names != [*LIGHT_COLUMNS, ROWID]:  # made by a version reading other columns
                return None
            index = VectorIndex.from_start_state(arrays, meta["info"], meta.get("compact"))
            if index is None or len(index) != light.num_rows:
                return None
            return light, index
        except (OSError, ValueError, KeyError, TypeError, IndexError, pa.ArrowException):
            return None

    def remove(self) -> None:
        for path in [self.meta_path, *self.files.values(), self.light_path]:
            with contextlib.suppress(OSError):
                os.unlink(path)
