"""The Searcher's visual ranking on a library large enough for the IVF index: candidates come
from the index, scores stay exact, results match exact search (forced here at 3,000 rows)."""

import numpy as np
import pytest

import imgrag_desktop.search.vectors as vectors
from imgrag_desktop.bench import SyntheticClip, _synthetic_store, bench_encoder
from imgrag_desktop.search import Searcher


@pytest.fixture(scope="module")
def encoder():
    return bench_encoder("imgrag-tiny")


def test_visual_ranking_uses_ivf_and_agrees_with_exact(tmp_path, encoder, monkeypatch):
    gen = SyntheticClip(3000, dim=encoder.dim, seed=4)
    store = _synthetic_store(tmp_path / "db", gen.images(3000), encoder.model_id)
    queries = np.vstack([gen.images(10, seed=8), gen.texts(10)])
    exact = Searcher(store, encoder)
    want = [exact.visual_search(q, 10, min_score=None, collapse=False) for q in queries]
    assert not exact.visual().index.is_ann

    monkeypatch.setattr(vectors, "ANN_MIN_ROWS", 1000)
    ivf = Searcher(store, encoder)
    assert ivf.visual().index.is_ann
    overlap = 0
    for q, w in zip(queries, want):
        got = ivf.visual_search(q, 10, min_score=None, collapse=False)
        assert len(got) == 10
        overlap += len({h.path for h in got} & {h.path for h in w})
        exact_scores = {h.path: h.score for h in w}
        for h in got:  # scores are exact dot products, whichever way the row was found
            if h.path in exact_scores:
                assert h.score == pytest.approx(exact_scores[h.path], abs=1e-5)
    assert overlap / (10 * len(queries)) >= 0.9
    # A filter keeps working through the IVF path.
    only = [h.path for h in want[0][:3]]
    mask_where = "path IN (" + ", ".join(f"'{p}'" for p in only) + ")"
    got = ivf.visual_search(queries[0], 10, where=mask_where, min_score=None, collapse=False)
    assert sorted(h.path for h in got) == sorted(only)
