"""The sub-quadratic proposals of near-duplicate pairs (k-means cells, pHash bands) find the
pairs every-pair comparison finds, on synthetic fingerprints with planted copies."""

from __future__ import annotations

import numpy as np

from imgrag_desktop import fingerprint as fpmod
from imgrag_desktop.search import dup_candidates as dc


def _pairs(encoded: np.ndarray) -> set[tuple[int, int]]:
    return set(dc.decode(encoded))


def test_phash_bands_find_every_pair_within_seven_bits():
    rng = np.random.default_rng(3)
    n = 3000
    ph = rng.integers(-(2**63), 2**63 - 1, n, dtype=np.int64)
    planted = set()
    for i in range(0, 600, 2):  # item i+1: item i with 1..7 bits flipped
        bits = rng.choice(64, int(rng.integers(1, 8)), replace=False)
        mask = np.uint64(sum(1 << int(b) for b in bits))
        ph[i + 1] = (ph[i : i + 1].view(np.uint64) ^ mask).view(np.int64)[0]
        planted.add((i, i + 1))
    exact = _pairs(dc.phash_pairs(ph, 10, exact_max=n))
    banded = _pairs(dc.phash_pairs(ph, 10, exact_max=0))
    assert planted <= banded <= exact
    assert all(int(fpmod.hamming(ph[a], ph[b])) <= 10 for a, b in banded)


def test_cells_find_the_near_copies_of_histograms():
    rng = np.random.default_rng(5)
    n = 4000
    hist = np.sqrt(rng.dirichlet(np.full(64, 0.3), n)).astype(np.float32)
    planted = set()
    for i in range(0, 800, 2):  # a copy: the histogram slightly disturbed
        h = hist[i] ** 2 + rng.normal(0, 0.002, 64).clip(0)
        hist[i + 1] = np.sqrt(h / h.sum())
        planted.add((i, i + 1))

    def keep(sim):
        return 2.0 - 2.0 * sim <= 0.08

    exact = _pairs(dc.vector_pairs(hist, 6, keep, exact_max=n))
    cells = _pairs(dc.vector_pairs(hist, 6, keep, exact_max=0))
    assert planted <= exact
    assert len(planted & cells) >= 0.99 * len(planted)
    x = hist.astype(np.float64)
    assert all(2.0 - 2.0 * float(x[a] @ x[b]) <= 0.08 + 1e-5 for a, b in cells)


def test_cells_cover_every_row_and_overlap():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3000, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    got = dc.cells(x)
    assert len(got) >= 3000 // dc.CELL_SIZE // 2
    counts = np.bincount(np.concatenate(got), minlength=3000)
    assert (counts >= 1).all() and counts.sum() > 3000  # each row in up to SPILL cells
