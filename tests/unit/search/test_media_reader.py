"""The metadata and media readers (search/media_reader.py) through understand()."""

from __future__ import annotations

import pytest

from imgrag_desktop.search.reading import ReadContext
from imgrag_desktop.search.understand import understand

# A library holding videos, Live Photos, RAW files, ratings and the tag "Lisbon".
LIBRARY = ReadContext(has_tag=lambda t: t.lower() == "lisbon", has_media=lambda m: True, has_ratings=lambda: True)


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
    r = understand(query, context=LIBRARY)
    assert (r.text, r.filters.tag, r.filters.rating, r.filters.media) == (text, tag, rating, media)
    where = r.filters.where() or ""
    if tag:
        assert "tags" in where
    if rating:
        assert f"rating >= {rating}" in where


def test_raw_files_and_a_year_are_both_read() -> None:
    r = understand("raw files from 2023", context=LIBRARY)
    assert r.filters.media == "raw" and r.text == "" and [c.kind for c in r.chips] == ["media", "date"]


@pytest.mark.parametrize("query", ["#1 error", "#include <stdio.h>", "a 4 stars hotel", "movie poster",
                                   "paper clips", "videos of the beach", "#Lisbon tram"])
def test_words_that_could_be_filters_stay_text_when_the_library_has_no_such_thing(query: str) -> None:
    """Without tags, ratings or videos in the library, these are text to search for."""
    empty = ReadContext(has_tag=lambda t: False, has_media=lambda m: False, has_ratings=lambda: False)
    for context in (empty, None):
        r = understand(query, context=context)
        assert (r.filters.tag, r.filters.rating, r.filters.media) == (None, None, None), query
        assert r.text == " ".join(query.split())


def test_explicit_forms_are_read_in_any_library() -> None:
    empty = ReadContext(has_tag=lambda t: False, has_media=lambda m: False, has_ratings=lambda: False)
    r = understand("tag:holiday tram rated 4", context=empty)
    assert (r.text, r.filters.tag, r.filters.rating) == ("tram", "holiday", 4)
    assert understand("★★★ cats", context=empty).filters.rating == 3
