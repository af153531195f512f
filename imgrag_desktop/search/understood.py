"""Searching with a reading (search/understand.py): the filters it read narrow the search, the
text left is what is looked for, and a query that was only filters ("photos from Japan",
"screenshots from Tuesday") lists what they keep, newest first. Also the one "sort by date"."""

from __future__ import annotations

import re
from typing import Any

from imgrag_desktop.search import textmatch, word_window
from imgrag_desktop.search.understand import Reading
from imgrag_desktop.store import HIT_COLUMNS
from imgrag_desktop.types import Hit

SORTS = ("score", "date")
PHRASE_MIN_WORDS = 3  # a typed text this long that a picture's text holds word for word is searched as typed
PHRASE_CHECK_HITS = 5
PHRASE_RERANK = 20  # hits looked at for one that holds the typed phrase word for word
_WORD = re.compile(r"[^\W_]+")


def _words(text: str) -> list[str]:
    return _WORD.findall((text or "").lower())


def pasted_phrase(searcher: Any, reading: Reading) -> Reading | None:
    """The typed text as written, without the filters read from it, when it is a phrase some
    picture's text holds word for word (or with the few edits of an OCR misreading,
    textmatch.near_edits, or all its words close together, word_window: a line of a
    two-column receipt): "valley letter spring balance" copied from a page is
    that page's text, not a search for "valley letter balance" in spring. None otherwise (and
    always when the user wrote operators, or nothing was read). One keyword search of the text."""
    read = [c for c in reading.chips if c.kind != "operator"]
    if not read or len(read) != len(reading.chips):
        return None
    words = _words(reading.original)
    if len(words) < PHRASE_MIN_WORDS:
        return None
    literal = reading
    for chip in read:
        literal = literal.without(chip)
    literal = Reading(reading.original, " ".join(reading.original.split()), literal.filters, [])
    try:
        hits = searcher.search(literal.text, k=PHRASE_CHECK_HITS, where=literal.filters.where(), mode="keyword",
                               min_score=None)
    except Exception:  # noqa: BLE001 - no keyword index yet: the reading stands
        return None
    phrase = " ".join(words)
    near = textmatch.near_pattern(textmatch.tokens(reading.original))  # OCR's "Comer" for "Corner"
    window = (word_window.window_query(reading.original)
              if len(word_window.query_units(reading.original)) >= word_window.LITERAL_MIN_WORDS else None)
    for h in hits:
        body = f"{h.ocr_text}\n{h.caption}"
        if (phrase in " ".join(_words(body)) or textmatch.near_edits(near, body) is not None
                or (window is not None and word_window.tightest_window(window, body) is not None)):
            return literal
    return None


def by_date(store: Any, where: str | None, limit: int) -> list[Hit]:
    """The rows under `where`, newest first by the photo's own time (`local_time`, else `date`)."""
    if store.images is None:
        return []
    cols = ["path", "date"] + (["local_time"] if "local_time" in store.images.schema.names else [])
    tbl = store.query(where, cols)
    rows = tbl.to_pylist()
    rows.sort(key=lambda r: (r.get("local_time") if r.get("local_time") is not None else (r.get("date") or 0.0),
                             r["path"]), reverse=True)
    top = [r["path"] for r in rows[:max(0, limit)]]
    full = store.rows(top, HIT_COLUMNS)
    return [Hit.from_row(full[p], score=0.0, reasons=["date"]) for p in top if p in full]


def sort_hits(hits: list[Hit], sort: str | None) -> list[Hit]:
    if sort != "date":
        return hits
    return sorted(hits, key=lambda h: (h.taken_at if h.taken_at is not None else h.mtime), reverse=True)


def search_reading(searcher: Any, reading: Reading, k: int = 10, *, sort: str | None = None, like: str | None = None,
                   **options: Any) -> list[Hit]:
    """Hits for a reading: the searcher's ranking of the text left, under the filters read
    (and those the user set), or, when nothing is left to look for, the filtered photos by date.
    A phrase pasted from a picture's text is searched as typed (`pasted_phrase`)."""
    if like is None:
        reading = pasted_phrase(searcher, reading) or reading
    where = reading.filters.where()
    if reading.only_filters and like is None:
        return by_date(searcher.store, where, k)
    if like is not None:
        options["like"] = like
    phrase = _words(reading.text) if like is None and not any(c.kind == "operator" for c in reading.chips) else []
    if len(phrase) < PHRASE_MIN_WORDS:
        return sort_hits(searcher.search(reading.text, k=k, where=where, **options), sort)
    hits = searcher.search(reading.text, k=max(k, PHRASE_RERANK), where=where, **options)
    return sort_hits(phrase_first(hits, phrase)[:k], sort)


def phrase_first(hits: list[Hit], phrase: list[str]) -> list[Hit]:
    """The hits whose text holds the typed phrase word for word first, each group in its own
    order. Words copied from a receipt ("TQ FOR SHOPPING WITH") are also, one by one, on every
    receipt of the town: the keyword and meaning lists rank by the words, the page that has
    them in that order is the one meant."""
    want = " ".join(phrase)
    exact = [h for h in hits if want in " ".join(_words(f"{h.ocr_text}\n{h.caption}"))]
    return exact + [h for h in hits if h not in exact] if exact else hits
