"""VectorIndex: exact search against brute force, masks, edge cases, and the IVF's recall."""

import numpy as np
import pytest

from imgrag_desktop.bench import SyntheticClip
from imgrag_desktop.search.vectors import VectorIndex, default_nlist, spherical_kmeans


def unit_rows(n: int, d: int = 32, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute(x: np.ndarray, q: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[int]:
    s = x @ q
    order = [i for i in np.argsort(-s, kind="stable") if allowed is None or allowed[i]]
    return order[:k]


@pytest.fixture(scope="module")
def clustered() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    gen = SyntheticClip(6000, dim=64, seed=3)
    return gen.images(6000), gen.images(60, seed=9), gen.texts(60)


def test_exact_matches_brute_force():
    x = unit_rows(500)
    index = VectorIndex(x)
    assert not index.is_ann and len(index) == 500 and index.dim == 32
    for q in unit_rows(20, seed=1):
        idx, scores = index.search(q, 7)
        assert idx.tolist() == brute(x, q, 7)
        assert np.allclose(scores, x[idx] @ q, atol=1e-6)
        assert np.all(np.diff(scores) <= 0)


def test_mask_k_larger_than_n_and_empty():
    x = unit_rows(50)
    index = VectorIndex(x)
    q = unit_rows(1, seed=2)[0]
    allowed = np.zeros(50, bool)
    allowed[[3, 17, 40]] = True
    idx, _ = index.search(q, 10, allowed)
    assert sorted(idx.tolist()) == [3, 17, 40] and idx.tolist() == brute(x, q, 10, allowed)
    idx, _ = index.search(q, 1000)
    assert len(idx) == 50 and idx.tolist() == brute(x, q, 50)
    assert index.search(q, 5, np.zeros(50, bool))[0].size == 0
    assert index.search(q, 0)[0].size == 0
    empty = VectorIndex(np.zeros((0, 1), np.float32))
    assert len(empty) == 0 and empty.search(q, 5)[0].size == 0
    with pytest.raises(ValueError):
        index.search(q, 5, np.ones(49, bool))


def test_kmeans_centroids_are_unit_and_cover_clusters(clustered):
    x = clustered[0]
    cent = spherical_kmeans(x, 16, seed=1)
    assert cent.shape == (16, 64)
    assert np.allclose(np.linalg.norm(cent, axis=1), 1, atol=1e-5)
    # Every row is closer to its best centroid than to the mean direction of all rows.
    mean = x.mean(0) / np.linalg.norm(x.mean(0))
    assert np.mean((x @ cent.T).max(1) >= x @ mean) > 0.95
    assert default_nlist(10_000) == 64 and default_nlist(1_000_000) == 512


def test_ivf_recall_on_clustered_data(clustered):
    x, q_img, q_txt = clustered
    exact = VectorIndex(x, ann=False)
    ann = VectorIndex(x, ann=True, seed=0)
    assert ann.is_ann and ann.info is not None
    assert 1 <= ann.nprobe < ann.info.nlist  # calibrated: scans a part, not everything
    assert ann.info.calibrated_recall >= 0.98
    for queries, floor in ((q_img, 0.95), (q_txt, 0.85)):
        hits = 0
        for q in queries:
            got = ann.search(q, 10)
            want = exact.search(q, 10)
            hits += len(set(got[0].tolist()) & set(want[0].tolist()))
            assert np.allclose(got[1], x[got[0]] @ q, atol=1e-5)  # scores are exact
        assert hits / (10 * len(queries)) >= floor
    # Scanning every cluster is exact search.
    q = q_txt[0]
    assert ann.search(q, 10, nprobe=ann.info.nlist)[0].tolist() == exact.search(q, 10)[0].tolist()


def test_ivf_keeps_row_numbers_masks_and_vectors(clustered):
    x = clustered[0]
    ann = VectorIndex(x, ann=True, nprobe=4)
    for i in (0, 17, 5999):
        assert np.array_equal(ann.vector(i), x[i])
        idx, s = ann.search(x[i], 1)
        assert idx[0] == i and s[0] == pytest.approx(1.0, abs=1e-5)
    assert np.array_equal(ann.matrix, x)
    assert np.allclose(ann.scores(x[3]), x @ x[3], atol=1e-5)  # row order, every row
    assert np.allclose(ann.scores(x[:2]), x[:2] @ x.T, atol=1e-5)

    allowed = np.zeros(len(x), bool)
    allowed[::97] = True  # few rows: exact over the allowed subset
    q = x[5]
    assert ann.search(q, 10, allowed)[0].tolist() == brute(x, q, 10, allowed)
    half = np.arange(len(x)) % 2 == 0  # many rows: IVF scans more clusters, results stay allowed
    idx, _ = ann.search(q, 10, half)
    assert len(idx) == 10 and half[idx].all()
    ann.append(x[:5])  # the tail's scores follow the clustered rows'
    assert np.allclose(ann.scores(x[7]), np.concatenate([x, x[:5]]) @ x[7], atol=1e-5)


def test_append_to_exact_and_ivf(clustered):
    x = clustered[0]
    base, extra = x[:4000], x[4000:]
    for ann in (False, True):
        index = VectorIndex(base, ann=ann, nprobe=8)
        index.append(extra[:200])  # stays in the exact tail (IVF)
        if ann:
            assert index.info.rows == 4000 and index.search(x[4100], 1)[0][0] == 4100
        index.append(extra[200:])  # past the tail limit: filed into clusters (IVF)
        if ann:
            assert index.info.rows == len(x)
        assert len(index) == len(x)
        for i in (3999, 4000, 4199, 4200, 5999):
            assert np.array_equal(index.vector(i), x[i])
            assert index.search(x[i], 1)[0][0] == i
    empty = VectorIndex(np.zeros((0, 0), np.float32))
    empty.append(x[:3])
    assert len(empty) == 3 and empty.search(x[2], 1)[0][0] == 2


def test_rebuild_like_reuses_clusters(clustered):
    x = clustered[0]
    first = VectorIndex(x[:5000], ann=True)
    second = VectorIndex(x, ann=True, like=first)
    assert second.info.nlist == first.info.nlist and second.nprobe == first.nprobe
    assert second.search(x[5500], 1)[0][0] == 5500
    assert np.array_equal(second._centroids, first._centroids)  # reused, not retrained
    small = VectorIndex(x[:2000], ann=True, like=first)  # shrank by more than half: retrained
    assert small.info.nlist == 64 and not np.array_equal(small._centroids, first._centroids)
