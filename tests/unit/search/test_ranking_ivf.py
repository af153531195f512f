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


class _Tiles:
    """A TileMatcher whose tiles are set here (its scoring code is the real one)."""

    def __new__(cls, rows, mat):
        from imgrag_desktop.search.tiles import TileMatcher

        m = TileMatcher.__new__(TileMatcher)
        m._key, m._rows, m._mat = None, rows, mat
        m._boxes = np.zeros((len(rows), 4), np.int32)
        m._load = lambda *a: None
        return m


def brute_force(vecs, q, proposed, tile_rows, tile_mat, fetch, mask, floor):
    """The candidate ranking written out row by row: each proposed or tiled row scores its
    exact dot product, or its best tile's less the max-of-many-tiles bias (the median margin of
    the best tiles over their images, when enough images have tiles) when that is higher."""
    from imgrag_desktop.search.tiles import MIN_TILED_FOR_BIAS

    whole = {int(r): float(vecs[r] @ q) for r in set(proposed.tolist()) | set(tile_rows.tolist())}
    tile_scores = tile_mat @ q
    best = {}  # row -> (its best tile's score, that tile's index)
    for j, r in enumerate(tile_rows.tolist()):
        if r not in best or tile_scores[j] > best[r][0]:
            best[r] = (float(tile_scores[j]), j)
    margins = [b - whole[r] for r, (b, _) in best.items()]
    bias = float(np.median(margins)) if len(margins) >= MIN_TILED_FOR_BIAS else 0.0
    bias = max(bias, 0.0)
    ranked = []
    for r, w in whole.items():
        score, tile = w, -1
        if r in best and best[r][0] - bias > w:
            score, tile = best[r][0] - bias, best[r][1]
        if (mask is None or mask[r]) and (floor is None or score >= floor):
            ranked.append((-score, r, tile))
    ranked.sort()
    top = ranked[:fetch]
    return [r for _, r, _ in top], [-s for s, _, _ in top], [t for _, _, t in top]


def test_candidate_ranking_matches_a_brute_force_ranking(tmp_path, encoder, monkeypatch):
    from imgrag_desktop.search.ranking import ranked_candidates

    monkeypatch.setattr(vectors, "ANN_MIN_ROWS", 1000)
    gen = SyntheticClip(3000, dim=encoder.dim, seed=5)
    store = _synthetic_store(tmp_path / "db", gen.images(3000), encoder.model_id)
    loaded = Searcher(store, encoder).visual()
    assert loaded.index.approximate
    vecs = np.vstack([loaded.index.vector(i) for i in range(len(loaded.index))]).astype(np.float64)
    rng = np.random.default_rng(0)
    rows = rng.choice(3000, 80)  # some rows with several tiles
    mat = gen.images(80, seed=9)
    tiles = _Tiles(rows, mat)
    mask = rng.random(3000) > 0.3
    used_tiles = 0
    for q in np.vstack([gen.images(6, seed=11), gen.texts(6), mat[:3]]):
        for m, floor in ((None, None), (mask, None), (None, 0.5)):
            proposed, _ = loaded.index.search(q, 200, m)  # the approximate index's proposal
            want_idx, want_top, want_tiles = brute_force(vecs, q.astype(np.float64), np.asarray(proposed), rows,
                                                         mat.astype(np.float64), 30, m, floor)
            idx, top, tile_at = ranked_candidates(loaded, q, tiles, encoder.model_id, True, 200, 30, m, floor)
            assert idx.tolist() == want_idx
            np.testing.assert_allclose(top, want_top, atol=1e-5)
            assert tile_at.tolist() == want_tiles
            used_tiles += sum(t >= 0 for t in want_tiles)
    assert used_tiles  # the tiles took part
