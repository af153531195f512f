"""Searching with a reading (search/understand.py): the filters it read narrow the search, the
text left is what is looked for, and a query that was only filters ("photos from Japan",
"screenshots from Tuesday") lists what they keep, newest first. Also the one "sort by date"."""

from __future__ import annotations

from typing import Any

from imgrag_desktop.search.understand import Reading
from imgrag_desktop.store import HIT_COLUMNS
from imgrag_desktop.types import Hit

SORTS = ("score", "date")


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
    (and those the user set), or, when nothing is left to look for, the filtered photos by date."""
    where = reading.filters.where()
    if reading.only_filters and like is None:
        return by_date(searcher.store, where, k)
    if like is not None:
        options["like"] = like
    hits = searcher.search(reading.text, k=k, where=where, **options)
    return sort_hits(hits, sort)
