"""Which pairs of pictures are worth verifying as near-duplicates, without trying every pair.

duplicates.py verifies a pair by aligning grey signatures (milliseconds a pair), so it must
only be asked about pairs that might be copies. The proposals are: colour histograms close
to each other (each picture's HIST_NEIGHBOURS nearest within HIST_MAX_DIST), pHashes within
PHASH_MAX_BITS, and for a calibrated model CLIP neighbours above the copy cosine.

Up to EXACT_MAX pictures every pair is compared (block by block: a matrix product). Beyond,
comparing every pair grows as n² (a million pictures: 10¹² pairs), so:
- vectors (histograms, CLIP vectors) are cut into overlapping cells: spherical k-means
  (search/vectors.py) with about CELL_SIZE pictures a cell, each picture filed under its SPILL
  nearest centroids, and pairs are compared inside each cell only. A copy's histogram is
  all but the same as its original's (squared Hellinger distance ≤ 0.06 measured), so the two
  have the same nearest centroid; filing each picture twice covers pairs at a cell border.
  Cost: n × cell size × dim instead of n² × dim.
- pHashes are cut into PHASH_BANDS bands of 8 bits (multi-index hashing): two hashes that
  differ in fewer bits than there are bands agree exactly on at least one band, so comparing
  pairs that share a band value finds every pair within PHASH_BANDS - 1 bits (copies measured
  ≤ 6), and most of those up to PHASH_MAX_BITS.
The neighbours found inside a cell are the nearest in that cell, a superset of the exact
proposals' pairs in practice; every proposal is still verified, so no group is made from a
proposal alone.
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from imgrag_desktop import fingerprint as fpmod

Arr = Callable[[np.ndarray], np.ndarray]

EXACT_MAX = 20_000  # up to here every pair is compared: ~n²·64 multiply-adds, under a second
CELL_SIZE = 256
SPILL = 2
PHASH_BANDS = 8  # 8 bits each
BUCKET_MAX = 2048  # a band value shared by more pictures (flat images): compared in windows
BLOCK = 1024


def _encode(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lo, hi = np.minimum(a, b).astype(np.int64), np.maximum(a, b).astype(np.int64)
    keep = lo != hi
    return (lo[keep] << 32) | hi[keep]


def decode(pairs: np.ndarray) -> Iterator[tuple[int, int]]:
    for p in np.unique(pairs).tolist():
        yield p >> 32, p & 0xFFFFFFFF


def remap(pairs: np.ndarray, to: np.ndarray) -> np.ndarray:
    """Encoded pairs of positions in `to` as encoded pairs of its values (increasing)."""
    return (to[pairs >> 32] << 32) | to[pairs & 0xFFFFFFFF]


def _knn_pairs(x: np.ndarray, rows: np.ndarray, k: int, keep: "Arr") -> np.ndarray:
    """Each of `rows`' k nearest among `rows` (highest x·xᵀ) that pass `keep(sim)`, encoded."""
    n = len(rows)
    if n < 2:
        return np.zeros(0, np.int64)
    kk = min(k, n - 1)
    sub = x[rows]
    out = []
    for s in range(0, n, BLOCK):
        e = min(n, s + BLOCK)
        sim = sub[s:e] @ sub.T
        sim[np.arange(e - s), np.arange(s, e)] = -np.inf
        near = np.argpartition(-sim, kk - 1, axis=1)[:, :kk] if kk < n - 1 else np.tile(np.arange(n), (e - s, 1))
        r = np.repeat(np.arange(s, e), near.shape[1])
        c = near.ravel()
        ok = keep(sim[r - s, c]) & (r != c)
        out.append(_encode(rows[r[ok]], rows[c[ok]]))
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def cells(x: np.ndarray, seed: int = 0) -> list[np.ndarray]:
    """Overlapping cells of the unit rows of x: each row in its SPILL nearest centroids' cells."""
    from imgrag_desktop.search.vectors import spherical_kmeans

    n = x.shape[0]
    k = max(2, n // CELL_SIZE)
    cent = spherical_kmeans(x, k, iters=6, seed=seed, sample=32)
    spill = min(SPILL, cent.shape[0])
    home = np.empty((n, spill), np.int64)
    for s in range(0, n, 32768):
        sc = x[s:s + 32768] @ cent.T
        home[s:s + 32768] = np.argpartition(-sc, spill - 1, axis=1)[:, :spill]
    flat = home.ravel()
    owner = np.repeat(np.arange(n), spill)
    order = np.argsort(flat, kind="stable")
    flat, owner = flat[order], owner[order]
    starts = np.flatnonzero(np.r_[True, flat[1:] != flat[:-1]])
    return [c for c in np.split(owner, starts[1:]) if len(c) > 1]


def vector_pairs(x: np.ndarray, k: int, keep: "Arr", exact_max: int = EXACT_MAX) -> np.ndarray:
    """Encoded pairs (i, j) of rows of x among each other's k nearest that pass `keep`."""
    n = x.shape[0]
    if n < 2:
        return np.zeros(0, np.int64)
    x = np.ascontiguousarray(x, np.float32)
    if n <= exact_max:
        return _knn_pairs(x, np.arange(n), k, keep)
    parts = [_knn_pairs(x, rows, k, keep) for rows in cells(x)]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _close_hashes(rows: np.ndarray, ph: np.ndarray, max_bits: int) -> np.ndarray:
    out = []
    sub = ph[rows]
    for s in range(0, len(rows), BLOCK):
        ham = fpmod.hamming(sub[s:s + BLOCK, None], sub[None, :])
        r, c = np.nonzero(ham <= max_bits)
        out.append(_encode(rows[r + s], rows[c]))
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def phash_pairs(ph: np.ndarray, max_bits: int, exact_max: int = EXACT_MAX) -> np.ndarray:
    """Encoded pairs of 64-bit hashes within max_bits (see the module text for large sets)."""
    n = len(ph)
    if n < 2:
        return np.zeros(0, np.int64)
    ph = np.asarray(ph, np.int64)
    if n <= exact_max:
        return _close_hashes(np.arange(n), ph, max_bits)
    u = ph.view(np.uint64)
    out = []
    for band in range(PHASH_BANDS):
        key = ((u >> np.uint64(8 * band)) & np.uint64(0xFF)).astype(np.int64)
        order = np.argsort(key, kind="stable")
        starts = np.flatnonzero(np.r_[True, key[order][1:] != key[order][:-1]])
        for rows in np.split(order, starts[1:]):
            if len(rows) < 2:
                continue
            if len(rows) <= BUCKET_MAX:
                out.append(_close_hashes(rows, ph, max_bits))
                continue
            rows = rows[np.argsort(u[rows], kind="stable")]  # huge bucket: neighbours by value
            for s in range(0, len(rows), BUCKET_MAX // 2):
                out.append(_close_hashes(rows[s:s + BUCKET_MAX], ph, max_bits))
    return np.concatenate(out) if out else np.zeros(0, np.int64)
