"""The people reader of search/understand: known names become person filters, nothing else."""

from __future__ import annotations

import pytest

from imgrag_desktop.search.filters import Filters
from imgrag_desktop.search.understand import READERS, ReadContext, understand

PHOTOS = {"Alice": {"a1", "a2"}, "Bob": {"b1", "a2"}, "Mary Jane": {"m1"}}
CTX = ReadContext(people=lambda: sorted(PHOTOS), person_photos=lambda n: PHOTOS[n])


@pytest.mark.parametrize("query, text, include, exclude", [
    ("Alice at the beach", "at the beach", ["Alice"], []),
    ("alice at the beach", "at the beach", ["Alice"], []),
    ("Alice and Bob", "", ["Alice", "Bob"], []),
    ("Alice & Bob in the snow", "in the snow", ["Alice", "Bob"], []),
    ("beach -Bob", "beach", [], ["Bob"]),
    ("Alice's birthday cake", "birthday cake", ["Alice"], []),
    ("mary jane with Bob", "", ["Mary Jane", "Bob"], []),
    ("Alice at the beach -Bob", "at the beach", ["Alice"], ["Bob"]),
    ("Bobby and his dog", "Bobby and his dog", [], []),
    ("Malice in wonderland", "Malice in wonderland", [], []),
    ('a sign that says "Alice"', 'a sign that says "Alice"', [], []),
    ("Carol at the beach", "Carol at the beach", [], []),
])
def test_names_in_queries(query, text, include, exclude):
    r = understand(query, context=CTX)
    assert r.text == text
    assert [p.name for p in r.filters.people if not p.exclude] == include
    assert [p.name for p in r.filters.people if p.exclude] == exclude
    assert bool([c for c in r.chips if c.kind != "operator"]) == bool(include or exclude)  # quotes: an operator chip


def test_the_filter_is_the_set_of_photos_and_the_chip_gives_the_words_back():
    r = understand("Alice and Bob", context=CTX)
    where = r.filters.where()
    assert where == "(content_hash IN ('a1', 'a2')) AND (content_hash IN ('a2', 'b1'))"
    assert r.only_filters and r.chips[0].label == "👤 Alice and Bob"
    assert r.as_json()["chips"][0]["fields"]["people"][0] == {"name": "Alice", "exclude": False, "photos": 2}
    back = r.without(r.chips[0])
    assert back.filters.people == () and back.text == "Alice and Bob" and back.filters.where() is None
    assert "NOT IN ('b1', 'a2')".replace("'b1', 'a2'", "'a2', 'b1'") in understand("-Bob", context=CTX).filters.where()


def test_no_people_known_or_no_context_reads_nothing():
    assert understand("Alice", context=ReadContext()).filters == Filters()
    assert understand("Alice", context=ReadContext(people=lambda: [], person_photos=lambda n: set())).text == "Alice"
    assert ("people", READERS[[n for n, _ in READERS].index("people")][1]) in READERS


def test_a_person_with_no_photo_left_matches_nothing():
    ctx = ReadContext(people=lambda: ["Zoe"], person_photos=lambda n: set())
    assert understand("Zoe", context=ctx).filters.active()
    assert "IS NULL" in understand("Zoe", context=ctx).filters.where()
