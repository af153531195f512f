"""Visual ranking with the power features: tiles, relevance cut-off, duplicate collapsing.

Kept apart from search.py so that every search path (visual, similar, combined, hybrid) can
share it: one score per indexed row (the whole image, or its best tile when that is better),
the filter mask, the cut-off, then the top hits with near-identical pictures folded together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from imgrag_desktop.search import Searcher, _Loaded
    from imgrag_desktop.types import Hit

COLLAPSE_FETCH_FACTOR = 3
COLLAPSE_FETCH_EXTRA = 30


def fetch_size(k: int, collapse: bool) -> int:
    """How many hits to rank before folding duplicates, so k remain afterwards."""
    return max(COLLAPSE_FETCH_FACTOR * k, k + COLLAPSE_FETCH_EXTRA) if collapse else k


def rows_by_hash(loaded: "_Loaded") -> dict[str, list[int]]:
    cached = getattr(loaded, "_rows_by_hash", None)
    if cached is None:
        cached = {}
        if loaded.table.num_rows:
            for i, h in enumerate(loaded.table.column("content_hash").to_pylist()):
                cached.setdefault(h, []).append(i)
        loaded._rows_by_hash = cached  # type: ignore[attr-defined]
    return cached


def scored_rows(searcher: "Searcher", loaded: "_Loaded", query: np.ndarray, use_tiles: bool = True,
                candidates: int = 0, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """(score per row, tile index per row or None): the whole image, or its best tile.

    With `candidates` and a clustered (IVF) index, whole-image scores are computed only for
    the index's best `candidates` rows and for the rows that have tiles (exactly, so the tile
    bias stays right); every other row scores -inf. Without, every row is scored exactly.
    """
    index = loaded.index
    n = len(index)
    if n == 0:
        return np.zeros(0, np.float32), None
    approximate = bool(candidates) and getattr(index, "is_ann", False)
    if approximate:
        idx, s = index.search(query, candidates, mask)
        whole = np.full(n, -np.inf, np.float32)
        whole[idx] = s
    else:
        whole = index.scores(query).astype(np.float32)
    matcher = getattr(searcher, "tile_matcher", None)
    if not use_tiles or matcher is None:
        return whole, None
    if approximate:  # exact whole-image scores for the tiled rows, which the tile bias reads
        _, probe = matcher.best(query, n, np.zeros(n, np.float32), searcher.clip.model_id, rows_by_hash(loaded),
                                loaded.key)
        tiled = np.flatnonzero(probe >= 0)
        missing = tiled[~np.isfinite(whole[tiled])]
        if missing.size:
            whole[missing] = index.scores_of(query, missing)
    best, which = matcher.best(query, n, whole, searcher.clip.model_id, rows_by_hash(loaded), loaded.key)
    better = best > whole
    if not better.any():
        return whole, None
    return np.where(better, best, whole), np.where(better, which, -1)


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


def rank_visual(searcher: "Searcher", loaded: "_Loaded", query: np.ndarray, k: int, mask: np.ndarray | None,
                reason: str = "visual", min_score: float | None = None, collapse: bool = True,
                use_tiles: bool = True, first: str | None = None) -> "list[Hit]":
    fetch = fetch_size(k, collapse)
    # A large library's IVF index proposes the candidates (see VectorIndex); a margin of rows
    # beyond `fetch` keeps the cut-off and tile re-ordering from running short.
    scores, tile_of = scored_rows(searcher, loaded, query, use_tiles, candidates=max(4 * fetch, 100), mask=mask)
    idx, top = top_rows(scores, fetch, mask, min_score)
    hits = searcher.make_hits(loaded, idx, top, reason)
    if tile_of is not None:
        for h, i in zip(hits, idx.tolist()):
            if tile_of[i] >= 0:
                h.region = searcher.tile_matcher.region(int(tile_of[i]))
                h.reasons.append("tile")
    if first is not None:
        hits.sort(key=lambda h: h.path != first)  # stable: the query image leads its ties
    if collapse:
        hits = collapse_hits(searcher, hits, loaded)
    return hits[:k]


def collapse_hits(searcher: "Searcher", hits: "list[Hit]", loaded: "_Loaded | None" = None) -> "list[Hit]":
    finder = searcher.duplicate_finder() if hasattr(searcher, "duplicate_finder") else None
    if finder is None or len(hits) < 2:
        return hits
    vectors: dict[str, Any] | None = None
    if loaded is not None and finder.clip_threshold is not None:
        vectors = {h.path: loaded.index.vector(loaded.row_of[h.path]) for h in hits if h.path in loaded.row_of}
    rows = searcher.hit_rows([h.path for h in hits]) if hasattr(searcher, "hit_rows") else None
    return finder.collapse(hits, vectors, rows)
