"""The compact scan (search/compact.py): 8-bit codes propose, float32 rows re-rank. Results
keep the recall of the float32 scan, scores stay exact, filters, patches and the start cache
keep working over it, and the visual ranking takes its candidates from it."""

import numpy as np
import pytest

from imgrag_desktop.bench import SyntheticClip
from imgrag_desktop.bench.synthetic import synthetic_store
from imgrag_desktop.search import compact, startcache
from imgrag_desktop.search.snapshot import VectorCache
from imgrag_desktop.search.vectors import VectorIndex
from imgrag_desktop.store import Store

N, D = 4000, 64


@pytest.fixture(scope="module")
def data():
    gen = SyntheticClip(N, dim=D, seed=4)
    return gen.images(N), np.vstack([gen.texts(40), gen.images(20, seed=9)]), gen


def _recall(index, ref, queries, k=10, allowed=None):
    hits = sum(len(set(index.search(q, k, allowed)[0].tolist()) & set(ref.search(q, k, allowed)[0].tolist()))
               for q in queries)
    return hits / (len(queries) * k)


@pytest.mark.parametrize("ann", [False, True], ids=["exact", "ivf"])
def test_compact_scan_keeps_recall_and_exact_scores(data, ann):
    x, queries, _ = data
    plain = VectorIndex(x, ann=ann, compact=False)
    small = VectorIndex(x, ann=ann, compact=True)
    info = small.compact_info
    assert plain.compact_info is None and info is not None
    assert info.kind == ("ivf-sq8" if ann else "sq8") and info.rows == N
    assert info.bytes < plain.float32_bytes / 2  # a quarter for the codes (+ ids in an IVF)
    assert small.approximate and small.compact_recall is not None and small.compact_recall >= 0.99
    assert _recall(small, plain, queries) >= 0.99
    for q in queries[:10]:
        idx, s = small.search(q, 10)
        assert np.allclose(s, x[idx] @ q, atol=1e-5)  # re-ranked from the float32 rows
        assert np.all(np.diff(s) <= 0)
    # a filter: only allowed rows, and the same rows as the float32 scan
    allowed = np.zeros(N, bool)
    allowed[::3] = True
    for q in queries[:10]:
        assert allowed[small.search(q, 10, allowed)[0]].all()
    assert _recall(small, plain, queries[:20], allowed=allowed) >= 0.99


def test_auto_uses_the_compact_scan_from_its_size(data, monkeypatch):
    x, _, _ = data
    assert VectorIndex(x).compact_info is None  # 4,000 rows < COMPACT_MIN_ROWS
    monkeypatch.setattr(compact, "COMPACT_MIN_ROWS", 1000)
    assert VectorIndex(x).compact_info is not None


def test_a_compact_scan_that_loses_recall_is_dropped(data, monkeypatch):
    x, _, _ = data
    import imgrag_desktop.search.vectors as vectors

    monkeypatch.setattr(vectors, "COMPACT_MIN_RECALL", 1.01)  # unreachable: must fall back
    index = VectorIndex(x, compact=True)
    assert index.compact_info is None and index.compact_recall is not None
    assert not index.approximate


@pytest.mark.parametrize("ann", [False, True], ids=["exact", "ivf"])
def test_patches_and_appends_over_the_compact_scan(data, ann):
    x, queries, gen = data
    base = VectorIndex(x, ann=ann, compact=True)
    scan = base._compact
    new = gen.images(5, seed=21)
    patched = base.patched([0, 7], new)
    assert patched._compact is scan  # shared, not copied, for a few rows
    full = np.vstack([x, new])
    plain = VectorIndex(x, ann=ann, compact=False).patched([0, 7], new)  # the same patch, float32 scan
    for q in queries[:10]:
        idx, s = patched.search(q, 10)
        assert 0 not in idx and 7 not in idx
        assert np.allclose(s, full[idx] @ q, atol=1e-5)
    assert _recall(patched, plain, queries) >= 0.99
    # the new rows are found: each is its own best match
    for j in range(5):
        assert patched.search(new[j], 1)[0][0] == N + j
    # many appended rows are joined to the layout and a new compact copy is made
    grown = VectorIndex(x, ann=ann, compact=True)
    more = gen.images(1200, seed=22)
    grown.append(more)
    assert len(grown) == N + 1200 and grown._tail.shape[0] == 0
    assert grown.compact_info is not None and grown.compact_info.rows == N + 1200
    for j in (0, 600, 1199):
        assert grown.search(more[j], 1)[0][0] == N + j
    assert base._compact is scan and base.compact_info.rows == N  # the old index is untouched


@pytest.mark.parametrize("ann", [False, True], ids=["exact", "ivf"])
def test_the_start_cache_keeps_the_compact_scan(tmp_path, monkeypatch, ann):
    import imgrag_desktop.search.vectors as vectors

    monkeypatch.setattr(startcache, "MIN_ROWS", 100)
    monkeypatch.setattr(compact, "COMPACT_MIN_ROWS", 100)
    monkeypatch.setattr(vectors, "ANN_MIN_ROWS", 300 if ann else 10**9)
    gen = SyntheticClip(1500, dim=32, seed=6)
    store = synthetic_store(tmp_path / "db", gen.images(1500), "bench-model")
    first = VectorCache(store, clusters_dir=tmp_path / "cache").get("visual", "clip_model", "bench-model")
    assert first.index.compact_info is not None and first.index.is_ann == ann
    again = VectorCache(Store(store.db_dir), clusters_dir=tmp_path / "cache").get("visual", "clip_model", "bench-model")
    assert isinstance(again.index._data, np.memmap)  # float32 rows mapped, not read
    assert again.index.compact_info == first.index.compact_info
    assert again.index.compact_recall == first.index.compact_recall
    for q in np.vstack([gen.texts(10), gen.images(5, seed=9)]):
        a, sa = first.index.search(q, 10)
        b, sb = again.index.search(q, 10)
        assert a.tolist() == b.tolist() and np.allclose(sa, sb)


def test_visual_ranking_takes_its_candidates_from_the_compact_scan(tmp_path, monkeypatch):
    from imgrag_desktop.bench import _synthetic_store, bench_encoder
    from imgrag_desktop.search import Searcher

    encoder = bench_encoder("imgrag-tiny")
    gen = SyntheticClip(3000, dim=encoder.dim, seed=4)
    store = _synthetic_store(tmp_path / "db", gen.images(3000), encoder.model_id)
    queries = np.vstack([gen.images(8, seed=8), gen.texts(8)])
    plain = Searcher(store, encoder)
    want = [plain.visual_search(q, 10, min_score=None, collapse=False) for q in queries]
    assert not plain.visual().index.approximate

    monkeypatch.setattr(compact, "COMPACT_MIN_ROWS", 1000)
    searcher = Searcher(store, encoder)
    index = searcher.visual().index
    assert index.approximate and not index.is_ann

    def no_full_scan(*a, **kw):
        raise AssertionError("the visual ranking scanned every float32 row")

    monkeypatch.setattr(type(index), "scores", no_full_scan)
    overlap = 0
    for q, w in zip(queries, want):
        got = searcher.visual_search(q, 10, min_score=None, collapse=False)
        assert len(got) == 10
        overlap += len({h.path for h in got} & {h.path for h in w})
        exact = {h.path: h.score for h in w}
        for h in got:
            if h.path in exact:
                assert h.score == pytest.approx(exact[h.path], abs=1e-5)
    assert overlap / (10 * len(queries)) >= 0.98
