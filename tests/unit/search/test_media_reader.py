"""The metadata and media readers (search/media_reader.py) through understand()."""

from __future__ import annotations

import pytest

from imgrag_desktop.search.understand import understand


@pytest.mark.parametrize("query,text,tag,rating,media", [
    ("beach tag:holiday", "beach", "holiday", None, None),
    ("#Lisbon tram rated 4", "tram", "Lisbon", 4, None),
    ("4 stars sunset", "sunset", None, 4, None),
    ("★★★ cats", "cats", None, 3, None),
    ("videos of the beach", "of the beach", None, None, "video"),
    ("live photos of the dog", "of the dog", None, None, "live"),
    ("raw fish", "raw fish", None, None, None),  # a word of the query, not a filter
    ("holiday photos", "holiday photos", None, None, None),
    ("tag:Places/Portugal sunset", "sunset", "Places/Portugal", None, None),
])
def test_queries_are_read_into_filters(query: str, text: str, tag: str | None, rating: int | None,
                                       media: str | None) -> None:
    r = understand(query)
    assert (r.text, r.filters.tag, r.filters.rating, r.filters.media) == (text, tag, rating, media)
    where = r.filters.where() or ""
    if tag:
        assert "tags" in where
    if rating:
        assert f"rating >= {rating}" in where


def test_raw_files_and_a_year_are_both_read() -> None:
    r = understand("raw files from 2023")
    assert r.filters.media == "raw" and r.text == "" and [c.kind for c in r.chips] == ["media", "date"]
