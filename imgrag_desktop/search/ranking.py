"""Visual ranking with the power features: tiles, relevance cut-off, duplicate collapsing.

Every search path (visual, similar, combined, hybrid) shares it: one score per snapshot row
(the whole image, or its best tile when that is better), the filter mask, the cut-off, then
the top hits with near-identical pictures folded together. The functions take the snapshot,
the store and the tile matcher they read, so they serve any caller, not only the Searcher.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from imgrag_desktop.search.cancel import checkpoint
from imgrag_desktop.search.hits import hit_rows, snapshot_hits
from imgrag_desktop.search.snapshot import LoadedVectors
from imgrag_desktop.store import HIT_SHOW_COLUMNS

if TYPE_CHECKING:  # pragma: no cover
    from imgrag_desktop.search.duplicates import DuplicateFinder
    from imgrag_desktop.search.tiles import TileMatcher
    from imgrag_desktop.store import Store
    from imgrag_desktop.types import Hit

COLLAPSE_FETCH_FACTOR = 3
COLLAPSE_FETCH_EXTRA = 30


def fetch_size(k: int, collapse: bool) -> int:
    """How many hits to rank before folding duplicates, so k remain afterwards."""
    return max(COLLAPSE_FETCH_FACTOR * k, k + COLLAPSE_FETCH_EXTRA) if collapse else k


def scored_rows(snapshot: LoadedVectors, query: np.ndarray, tiles: "TileMatcher | None", model_id: str,
                use_tiles: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """(score per row, tile index per row or None): the whole image, or its best tile; every
    row scored exactly (an approximate index ranks with `ranked_candidates` instead)."""
    index = snapshot.index
    n = len(index)
    if n == 0:
        return np.zeros(0, np.float32), None
    whole = index.scores(query).astype(np.float32)
    if not use_tiles or tiles is None:
        return whole, None
    best, which = tiles.best(query, n, whole, model_id, snapshot.rows_by_hash, snapshot.key)
    better = best > whole
    if not better.any():
        return whole, None
    return np.where(better, best, whole), np.where(better, which, -1)


def ranked_candidates(snapshot: LoadedVectors, query: np.ndarray, tiles: "TileMatcher | None", model_id: str,
                      use_tiles: bool, candidates: int, fetch: int, mask: np.ndarray | None,
                      min_score: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, scores, tile index or -1) of the top `fetch` with an approximate index: the
    index's `candidates` and the tiled rows, each scored exactly (whole image, or its best
    tile less the tiles' bias when higher), so no array of the library's size is made per
    query (at 1M rows those cost ~10 ms)."""
    from imgrag_desktop.search.tiles import debiased

    index = snapshot.index
    idx, s = index.search(query, candidates, mask)
    t_rows = t_best = t_which = np.zeros(0, np.int64)
    if use_tiles and tiles is not None:
        t_rows, t_best, t_which = tiles.best_rows(query, model_id, snapshot.rows_by_hash, snapshot.key)
    rows = np.union1d(np.asarray(idx, np.int64), t_rows)
    whole = np.full(len(rows), -np.inf, np.float32)
    whole[np.searchsorted(rows, idx)] = s
    missing = np.flatnonzero(~np.isfinite(whole))
    if missing.size:  # tiled rows the index did not propose: exact whole-image scores
        whole[missing] = index.scores_of(query, rows[missing])
    final, tile_of = whole, np.full(len(rows), -1, np.int64)
    if len(t_rows):
        at = np.searchsorted(rows, t_rows)
        adjusted = debiased(t_best, whole[at])
        better = (adjusted > whole[at]) & np.isfinite(whole[at])  # never a deleted row by its tiles
        if better.any():
            final = whole.copy()
            final[at[better]] = adjusted[better]
            tile_of[at[better]] = t_which[better]
    keep, top = top_rows(final, fetch, None if mask is None else mask[rows], min_score)
    return rows[keep], top, tile_of[keep]


def top_rows(scores: np.ndarray, k: int, mask: np.ndarray | None, min_score: float | None) -> tuple[np.ndarray, np.ndarray]:
    s = scores
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    if min_score is not None:
        s = np.where(s >= min_score, s, -np.inf)
    ok = np.isfinite(s)
    n_ok = int(ok.sum())
    k = min(k, n_ok)
    if k <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    idx = np.argpartition(-s, k - 1)[:k] if k < len(s) else np.nonzero(ok)[0]
    idx = idx[np.argsort(-s[idx], kind="stable")]
    return idx.astype(np.int64), s[idx].astype(np.float32)


def rank_visual(store: "Store", snapshot: LoadedVectors, query: np.ndarray, k: int, mask: np.ndarray | None, *,
                tiles: "TileMatcher | None", model_id: str, finder: "DuplicateFinder | None" = None,
                reason: str = "visual", min_score: float | None = None, collapse: bool = True,
                use_tiles: bool = True, first: str | None = None) -> "list[Hit]":
    """The top k hits by `query`; `finder` folds near-duplicates when `collapse`."""
    fetch = fetch_size(k, collapse)
    # A large library's index proposes the candidates (IVF, compact scan: see VectorIndex); a margin of rows
    # beyond `fetch` keeps the cut-off and tile re-ordering from running short.
    candidates = max(4 * fetch, 100)
    if snapshot.index.approximate:
        idx, top, tile_at = ranked_candidates(snapshot, query, tiles, model_id, use_tiles, candidates, fetch, mask,
                                              min_score)
    else:
        scores, tile_of = scored_rows(snapshot, query, tiles, model_id, use_tiles)  # exact: every row
        idx, top = top_rows(scores, fetch, mask, min_score)
        tile_at = tile_of[idx] if tile_of is not None else np.full(len(idx), -1, np.int64)
    rows: dict[str, dict[str, Any]] = {}
    hits = snapshot_hits(store, snapshot, idx, top, reason, rows=rows)
    if tiles is not None:
        for h, t in zip(hits, tile_at.tolist()):
            if t >= 0:
                h.region = tiles.region(int(t))
                h.reasons.append("tile")
    if first is not None:
        hits.sort(key=lambda h: h.path != first)  # stable: the query image leads its ties
    if collapse:
        checkpoint()  # a newer query replaced this one: stop before folding (search/cancel.py)
        hits = collapse_hits(finder, hits, store, snapshot, with_vectors=True, rows=rows)
    return hits[:k]


def collapse_hits(finder: "DuplicateFinder | None", hits: "list[Hit]", store: "Store", snapshot: LoadedVectors,
                  with_vectors: bool = False, rows: dict[str, dict[str, Any]] | None = None) -> "list[Hit]":
    """Near-identical pictures folded into their best hit; `with_vectors` lends the finder the
    snapshot's vectors of the hits (when they are visual ones, of the finder's model); `rows`:
    the hits' rows when the caller has just read them (hits.snapshot_hits)."""
    if finder is None or len(hits) < 2:
        return hits
    vectors: dict[str, Any] | None = None
    if with_vectors and finder.clip_threshold is not None:
        vectors = {h.path: snapshot.index.vector(snapshot.row_of[h.path]) for h in hits if h.path in snapshot.row_of}
    paths = [h.path for h in hits]
    if rows is None or any(p not in rows for p in paths):
        rows = hit_rows(store, snapshot, paths, HIT_SHOW_COLUMNS)
    return finder.collapse(hits, vectors, rows)
