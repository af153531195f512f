"""A compact copy of the vectors for the scan: 8-bit scalar quantisation (faiss), exact re-rank.

A query scans every row (exact search) or every row of the clusters it probes (IVF); that scan
is bound by memory bandwidth, 2 KB a row in float32. An 8-bit code per dimension (faiss
`ScalarQuantizer.QT_8bit`, trained per dimension on the rows' range) is 512 bytes a row, and
faiss scans it with AVX-512 kernels, one thread. The scan proposes more rows than asked for
(`candidates`), and those are scored again exactly from the float32 rows, which only the
re-rank reads (they can stay memory-mapped from the start cache: resident memory drops).

Why faiss and not numpy or torch, measured on the 2-core AVX-512 machine this was written on,
100k x 512 CLIP-like rows, one thread, p50 of one query (docs/performance.md has the table):
numpy float32 product 15 ms; torch bf16 product 13-18 ms (oneDNN's matrix-vector path is not
faster than the float32 one here); numpy float16 380 ms (no BLAS kernel); faiss SQ8 scan plus
re-rank of 100 rows 4.6 ms, recall@10 1.000; with the IVF clusters the product already uses,
faiss IVF-SQ8 0.8 ms against 10.9 ms for the numpy IVF scan at the same nprobe.

Row positions here are the index's internal positions (cluster order for an IVF). The codes
are built once per layout and never changed in place (snapshots share them); filters are
passed as a bitmap of allowed positions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

# Below this many rows a float32 scan costs under ~3 ms: no compact copy (and no faiss import).
COMPACT_MIN_ROWS = 20_000
# Rows the quantiser's per-dimension ranges are trained on (more barely moves them).
TRAIN_ROWS = 50_000
# The compact scan proposes max(RERANK_FACTOR * k, k + RERANK_EXTRA) rows for the exact re-rank.
RERANK_FACTOR = 2
RERANK_EXTRA = 64


def available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:  # pragma: no cover - faiss-cpu is a dependency
        return False
    return True


def _faiss() -> Any:
    """The faiss module, untyped (its SWIG stubs do not know the search parameters' fields)."""
    import faiss

    return faiss


def candidates_for(k: int) -> int:
    return max(RERANK_FACTOR * k, k + RERANK_EXTRA)


@dataclass
class CompactInfo:
    """What the compact copy is, for the benchmark and the start cache."""

    kind: str  # "sq8" (flat, every row) or "ivf-sq8" (the index's clusters)
    bytes: int
    build_s: float
    rows: int


class CompactScan:
    """8-bit codes of `data` (rows in internal order) in a faiss index: flat, or an inverted
    file over the given centroids with every row in the cluster `assign` says."""

    def __init__(self, index: Any, info: CompactInfo) -> None:
        self.index = index
        self.info = info

    @classmethod
    def build(cls, data: np.ndarray, centroids: np.ndarray | None = None, assign: np.ndarray | None = None,
              seed: int = 0) -> "CompactScan":
        faiss = _faiss()

        t0 = time.perf_counter()
        n, d = data.shape
        rng = np.random.default_rng(seed)
        sample = data if n <= TRAIN_ROWS else data[np.sort(rng.choice(n, TRAIN_ROWS, replace=False))]
        sample = np.ascontiguousarray(sample, np.float32)
        qt, ip = faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        index: Any
        if centroids is None:
            index = faiss.IndexScalarQuantizer(d, qt, ip)
            index.train(sample)
            for i in range(0, n, 262144):  # in chunks: no second float32 copy of a memory map
                index.add(np.ascontiguousarray(data[i : i + 262144], np.float32))
            kind = "sq8"
        else:
            assert assign is not None
            cent = np.ascontiguousarray(centroids, np.float32)
            quantizer = faiss.IndexFlatIP(d)
            quantizer.add(cent)
            index = faiss.IndexIVFScalarQuantizer(quantizer, d, cent.shape[0], qt, ip, False)
            index.own_fields = True
            quantizer.this.disown()  # the IVF index frees it
            index.train(sample)  # the quantiser is already filled: this trains the codes only
            for i in range(0, n, 262144):
                x = np.ascontiguousarray(data[i : i + 262144], np.float32)
                ids = np.arange(i, i + x.shape[0], dtype=np.int64)
                a = np.ascontiguousarray(assign[i : i + x.shape[0]], np.int64)
                index.add_core(x.shape[0], faiss.swig_ptr(x), faiss.swig_ptr(ids), faiss.swig_ptr(a))
            kind = "ivf-sq8"
        per_row = index.code_size + (8 if centroids is not None else 0)  # an IVF keeps each row's id too
        info = CompactInfo(kind=kind, bytes=int(n * per_row), build_s=time.perf_counter() - t0, rows=n)
        return cls(index, info)

    def to_array(self) -> np.ndarray:
        import faiss

        return np.asarray(faiss.serialize_index(self.index))

    @classmethod
    def from_array(cls, blob: np.ndarray, info: dict[str, Any], dim: int, rows: int) -> "CompactScan | None":
        """The compact copy `to_array` wrote, or None when it does not fit these rows."""
        import faiss

        try:
            index = faiss.deserialize_index(np.ascontiguousarray(blob, np.uint8))
        except RuntimeError:
            return None
        ci = CompactInfo(**info)
        if index.d != dim or index.ntotal != rows or ci.rows != rows:
            return None
        return cls(index, ci)

    @property
    def is_ivf(self) -> bool:
        return self.info.kind == "ivf-sq8"

    def search(self, q: np.ndarray, count: int, allowed_pos: np.ndarray | None = None,
               nprobe: int = 0) -> np.ndarray:
        """Internal positions of the `count` best rows by their 8-bit scores (unordered, at most
        `count`; only allowed positions when a mask is given)."""
        faiss = _faiss()

        faiss.omp_set_num_threads(1)  # one thread per query, like the BLAS products (vectors.py)
        sel = None
        bits = None
        if allowed_pos is not None:
            bits = np.packbits(np.asarray(allowed_pos, bool), bitorder="little")
            sel = faiss.IDSelectorBitmap(allowed_pos.shape[0], faiss.swig_ptr(bits))
        if self.is_ivf:
            params: Any = faiss.SearchParametersIVF(nprobe=max(1, int(nprobe)), sel=sel)
        else:
            params = faiss.SearchParameters(sel=sel) if sel is not None else None
        qq = np.ascontiguousarray(q, np.float32).reshape(1, -1)
        _, idx = self.index.search(qq, int(count), params=params)
        del bits  # the selector read it during the search
        pos = idx[0]
        return pos[pos >= 0].astype(np.int64)
