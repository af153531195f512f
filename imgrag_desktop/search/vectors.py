"""In-memory nearest-neighbour search over L2-normalised vectors (cosine = dot product).

LanceDB keeps the vectors on disk; searching them there by brute force costs ~330 ms at 100k
rows on a 2-core CPU, while a matrix-vector product in RAM costs ~5 ms. So search runs here,
over a matrix loaded from the store and refreshed when the store changes.

Exact search reads every vector once per query, so its cost grows with the library: about
0.05 ms per 1,000 rows of 512 float32 on the 2-core machine this was written on (memory
bandwidth, ~20 GB/s). Past `ANN_MIN_ROWS` (250k rows, where an exact scan costs ~13 ms, a third
of the time budget of an "instant" query next to the ~20 ms CLIP text encode) the index
clusters the rows (spherical k-means, an inverted file) and scans only the clusters nearest to
the query. Scores of the scanned rows are exact, so the only loss is a true neighbour lying in
a cluster that was not scanned; how many clusters to scan (`nprobe`) is calibrated on the
library's own vectors at build time until recall@10 against exact search reaches a target.

From `compact.COMPACT_MIN_ROWS` (20k rows) both scans read an 8-bit copy of the rows instead
of the float32 ones (compact.py: a quarter of the bytes, faiss's SIMD kernels) and score the
rows it proposes again exactly from float32; the copy is kept only when its recall@10 against
the float32 scan reaches `COMPACT_MIN_RECALL`, measured when it is built.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from imgrag_desktop.search import compact as compact_scan
from imgrag_desktop.search.compact import CompactInfo, CompactScan

# Below this many rows exact search is already fast (< ~13 ms here) and always right; above it
# the inverted file pays for its build (k-means, a few seconds per million rows).
ANN_MIN_ROWS = 250_000
# Calibrated nprobe must reach this recall@10 on the calibration queries (which are harder than
# typical queries, see `_calibration_queries`), so that real queries clear 0.95 with margin.
TARGET_RECALL = 0.98
# A filter leaving this many rows or fewer is searched exactly over the allowed rows alone.
EXACT_SUBSET_ROWS = 60_000
# The compact scan is kept only when its recall@10 against the float32 scan reaches this.
COMPACT_MIN_RECALL = 0.99
# Appended rows are searched exactly in a tail until there are this many (or 10% of the
# clustered rows), then they are filed into their nearest clusters.
TAIL_MAX_ROWS = 50_000

_EMPTY = (np.zeros(0, np.int64), np.zeros(0, np.float32))


def _topk(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k largest scores, best first (ties by position, stably)."""
    n = scores.shape[0]
    k = min(k, n)
    if k <= 0:
        return np.zeros(0, np.int64)
    idx = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
    return idx[np.argsort(-scores[idx], kind="stable")]


def default_nlist(n: int) -> int:
    """Number of clusters: ~sqrt(n)/2, a power of two between 64 and 2048.

    Fewer, larger clusters than the usual sqrt(n) because on this hardware scanning a cluster
    costs little (contiguous rows, one BLAS call) while assigning every row to a centroid at
    build time costs n x nlist x dim multiply-adds: 1M rows x 512 clusters is ~3 s on 2 cores.
    """
    target = max(64.0, math.sqrt(max(n, 1)) / 2)
    return int(min(2048, 2 ** round(math.log2(target))))


def spherical_kmeans(x: np.ndarray, k: int, iters: int = 10, seed: int = 0,
                     sample: int = 128) -> np.ndarray:
    """k unit centroids maximising the summed cosine of rows to their centroid.

    Trained on at most `sample` rows per centroid (more barely moves the centroids and costs
    linearly); empty clusters are re-seeded with the rows worst served by their centroid.
    """
    rng = np.random.default_rng(seed)
    n = x.shape[0]
    if n > sample * k:
        x = x[np.sort(rng.choice(n, sample * k, replace=False))]
        n = x.shape[0]
    k = min(k, n)
    cent = x[rng.choice(n, k, replace=False)].astype(np.float32, copy=True)
    for _ in range(iters):
        assign, best = _assign(x, cent)
        counts = np.bincount(assign, minlength=k)
        sums = np.zeros_like(cent)
        _scatter_add(sums, assign, x)
        empty = np.flatnonzero(counts == 0)
        if empty.size:
            worst = np.argsort(best)[: empty.size]
            sums[empty] = x[worst]
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        cent = sums / np.maximum(norms, 1e-12)
    return cent.astype(np.float32, copy=False)


def _scatter_add(out: np.ndarray, assign: np.ndarray, x: np.ndarray) -> None:
    """out[c] += sum of rows assigned to c, via one sort and reduceat (np.add.at is slow)."""
    order = np.argsort(assign, kind="stable")
    a = assign[order]
    starts = np.flatnonzero(np.r_[True, a[1:] != a[:-1]])
    out[a[starts]] += np.add.reduceat(x[order], starts, axis=0)


def _assign(x: np.ndarray, cent: np.ndarray, chunk: int = 32768) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid (by dot product) of every row, in chunks to bound the score matrix."""
    n = x.shape[0]
    assign = np.empty(n, np.int64)
    best = np.empty(n, np.float32)
    for i in range(0, n, chunk):
        s = x[i : i + chunk] @ cent.T
        a = s.argmax(axis=1)
        assign[i : i + chunk] = a
        best[i : i + chunk] = s[np.arange(a.shape[0]), a]
    return assign, best


@dataclass
class AnnInfo:
    """What the inverted file was built with, for the benchmark and the diagnostics."""

    nlist: int
    nprobe: int
    calibrated_recall: float
    build_s: float
    rows: int


class VectorIndex:
    """Top-k by dot product over normalised float32 rows: exact when small, IVF when large.

    `VectorIndex(matrix)` picks the method by size (`ann="auto"`); `ann=True`/`False` forces
    it. Row numbers in and out (indices, `allowed` masks) always refer to the rows of the
    matrix as given, followed by appended rows, whatever the internal layout.

    Memory: one float32 copy of the vectors (2 GB per million rows of 512). With the inverted
    file the rows are stored grouped by cluster; the matrix passed in is not kept, so building
    briefly needs two copies and then one. The compact scan copy adds a quarter (512 bytes a
    row, + 8 for its id in an IVF); queries then read the float32 rows only to re-rank a few
    hundred candidates, so when those rows are memory-mapped (the start cache) they need not
    be resident. `compact=False` turns the copy off, `True` forces it at any size.
    """

    def __init__(self, matrix: np.ndarray, *, ann: bool | str = "auto", ann_min_rows: int | None = None,
                 nlist: int | None = None, nprobe: int | None = None, target_recall: float = TARGET_RECALL,
                 seed: int = 0, like: "VectorIndex | None" = None, blas_threads: int | None = 1,
                 compact: bool | str = "auto") -> None:
        m = np.asarray(matrix, dtype=np.float32)
        if m.ndim != 2:
            m = m.reshape(0, 0) if m.size == 0 else m.reshape(1, -1)
        self._data = np.ascontiguousarray(m)
        self._order: np.ndarray | None = None  # internal position -> row number (IVF only)
        self._inverse: np.ndarray | None = None  # row number -> internal position
        self._centroids: np.ndarray | None = None
        self._offsets: np.ndarray | None = None  # cluster c is _data[_offsets[c]:_offsets[c+1]]
        self._tail = np.zeros((0, self.dim), np.float32)  # appended rows not yet filed
        self._dead = np.zeros(0, np.int64)  # row numbers replaced or deleted since (see patched)
        self._lock = threading.RLock()
        self._saved = False
        self.target_recall = target_recall
        self.ann_min_rows = ann_min_rows if ann_min_rows is not None else ANN_MIN_ROWS
        self.seed = seed
        self.info: AnnInfo | None = None
        self.blas_threads = blas_threads
        self._blas: Any = None
        self.compact = compact
        self._compact: CompactScan | None = None
        self.compact_recall: float | None = None  # compact scan + re-rank against float32, measured at build
        use_ann = (len(self._data) >= self.ann_min_rows) if ann == "auto" else bool(ann)
        if use_ann and len(self._data) >= 2:
            reuse = like if (like is not None and like.is_ann and like.dim == self.dim and like.info is not None
                             and like.info.rows / 2 <= len(self._data) <= like.info.rows * 2) else None
            self._build(nlist, nprobe, reuse)
        self._build_compact(check=True)

    @classmethod
    def clusters_only(cls, centroids: np.ndarray, nprobe: int, recall: float, rows: int) -> "VectorIndex":
        """An empty index holding saved clusters, to pass as `like=`: a library opened again
        is clustered with the centroids and nprobe it had (no k-means, no calibration)."""
        cent = np.ascontiguousarray(np.asarray(centroids, np.float32))
        shell = cls(np.zeros((0, cent.shape[1]), np.float32), ann=False)
        shell._centroids = cent
        shell._saved = True  # clusters of an earlier run: checked on the rows before they are trusted
        shell.info = AnnInfo(nlist=cent.shape[0], nprobe=int(nprobe), calibrated_recall=float(recall), build_s=0.0,
                             rows=int(rows))
        return shell

    def save_clusters(self, path: "str | Any") -> bool:
        """Write the centroids and nprobe (IVF only) for `clusters_only`; False when not IVF."""
        if self._centroids is None or self.info is None:
            return False
        from imgrag_desktop.atomic import atomic_file

        with atomic_file(path, "wb") as fh:
            np.savez(fh, centroids=self._centroids, nprobe=self.info.nprobe,
                     recall=self.info.calibrated_recall, rows=self.info.rows)
        return True

    @classmethod
    def load_clusters(cls, path: "str | Any", dim: int) -> "VectorIndex | None":
        """The clusters `save_clusters` wrote, or None (absent, unreadable, another size)."""
        try:
            with np.load(path) as z:
                cent = z["centroids"]
                if cent.ndim != 2 or cent.shape[1] != dim or not np.isfinite(cent).all():
                    return None
                return cls.clusters_only(cent, int(z["nprobe"]), float(z["recall"]), int(z["rows"]))
        except (OSError, ValueError, KeyError):
            return None

    def start_state(self) -> dict[str, Any] | None:
        """What `from_start_state` needs to rebuild this index without clustering (the start-up
        cache, startcache.py); None for an index with patched rows (tail or dead rows)."""
        with self._lock:
            if self._tail.shape[0] or self._dead.size or self._data.ndim != 2:
                return None
            info = dataclasses.asdict(self.info) if self.info is not None else None
            c = self._compact
            return {"data": self._data, "order": self._order, "offsets": self._offsets,
                    "centroids": self._centroids, "info": info,
                    "compact": None if c is None else c.to_array(),
                    "compact_info": None if c is None else {**dataclasses.asdict(c.info),
                                                            "recall": self.compact_recall}}

    @classmethod
    def from_start_state(cls, arrays: dict[str, np.ndarray], info: dict[str, Any] | None,
                         compact_info: dict[str, Any] | None = None) -> "VectorIndex | None":
        """The index `start_state` described, over these (memory-mapped) arrays; None when they
        do not fit together."""
        data = arrays["data"]
        if data.ndim != 2 or data.dtype != np.float32:
            return None
        new = cls(np.zeros((0, data.shape[1]), np.float32), ann=False)
        new._data = data
        if "compact" in arrays:
            if compact_info is None:
                return None
            extra = dict(compact_info)
            recall = extra.pop("recall", None)
            scan = CompactScan.from_array(arrays["compact"], extra, data.shape[1], data.shape[0])
            if scan is None or scan.is_ivf != ("centroids" in arrays):
                return None
            new._compact, new.compact_recall = scan, recall
        if "centroids" not in arrays:
            return new if info is None else None
        order, offsets, cent = arrays["order"], arrays["offsets"], arrays["centroids"]
        n = data.shape[0]
        if (info is None or order.shape != (n,) or cent.ndim != 2 or cent.shape[1] != data.shape[1]
                or offsets.shape != (cent.shape[0] + 1,) or int(offsets[0]) != 0 or int(offsets[-1]) != n
                or bool((np.diff(offsets) < 0).any())):
            return None
        order = np.asarray(order, np.int64)
        inverse = np.full(n, -1, np.int64)
        inverse[order] = np.arange(n)
        if n and int(inverse.min()) < 0:  # not a permutation
            return None
        new._order, new._inverse = order, inverse
        new._offsets = np.asarray(offsets, np.int64)
        new._centroids = np.ascontiguousarray(cent, np.float32)
        new.info = AnnInfo(**info)
        return new

    # Shape ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._data.shape[0] + self._tail.shape[0]) if self._data.ndim == 2 else 0

    @property
    def dim(self) -> int:
        return int(self._data.shape[1]) if self._data.ndim == 2 else 0

    @property
    def dead(self) -> np.ndarray:
        """Row numbers that no longer count (sorted): search and scores never return them."""
        return self._dead

    @property
    def live(self) -> int:
        """Rows that count: len() minus the dead ones."""
        return len(self) - int(self._dead.size)

    @property
    def is_ann(self) -> bool:
        return self._centroids is not None

    @property
    def approximate(self) -> bool:
        """Whether `search` may miss a true neighbour (IVF clusters, or the compact scan's
        proposals): callers wanting every row's score use `scores`."""
        return self._centroids is not None or self._compact is not None

    @property
    def compact_info(self) -> CompactInfo | None:
        """The compact scan copy (8-bit codes) when there is one."""
        return None if self._compact is None else self._compact.info

    def with_compact(self, on: bool) -> "VectorIndex":
        """A new index over the same rows with the compact scan built (`on`, measured for
        recall) or left out (every query scans float32): for the benchmark's comparison."""
        with self._lock:
            new = copy.copy(self)
            new._lock = threading.RLock()
            new.info = dataclasses.replace(self.info) if self.info is not None else None
        new.compact = bool(on)
        if on:
            new._build_compact(check=True)
        else:
            new._compact, new.compact_recall = None, None
        return new

    @property
    def float32_bytes(self) -> int:
        return int(self._data.nbytes + self._tail.nbytes)

    @property
    def nprobe(self) -> int:
        return self.info.nprobe if self.info else 0

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        if self.info is not None:
            self.info.nprobe = max(1, min(int(value), self.info.nlist))

    @property
    def matrix(self) -> np.ndarray:
        """All rows in row-number order (a fresh copy when the index is clustered)."""
        with self._lock:
            base = self._data if self._inverse is None else self._data[self._inverse]
            return base if self._tail.shape[0] == 0 else np.vstack([base, self._tail])

    def vector(self, row: int) -> np.ndarray:
        """One row by row number, without materialising the whole matrix."""
        with self._lock:
            base = self._data.shape[0]
            if row >= base:
                return self._tail[row - base].copy()
            pos = row if self._inverse is None else int(self._inverse[row])
            return self._data[pos].copy()

    # Building -------------------------------------------------------------------------------
    def _build(self, nlist: int | None, nprobe: int | None, like: "VectorIndex | None") -> None:
        """Cluster, file every row, calibrate nprobe. With `like` (the index this one replaces,
        after the library changed, by at most a factor of two in size) its centroids and nprobe
        are kept: the clusters of a photo library drift slowly, and this skips k-means and
        calibration, over half the build."""
        t0 = time.perf_counter()
        x = self._data
        n = x.shape[0]
        if like is not None and like.info is not None and like._centroids is not None:
            cent = like._centroids
            nprobe = nprobe or like.info.nprobe
            recall = like.info.calibrated_recall
        else:
            cent = spherical_kmeans(x, min(nlist or default_nlist(n), n), seed=self.seed)
            recall = float("nan")
        assign, _ = _assign(x, cent)
        self._layout(cent, assign)
        self.info = AnnInfo(nlist=cent.shape[0], nprobe=1, calibrated_recall=recall, build_s=0.0, rows=n)
        if nprobe:
            self.nprobe = nprobe
            if getattr(like, "_saved", False) and not self._recall_holds():
                self._calibrate()  # the library changed under the saved clusters: measure again
        else:
            self._calibrate()
        self.info.build_s = time.perf_counter() - t0

    def _layout(self, cent: np.ndarray, assign: np.ndarray, prev_order: np.ndarray | None = None) -> None:
        """Store rows grouped by cluster (so a cluster is one contiguous BLAS call)."""
        order = np.argsort(assign, kind="stable")
        counts = np.bincount(assign, minlength=cent.shape[0])
        self._data = np.ascontiguousarray(self._data[order])
        self._order = order if prev_order is None else prev_order[order]
        self._inverse = np.empty_like(self._order)
        self._inverse[self._order] = np.arange(self._order.shape[0])
        self._offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._centroids = cent

    def _wants_compact(self) -> bool:
        n = self._data.shape[0]
        if self.compact == "auto":
            return n >= compact_scan.COMPACT_MIN_ROWS and compact_scan.available()
        return bool(self.compact) and n > 0

    def _build_compact(self, check: bool = False) -> None:
        """(Re)build the 8-bit scan copy of the main rows in their current layout (compact.py).

        With `check`, its recall@10 against the float32 scan it replaces (same clusters and
        nprobe) is measured on calibration queries; below `COMPACT_MIN_RECALL` it is dropped
        and queries scan the float32 rows as before.
        """
        self._compact = None
        if not self._wants_compact():
            return
        assign = None
        if self._centroids is not None:
            assert self._offsets is not None
            assign = np.repeat(np.arange(self._centroids.shape[0]), np.diff(self._offsets))
        self._compact = CompactScan.build(self._data, self._centroids, assign, seed=self.seed)
        if check:
            self.compact_recall = self._compact_recall()
            if self.compact_recall < COMPACT_MIN_RECALL:
                self._compact = None

    def _compact_recall(self, count: int = 45, k: int = 10) -> float:
        """Mean recall@k of the compact scan + re-rank against the float32 scan."""
        assert self._compact is not None
        hits = total = 0
        for q in np.vstack(self._calibration_queries(count)):
            if self._centroids is None:
                ref, _ = self._exact(q, k, None)
            else:
                ref, _ = self._ivf_search(q, k, self.nprobe, None)
            got, _ = self._compact_search(q, k, self.nprobe, None)
            hits += len(set(ref.tolist()).intersection(got.tolist()))
            total += len(ref)
        return hits / max(total, 1)

    def _calibration_queries(self, count: int = 300) -> list[np.ndarray]:
        """Three query sets, each of which must reach the target recall.

        Image-like: stored rows moved off their spot by noise (a query photo like one already
        indexed). Text-like, twice: random directions drawn from the rows' own covariance,
        alone and added to the rows' mean direction. A CLIP text vector sits apart from the image vectors (the modality gap)
        and matches them weakly (cosine ~0.3 against ~0.8 between similar photos), so within
        the image space it behaves much like such a direction: its ten best rows are spread
        over many clusters. These are the hard queries; calibrating on them keeps typical
        queries well above the target.
        """
        rng = np.random.default_rng(self.seed + 1)
        x = self._data
        n, d = x.shape
        third = count // 3
        near = x[rng.integers(0, n, third)] + rng.standard_normal((third, d)).astype(np.float32) * (0.5 / np.sqrt(d))
        sample = x[rng.choice(n, min(n, 1024), replace=False)]
        mean = sample.mean(axis=0)
        out = [near]
        for mean_weight in (0.0, 1.0):  # with and without the images' common direction
            spread = rng.standard_normal((third, sample.shape[0])).astype(np.float32) @ (sample - mean)
            spread /= np.maximum(np.linalg.norm(spread, axis=1, keepdims=True), 1e-12)
            out.append(mean_weight * mean + spread * np.linalg.norm(mean))
        return [(q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)).astype(np.float32) for q in out]

    def _recall_holds(self, count: int = 60, k: int = 10) -> bool:
        """A tenth of the calibration queries still reach the target at the current nprobe."""
        assert self.info is not None
        sets = self._calibration_queries(count)
        worst = min(float(self.recall_curve(q, k)[self.info.nprobe]) for q in sets)
        return worst >= self.target_recall - 0.01

    def reuses(self, other: "VectorIndex | None") -> bool:
        """Whether this index was clustered with `other`'s centroids."""
        return other is not None and self._centroids is not None and self._centroids is other._centroids

    def _calibrate(self, k: int = 10) -> None:
        """Smallest nprobe whose recall@k reaches the target on every calibration set.

        Scores of scanned rows are exact, so a true neighbour is found exactly when its cluster
        is among the nprobe scanned: recall(nprobe) follows from the rank, for each query, of
        the clusters holding its true neighbours, without running a single IVF search.
        """
        assert self.info is not None
        worst = np.minimum.reduce([self.recall_curve(q, k) for q in self._calibration_queries()])
        ok = np.flatnonzero(worst >= self.target_recall)
        p = int(ok[0]) if ok.size else self.info.nlist
        self.info.nprobe = max(1, p)
        self.info.calibrated_recall = float(worst[max(1, p)])

    def recall_curve(self, queries: np.ndarray, k: int = 10) -> np.ndarray:
        """recall@k of these queries for nprobe = 0..nlist (IVF only; for the benchmark)."""
        assert self._centroids is not None and self._offsets is not None
        q = np.asarray(queries, np.float32).reshape(-1, self.dim)
        nlist = self._centroids.shape[0]
        truth = self._exact_truth(q, k)
        clusters = np.searchsorted(self._offsets, truth, side="right") - 1
        order = np.argsort(-(q @ self._centroids.T), axis=1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(nlist)[None, :].repeat(q.shape[0], 0), axis=1)
        need = np.take_along_axis(rank, clusters, axis=1) + 1
        return np.bincount(need.ravel(), minlength=nlist + 1).cumsum() / need.size

    def _exact_truth(self, q: np.ndarray, k: int) -> np.ndarray:
        """(m, k) exact top-k internal positions of each query, in row chunks to bound memory."""
        n = self._data.shape[0]
        k = min(k, n)
        best_s = np.full((q.shape[0], k), -np.inf, np.float32)
        best_i = np.zeros((q.shape[0], k), np.int64)
        for i in range(0, n, 131072):
            s = q @ self._data[i : i + 131072].T
            kk = min(k, s.shape[1])
            part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
            cs = np.concatenate([best_s, np.take_along_axis(s, part, 1)], axis=1)
            ci = np.concatenate([best_i, part + i], axis=1)
            sel = np.argpartition(-cs, k - 1, axis=1)[:, :k]
            best_s = np.take_along_axis(cs, sel, 1)
            best_i = np.take_along_axis(ci, sel, 1)
        return best_i

    # Changes --------------------------------------------------------------------------------
    def append(self, rows: np.ndarray) -> None:
        """Add rows (numbered after the existing ones) without a rebuild.

        New rows are searched exactly in a tail; once the tail is large they are filed into
        their nearest clusters (the centroids are kept: a library that grows by a few percent
        does not move them much; a library that doubles is worth a fresh `VectorIndex`).
        """
        r = np.asarray(rows, dtype=np.float32).reshape(-1, self.dim if self.dim else np.shape(rows)[-1])
        with self._lock:
            if self._data.shape[0] == 0 and self._data.shape[1] != r.shape[1]:
                self._data = np.zeros((0, r.shape[1]), np.float32)
                self._tail = np.zeros((0, r.shape[1]), np.float32)
            if self._centroids is None and self._compact is None:
                self._data = np.ascontiguousarray(np.vstack([self._data, r]))
                return
            self._tail = np.vstack([self._tail, r])
            if self._tail.shape[0] > min(TAIL_MAX_ROWS, max(1000, self._data.shape[0] // 10)):
                self._join_tail()

    def _join_tail(self) -> None:
        """File the tail into the clusters (IVF) or join it to the matrix (exact); the compact
        copy is made again for the new layout."""
        if self._centroids is not None:
            self._file_tail()
        else:
            self._data = np.ascontiguousarray(np.vstack([self._data, self._tail]))
            self._tail = np.zeros((0, self.dim), np.float32)
        if self._compact is not None or self._wants_compact():
            self._build_compact()

    def _file_tail(self) -> None:
        assert self._centroids is not None and self._order is not None and self._offsets is not None
        base = self._data.shape[0]
        old_assign = np.repeat(np.arange(self._centroids.shape[0]), np.diff(self._offsets))
        new_assign, _ = _assign(self._tail, self._centroids)
        self._data = np.vstack([self._data, self._tail])
        prev = np.concatenate([self._order, np.arange(base, base + self._tail.shape[0])])
        self._tail = np.zeros((0, self.dim), np.float32)
        self._layout(self._centroids, np.concatenate([old_assign, new_assign]), prev)
        if self.info is not None:
            self.info.rows = self._data.shape[0]

    def patched(self, dead: np.ndarray | list[int], rows: np.ndarray) -> "VectorIndex":
        """A new index: this one with the rows `dead` retired and `rows` appended after it.

        Nothing is copied but the small tail: the clustered rows, centroids and layout are
        shared with this index, which stays as it was (a query running on it is not
        disturbed). This is how one new, changed, moved or deleted picture reaches the search
        without reloading a million vectors. Once the tail passes the filing size it is filed
        into the clusters (IVF) or joined to the matrix (exact) in the new index only.
        """
        r = np.asarray(rows, dtype=np.float32)
        with self._lock:
            new = copy.copy(self)
            new._lock = threading.RLock()
            new.info = dataclasses.replace(self.info) if self.info is not None else None
            if r.size:
                r = r.reshape(-1, self.dim if self.dim else r.shape[-1])
                if self._data.shape[0] == 0 and self._data.shape[1] != r.shape[1]:
                    new._data = np.zeros((0, r.shape[1]), np.float32)
                    new._tail = r.copy()
                else:
                    new._tail = np.vstack([self._tail, r])
            d = np.asarray(dead, dtype=np.int64).reshape(-1)
            if d.size:
                new._dead = np.union1d(self._dead, d)
        if new._tail.shape[0] > min(TAIL_MAX_ROWS, max(1000, new._data.shape[0] // 10)):
            new._join_tail()
        return new

    # Search ---------------------------------------------------------------------------------
    def scores(self, query: np.ndarray) -> np.ndarray:
        """Exact dot products of one query (d,) or several (m, d) with every row, in row order.

        A full scan whatever the size (use `search` for the top rows); with the clustered
        layout the scores are put back in row order, without copying the vectors.
        """
        q = np.asarray(query, dtype=np.float32)
        with self._lock:
            s = self._data @ q if q.ndim == 1 else q @ self._data.T
            if self._order is not None:
                out = np.empty_like(s)
                out[..., self._order] = s
                s = out
            if self._tail.shape[0]:
                t = self._tail @ q if q.ndim == 1 else q @ self._tail.T
                s = np.concatenate([s, t], axis=-1)
            if self._dead.size:
                s[..., self._dead] = -np.inf
            return s

    def scores_of(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Exact scores of one query with the given rows (gathered: cheap for a few rows)."""
        rows = np.asarray(rows, dtype=np.int64)
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        with self._lock:
            base = self._data.shape[0]
            out = np.empty(rows.shape[0], np.float32)
            main = rows < base
            pos = rows[main] if self._inverse is None else self._inverse[rows[main]]
            out[main] = self._data[pos] @ q
            if (~main).any():
                out[~main] = self._tail[rows[~main] - base] @ q
            if self._dead.size:
                out[np.isin(rows, self._dead)] = -np.inf
            return out

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None,
               nprobe: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(row numbers, scores) of the k best rows, best first; `allowed` is a boolean row mask.

        `nprobe` overrides the calibrated number of clusters scanned (IVF only).
        """
        n = len(self)
        if n == 0 or k <= 0:
            return _EMPTY
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        with self._lock, self._blas_limit():
            extra = 0
            n_ok = n
            if allowed is not None:
                allowed = np.asarray(allowed, dtype=bool)
                if allowed.shape[0] != n:
                    raise ValueError(f"allowed mask has {allowed.shape[0]} entries for {n} rows")
                if self._dead.size:
                    allowed = allowed.copy()
                    allowed[self._dead] = False
                n_ok = int(np.count_nonzero(allowed))
                if n_ok == 0:
                    return _EMPTY
                if n_ok == n:
                    allowed = None
            else:
                extra = int(self._dead.size)  # ask for more, then drop the dead ones
            idx, s = self._search_rows(q, k + extra, allowed, n_ok, nprobe)
            if extra:
                keep = ~np.isin(idx, self._dead)
                idx, s = idx[keep][:k], s[keep][:k]
            return idx.astype(np.int64), s.astype(np.float32)

    def _search_rows(self, q: np.ndarray, k: int, allowed: np.ndarray | None, n_ok: int,
                     nprobe: int | None) -> tuple[np.ndarray, np.ndarray]:
        """search() without the dead rows' handling: the main rows, then the tail."""
        n = len(self)
        base = self._data.shape[0]
        mask_main = None if allowed is None else allowed[:base]
        if allowed is not None and n_ok <= EXACT_SUBSET_ROWS and self.approximate:
            idx, s = self._exact_subset(q, k, np.flatnonzero(allowed[:base]))
        elif self._compact is not None:
            probes = nprobe or self.nprobe
            if allowed is not None and self._centroids is not None:
                probes = int(math.ceil(probes * n / max(n_ok, 1)))
            allowed_pos = None
            if mask_main is not None:
                allowed_pos = mask_main if self._order is None else mask_main[self._order]
            pos, s = self._compact_search(q, k, probes, allowed_pos)
            idx = pos if self._order is None else self._order[pos]
        elif self._centroids is None:
            idx, s = self._exact(q, k, mask_main)
        else:
            probes = nprobe or self.nprobe
            if allowed is not None:  # a filter thins every cluster: scan proportionally more
                probes = int(math.ceil(probes * n / max(n_ok, 1)))
            pos, s = self._ivf_search(q, k, probes, None if mask_main is None else mask_main[self._order])
            assert self._order is not None
            idx = self._order[pos]
        if self._tail.shape[0]:
            ts = self._tail @ q
            if allowed is not None:
                ts = np.where(allowed[base:], ts, -np.inf)
            t_idx = _topk(ts, k)
            t_idx = t_idx[np.isfinite(ts[t_idx])]
            idx = np.concatenate([idx, t_idx + base])
            s = np.concatenate([s, ts[t_idx]])
            best = _topk(s, k)
            idx, s = idx[best], s[best]
        return idx, s

    def _blas_limit(self) -> Any:
        """Run one query's products on `blas_threads` BLAS threads (1 by default).

        A query is a few matrix-vector products that are bound by memory bandwidth: a second
        thread gains little on an idle machine, while on a busy one (indexing runs beside
        search in the app; other programs) OpenBLAS threads spin-wait for each other and a
        2,000-row product measured 0.15 ms on one thread took 24 ms on two.
        """
        if not self.blas_threads:
            return contextlib.nullcontext()
        if self._blas is None:
            try:
                from threadpoolctl import ThreadpoolController

                self._blas = ThreadpoolController()
            except Exception:  # threadpoolctl missing or confused: keep BLAS's own threading
                self._blas = False
        if self._blas is False:
            return contextlib.nullcontext()
        return self._blas.limit(limits=self.blas_threads, user_api="blas")

    def _exact(self, q: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        s = self._data @ q
        if allowed is not None:
            s = np.where(allowed, s, -np.inf)
            k = min(k, int(np.count_nonzero(allowed)))
        idx = _topk(s, k)
        return idx.astype(np.int64), s[idx].astype(np.float32)

    def _exact_subset(self, q: np.ndarray, k: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact search over a few allowed rows (gathering them beats scanning everything)."""
        if rows.size == 0:
            return _EMPTY
        pos = rows if self._inverse is None else self._inverse[rows]
        s = self._data[pos] @ q
        best = _topk(s, k)
        return rows[best], s[best]

    def _compact_search(self, q: np.ndarray, k: int, nprobe: int,
                        allowed_pos: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(internal positions, exact scores) of the best rows: the 8-bit scan proposes
        `compact.candidates_for(k)` rows, their float32 rows score them again."""
        assert self._compact is not None
        pos = np.sort(self._compact.search(q, compact_scan.candidates_for(k), allowed_pos, nprobe))
        if pos.size == 0:
            return _EMPTY
        s = np.asarray(self._data[pos] @ q, np.float32)
        best = _topk(s, k)
        return pos[best], s[best]

    def _ivf_search(self, q: np.ndarray, k: int, nprobe: int,
                    allowed_pos: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(internal positions, scores) of the best rows among the nprobe nearest clusters."""
        assert self._centroids is not None and self._offsets is not None
        nlist = self._centroids.shape[0]
        nprobe = max(1, min(nprobe, nlist))
        cs = self._centroids @ q
        probe = np.sort(_topk(cs, nprobe)) if nprobe < nlist else np.arange(nlist)
        # Adjacent clusters are adjacent in memory: scan each run of them in one product.
        starts, ends = self._offsets[probe], self._offsets[probe + 1]
        breaks = np.flatnonzero(starts[1:] != ends[:-1]) + 1
        run_s = starts[np.r_[0, breaks]]
        run_e = ends[np.r_[breaks - 1, len(probe) - 1]]
        parts_i, parts_s = [], []
        for a, b in zip(run_s.tolist(), run_e.tolist()):
            if b <= a:
                continue
            s = self._data[a:b] @ q
            if allowed_pos is not None:
                s = np.where(allowed_pos[a:b], s, -np.inf)
            top = _topk(s, k)
            parts_i.append(top + a)
            parts_s.append(s[top])
        if not parts_i:
            return _EMPTY
        idx = np.concatenate(parts_i)
        s = np.concatenate(parts_s)
        best = _topk(s, k)
        best = best[np.isfinite(s[best])]
        return idx[best], s[best]
