"""The search modes behind Searcher.search: visual, textual, keyword and hybrid.

Each mode yields a ranked list with the statistics of its scores over the whole (filtered)
collection; hybrid fuses them (fusion.py). Vector modes score every row of a snapshot in RAM
(one matrix product), which also gives the statistics for free; keyword search asks
LanceDB's full-text index, and falls back to a plain LIKE scan when the index has not been
built yet. Each function takes the snapshot, store and encoder it reads (the Searcher picks
them), so the modes can be run and tested on their own.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from imgrag_desktop.search import textmatch, word_window
from imgrag_desktop.search.cancel import checkpoint
from imgrag_desktop.search.fusion import MODES as LISTS
from imgrag_desktop.search.fusion import ModeList, fuse
from imgrag_desktop.search.hits import hit_rows
from imgrag_desktop.search.ranking import scored_rows
from imgrag_desktop.search.snapshot import LoadedVectors, allowed_mask
from imgrag_desktop.store import Store, sql_str
from imgrag_desktop.types import Hit, ImgragError, ModelUnavailable

if TYPE_CHECKING:  # pragma: no cover
    from imgrag_desktop.search.tiles import TileMatcher

log = logging.getLogger(__name__)

MIN_DEPTH = 100  # candidates taken from each list before fusion
REASON_SHARE = 0.15  # a mode is named as a reason when it gave at least this share of the best vote


PHRASE_CANDIDATES = 50  # keyword hits checked for the whole query phrase

# MiniLM cosine above which a text is about the query (unrelated texts score about 0-0.2).
TEXTUAL_RELEVANT = 0.3


def normalize_weights(weights: dict[str, float] | None) -> dict[str, float]:
    out = {m: 1.0 for m in LISTS}
    for m, w in (weights or {}).items():
        if m not in out:
            raise ImgragError(f"unknown weight {m!r}: weights are for visual, textual and keyword")
        try:
            w = float(w)
        except (TypeError, ValueError) as exc:
            raise ImgragError(f"the {m} weight must be a number, not {w!r}") from exc
        if not (w >= 0 and np.isfinite(w)):
            raise ImgragError(f"the {m} weight must be zero or more, not {w}")
        out[m] = w
    return out


# Lists ---------------------------------------------------------------------------------------
def _vector_list(loaded: LoadedVectors, scores: np.ndarray, mask: np.ndarray | None, depth: int) -> ModeList:
    scores = np.asarray(scores, np.float32).reshape(-1)
    # -inf marks rows that no longer count (a patched snapshot's dead rows: vectors.py)
    valid = np.flatnonzero(np.isfinite(scores) if mask is None else (mask & np.isfinite(scores)))
    if len(valid) == 0:
        return ModeList([], [])
    s = scores[valid]
    n = min(depth, len(valid))
    top = np.argpartition(-s, n - 1)[:n] if n < len(valid) else np.arange(len(valid))
    top = top[np.argsort(-s[top], kind="stable")]
    rows = valid[top]
    return ModeList([loaded.paths[i] for i in rows.tolist()], s[top].astype(float).tolist(),
                    mean=float(s.mean()), std=float(s.std()), population=int(len(valid)))


def visual_list(store: Store, loaded: LoadedVectors, query: np.ndarray, where: str | None, depth: int,
                min_score: float | None = None, tiles: "TileMatcher | None" = None, model_id: str = "") -> ModeList:
    """CLIP's list: each image scored whole or by its best tile (tiles.py); entries under the
    relevance cut-off are left out (the collection statistics still count them)."""
    if not loaded.paths:
        return ModeList([], [])
    scores, tile_of = scored_rows(loaded, query, tiles, model_id)
    ml = _vector_list(loaded, scores, allowed_mask(store, loaded, where), depth)
    if min_score is not None:
        keep = [i for i, sc in enumerate(ml.scores) if sc >= min_score]
        ml.ids, ml.scores = [ml.ids[i] for i in keep], [ml.scores[i] for i in keep]
    if tile_of is not None and tiles is not None:
        for p in ml.ids:
            t = int(tile_of[loaded.row_of[p]])
            if t >= 0:
                ml.regions[p] = tiles.region(t)
    return ml


def textual_list(store: Store, loaded: LoadedVectors, encoder: Any, text: str, where: str | None,
                 depth: int) -> ModeList:
    """The text model's list, over the snapshot of textual vectors `encoder` made."""
    if not loaded.paths:
        return ModeList([], [])
    q = encoder.encode([text])[0]
    return _vector_list(loaded, loaded.index.scores(q), allowed_mask(store, loaded, where), depth)


def _fts_ready(table: Any) -> bool:
    try:
        return any("search_text" in list(getattr(i, "columns", [])) for i in table.list_indices())
    except Exception:
        return False


def keyword_list(store: Store, text: str, where: str | None, depth: int, avoid: Sequence[str] = ()) -> ModeList:
    """The full-text list, rescored by query coverage (rescore_keyword). Its confidence is the
    largest share of the query's words one document holds, squared: any match at all stands
    far above "no match" (score 0), so the chance model says nothing here; what tells an exact
    phrase (every word found) from one everyday word shared with a long description is how
    much of the query was found, and half the words is weak evidence (a quarter, squared).
    Documents whose text holds a term to `avoid` (a query's "-word") are left out."""
    table = store.images
    if table is None:
        return ModeList([], [])
    population = store.count(where) if where else store.count()
    if _fts_ready(table):
        from lancedb.query import MatchQuery

        # A MatchQuery, not the string: LanceDB reads a string in quotes as a phrase query
        # (an error without word positions); the words are matched whatever they hold.
        q = table.search(MatchQuery(text, "search_text"), query_type="fts")  # type: ignore[call-arg]  # pydantic defaults
        q = q.select(["path", "search_text", "_score"]).limit(depth)
        if where:
            q = q.where(where, prefilter=True)
        rows = q.to_arrow()
        ids = rows.column("path").to_pylist() if rows.num_rows else []
        bodies = rows.column("search_text").to_pylist() if rows.num_rows else []
        scores = [float(x) for x in rows.column("_score").to_pylist()] if rows.num_rows else []
    else:
        ids, scores, bodies = _keyword_scan(store, text, where, depth)
    if avoid and ids:
        keep = [i for i, body in enumerate(bodies) if not textmatch.holds_any(body or "", avoid)]
        ids, scores, bodies = [ids[i] for i in keep], [scores[i] for i in keep], [bodies[i] for i in keep]
    if not ids:
        return ModeList([], [], population=population)
    body_of = dict(zip(ids, bodies))
    ids, scores, coverage, exact = rescore_keyword(text, ids, scores, bodies)
    # Documents without a match score 0: the mean and spread are over the whole collection.
    arr = np.asarray(scores, np.float64)
    n = max(population, len(arr))
    mean = float(arr.sum() / n)
    std = float(np.sqrt(max(0.0, (arr ** 2).sum() / n - mean ** 2)))
    ml = ModeList(ids, scores, mean=mean, std=std, population=n, conf=coverage ** 2)
    ml.exact = exact
    ml.near = near_phrase(text, ids[:PHRASE_CANDIDATES], body_of, set(exact))
    ml.window = word_window.words_near(text, ids[:PHRASE_CANDIDATES], body_of, set(exact) | set(ml.near))
    return ml


def near_phrase(text: str, ids: Sequence[str], body_of: dict[str, str | None], exact: set[str]) -> list[str]:
    """The candidates (in their order) whose text holds the query phrase with a few edits but
    not word for word, fewest edits first (textmatch.near_edits): a phrase read off a receipt
    that OCR read as "TQFOR SHOPPING WITH", or a query typed with a slip of the finger."""
    pattern = textmatch.near_pattern(textmatch.tokens(text))
    if pattern is None:
        return []
    return textmatch.ranked_by(ids, exact, lambda path: textmatch.near_edits(pattern, body_of.get(path) or ""))


def rescore_keyword(text: str, ids: Sequence[str], scores: Sequence[float], bodies: Sequence[str | None]
                    ) -> tuple[list[str], list[float], float, list[str]]:
    """BM25 scores weighed by how much of the query each document holds, best first; the
    largest share of the query's words that one document contains; and the documents that
    hold the whole query as a phrase (two words or more), in the new order.

    BM25 adds up per-word evidence, so a short text holding four of five query words can
    outscore the text that holds all five in the order typed (a URL or a sentence seen in a
    screenshot, one word of which differs from a similar URL elsewhere). The share of query
    words found, squared, and a double weight for the whole query found as a phrase, put the
    image that shows what was typed first; BM25 still orders documents that hold the query
    equally well.
    """
    terms = textmatch.query_terms(text)
    phrase = textmatch.tokens(text)
    if not terms:
        return list(ids), list(scores), 0.0, []
    out = []
    best = 0.0
    exact = set()
    for i, (path, score, body) in enumerate(zip(ids, scores, bodies)):
        body = body or ""
        # The index matched at least one word even where this simpler stemmer finds none.
        cov = max(1, len(textmatch.matching_terms(body, terms))) / len(terms)
        whole = len(phrase) > 1 and textmatch.contains_phrase(body, phrase)
        best = max(best, cov)
        if whole:
            exact.add(path)
        out.append((float(score) * cov * cov * (2.0 if whole else 1.0), i, path))
    out.sort(key=lambda t: (-t[0], t[1]))
    order = [p for _, _, p in out]
    return order, [s for s, _, _ in out], best, [p for p in order if p in exact]


def _keyword_scan(store: Store, text: str, where: str | None, depth: int
                  ) -> tuple[list[str], list[float], list[str]]:
    """Before the full-text index exists: rows containing query words, by words matched."""
    terms = sorted(textmatch.query_terms(text))[:16]
    if not terms:
        return [], [], []
    likes = " OR ".join(f"lower(search_text) LIKE {sql_str('%' + t + '%')}" for t in terms)
    cond = f"({where}) AND ({likes})" if where else f"({likes})"
    tbl = store.query(cond, ["path", "search_text"])
    scored = []
    for path, st in zip(tbl.column("path").to_pylist(), tbl.column("search_text").to_pylist()):
        n = len(textmatch.matching_terms(st or "", set(terms)))
        if n:
            scored.append((float(n), path, st or ""))
    scored.sort(key=lambda x: (-x[0], x[1]))
    scored = scored[:depth]
    return [p for _, p, _ in scored], [s for s, _, _ in scored], [b for _, _, b in scored]


# Search --------------------------------------------------------------------------------------
def search(store: Store, snapshot: LoadedVectors, text: str, k: int, where: str | None, mode: str,
           weights: dict[str, float] | None, *, clip: Any,
           visual: "tuple[np.ndarray, float | None] | None" = None, tiles: "TileMatcher | None" = None,
           textual: "Callable[[], tuple[LoadedVectors, Any]] | None" = None, fetch: int | None = None,
           avoid: Sequence[str] = ()) -> list[Hit]:
    """The modes' ranked lists, fused in hybrid mode. `snapshot` holds the visual vectors (of
    `clip`'s model); `visual` is the CLIP query vector and its cut-off when the caller built
    one (combined queries), else `clip` encodes the text here. `textual` gives the textual
    snapshot and its text encoder, asked only when that list is wanted (it raises
    ModelUnavailable without a text model). `fetch` hits are returned (more than k when the
    caller folds duplicates afterwards). `avoid`: the query's negative terms; the keyword and
    textual lists leave out texts holding one (the visual vector already subtracts them)."""
    k = max(1, int(fetch or k))
    depth = max(MIN_DEPTH, 3 * k)
    w = normalize_weights(weights)
    lists: dict[str, ModeList] = {}
    if mode in ("visual", "hybrid") and (mode == "visual" or w["visual"] > 0):
        query, cut = visual if visual is not None else (clip.encode_texts([text])[0], None)
        lists["visual"] = visual_list(store, snapshot, query, where, depth, cut, tiles, clip.model_id)
    checkpoint()  # a newer query replaced this one: stop between the lists (search/cancel.py)
    if mode in ("textual", "hybrid") and (mode == "textual" or w["textual"] > 0):
        try:
            if textual is None:
                raise ModelUnavailable("no text model is configured: textual search is unavailable")
            loaded, encoder = textual()
            lists["textual"] = textual_list(store, loaded, encoder, text, where, depth)
            if avoid:
                _leave_out(store, lists["textual"], avoid)
            if visual is not None and visual[1] is not None:
                # A relevance cut-off is in force: the text list keeps only real matches too,
                # so "no good matches" stays a possible answer in hybrid mode.
                tl = lists["textual"]
                keep = [i for i, sc in enumerate(tl.scores) if sc >= TEXTUAL_RELEVANT]
                tl.ids, tl.scores = [tl.ids[i] for i in keep], [tl.scores[i] for i in keep]
        except ModelUnavailable as exc:
            if mode == "textual":
                raise
            log.warning("textual search skipped: %s", exc)
    checkpoint()
    if mode in ("keyword", "hybrid") and (mode == "keyword" or w["keyword"] > 0):
        lists["keyword"] = keyword_list(store, text, where, depth, avoid)
    checkpoint()
    if mode != "hybrid":
        ml = lists[mode]
        order = [(p, s, {mode}) for p, s in zip(ml.ids[:k], ml.scores[:k])]
    else:
        fused = fuse(lists, w)
        order = []
        for f in fused:
            best = max(f.votes.values(), default=0.0)
            modes = {m for m, v in f.votes.items() if v > 0 and v >= REASON_SHARE * best} or set(f.votes)
            order.append((f.id, f.score, modes))
        order = phrase_first(order, lists.get("keyword"))[:k]
    hits = make_hits(store, snapshot, text, order)
    regions = lists["visual"].regions if "visual" in lists else {}
    for h in hits:
        if h.path in regions and "visual" in h.reasons:
            h.region = regions[h.path]
            h.reasons.append("tile")
    return hits


def _leave_out(store: Store, ml: ModeList, avoid: Sequence[str]) -> None:
    """Drop from a list the documents whose text holds a term to avoid (as keyword_list does)."""
    bodies = store.rows(ml.ids, ["search_text"]) if ml.ids else {}
    keep = [i for i, p in enumerate(ml.ids)
            if not textmatch.holds_any((bodies.get(p) or {}).get("search_text") or "", avoid)]
    ml.ids, ml.scores = [ml.ids[i] for i in keep], [ml.scores[i] for i in keep]


def phrase_first(order: list[tuple[str, float, set[str]]], keyword: ModeList | None) -> list[tuple[str, float, set[str]]]:
    """Images whose text holds the whole query, word for word, before all others.

    Someone typing a phrase read off a screenshot ("https://dynobo.github.io/normcap/",
    "invoice 2024-113") wants the image that says exactly that, even when another image's
    text means nearly the same. Only candidates the keyword list found are checked (they
    contain the query's words; keyword_list marks those holding the whole phrase, token for
    token, so "the key" is not found in "the keyboard"); a one-word query is left to the fusion.
    Right after them come the images whose text holds it with a few edits (`near_phrase`): OCR
    misreads letters and joins words, and people mistype; then those holding all its words close
    together in another order or split by other words (`word_window`: a line of a two-column
    receipt, a label and its value).
    """
    exact = keyword.exact[:PHRASE_CANDIDATES] if keyword is not None else []
    near = [p for p in keyword.near if p not in set(exact)] if keyword is not None else []
    window = [p for p in keyword.window if p not in set(exact) | set(near)] if keyword is not None else []
    lead = exact + near + window
    if not lead:
        return order
    modes = {p: m for p, _, m in order}
    top = max((sc for _, sc, _ in order), default=0.0)
    first = [(p, top, modes.get(p, set()) | {"keyword"}) for p in lead]
    return first + [o for o in order if o[0] not in set(lead)]


def make_hits(store: Store, snapshot: LoadedVectors, text: str, order: list[tuple[str, float, set[str]]]
              ) -> list[Hit]:
    rows = hit_rows(store, snapshot, [p for p, _, _ in order])
    terms = textmatch.query_terms(text)
    hits = []
    for path, score, modes in order:
        r = rows.get(path)
        if r is None:  # deleted since the lists were made
            continue
        words = textmatch.parse_words(r.get("ocr_words"))
        boxes = textmatch.matched_boxes(words, terms)
        hits.append(Hit.from_row(r, score, reasons_for(modes, r, terms), matched_words=boxes))
    return hits


def reasons_for(modes: set[str], row: dict[str, Any], terms: set[str]) -> list[str]:
    """Why a hit matched, in words a user reads: visual, textual, ocr: <words>, caption, name."""
    out = []
    if "visual" in modes:
        out.append("visual")
    if "keyword" in modes or "textual" in modes:
        ocr_words = textmatch.matching_terms(row.get("ocr_text") or "", terms)
        if ocr_words:
            out.append("ocr: " + " ".join(ocr_words[:6]))
        if textmatch.matching_terms(row.get("caption") or "", terms):
            out.append("caption")
        name = os.path.splitext(row.get("name") or "")[0]
        if textmatch.matching_terms(name, terms):
            out.append("name")
    if "textual" in modes:
        out.append("textual")
    if not out:
        out.append(sorted(modes)[0] if modes else "visual")
    return out
