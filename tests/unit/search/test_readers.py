"""The readers of dates, places and kinds (search/dates.py, place_reader.py, kinds.py): a table
of phrases → what must be read, and phrases that must stay text. "Now" is fixed: Wednesday
2 December 2026, 10:00."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from imgrag_desktop.search.dates import RULES
from imgrag_desktop.search.filters import Filters
from imgrag_desktop.search.understand import ReadContext, understand

NOW = datetime(2026, 12, 2, 10, 0).astimezone()
LIBRARY = [("Lisbon", "Lisbon", "Portugal", "PT"), ("Tokyo", "Tokyo", "Japan", "JP"),
           ("Baarle-Nassau", "North Brabant", "Netherlands", "NL")]
CTX = ReadContext(now=NOW, places=lambda: LIBRARY)



# phrase → (text left, kind, place, first day, day after the last) ; None: not set
TABLE = [
    ("yesterday", "", None, None, "2026-12-01", "2026-12-02"),
    ("today", "", None, None, "2026-12-02", "2026-12-03"),
    ("the day before yesterday", "", None, None, "2026-11-30", "2026-12-01"),
    ("the screenshot from Tuesday", "", "screenshot", None, "2026-12-01", "2026-12-02"),
    ("what was the error code in the screenshot from Tuesday?", "what was the error code ?", "screenshot", None,
     "2026-12-01", "2026-12-02"),
    ("on Wednesday", "", None, None, "2026-12-02", "2026-12-03"),  # today is one
    ("last Wednesday", "", None, None, "2026-11-25", "2026-11-26"),
    ("cat on Sunday", "cat", None, None, "2026-11-29", "2026-11-30"),
    ("last week", "", None, None, "2026-11-23", "2026-11-30"),
    ("this week", "", None, None, "2026-11-30", "2026-12-07"),
    ("last month", "", None, None, "2026-11-01", "2026-12-01"),
    ("this year", "", None, None, "2026-01-01", "2027-01-01"),
    ("last year", "", None, None, "2025-01-01", "2026-01-01"),
    ("last weekend", "", None, None, "2026-11-28", "2026-11-30"),
    ("past 3 days", "", None, None, "2026-11-30", "2026-12-03"),
    ("two weeks ago", "", None, None, "2026-11-16", "2026-11-23"),
    ("July 2023", "", None, None, "2023-07-01", "2023-08-01"),
    ("dogs in July 2023", "dogs", None, None, "2023-07-01", "2023-08-01"),
    ("summer 2022", "", None, None, "2022-06-01", "2022-09-01"),
    ("last summer", "", None, None, "2026-06-01", "2026-09-01"),
    ("winter 2022", "", None, None, "2022-12-01", "2023-03-01"),
    ("2019", "", None, None, "2019-01-01", "2020-01-01"),
    ("sunset in 2019", "sunset", None, None, "2019-01-01", "2020-01-01"),
    ("between May and June", "", None, None, "2026-05-01", "2026-07-01"),
    ("between May and June 2021", "", None, None, "2021-05-01", "2021-07-01"),
    ("between November and February", "", None, None, "2025-11-01", "2026-03-01"),
    ("between 2019 and 2021", "", None, None, "2019-01-01", "2022-01-01"),
    ("in May", "", None, None, "2026-05-01", "2026-06-01"),
    ("since 2020", "", None, None, "2020-01-01", "2026-12-03"),
    ("before May 2021", "", None, None, None, "2021-05-01"),
    ("cake on 3 March 2024", "cake", None, None, "2024-03-03", "2024-03-04"),
    ("on March 3rd, 2024", "", None, None, "2024-03-03", "2024-03-04"),
    ("receipt from 2024-03-05", "receipt", "document,photo", None, "2024-03-05", "2024-03-06"),
    ("2024-03-05", "2024-03-05", None, None, None, None),  # a date pasted alone: searched as text
    ("18 APR 2018 18:34", "18 APR 2018 18:34", None, None, None, None),  # a receipt's line, as text
    ("in Lisbon", "", None, "Lisbon", None, None),
    ("in Lisboa", "", None, "Lisbon", None, None),  # an alternate name of a place the library has
    ("in Japan", "", None, "Japan", None, None),
    ("photos from Japan", "", None, "Japan", None, None),
    ("in japan", "", None, "Japan", None, None),  # countries need no capital letter
    ("photos of Japan", "", None, "Japan", None, None),
    ("a photo of Paris Hilton", "a photo of Paris Hilton", None, None, None, None),
    ("last Friday's screenshot", "", "screenshot", None, "2026-11-27", "2026-11-28"),
    ("the beach in Lisbon last summer", "the beach", None, "Lisbon", "2026-06-01", "2026-09-01"),
    ("tram in Baarle-Nassau", "tram", None, "Baarle-Nassau", None, None),
    ("screenshots", "", "screenshot", None, None, None),
    ("a receipt from the hardware store", "receipt from the hardware store", "document,photo", None, None, None),
    ("scanned documents", "", "document", None, None, None),
    ("C:\\Users\\bob\\My Documents\\a.txt", "C:\\Users\\bob\\My Documents\\a.txt", None, None, None, None),
    # must stay text
    ("Paris Hilton", "Paris Hilton", None, None, None, None),
    ("may I see the cat", "may I see the cat", None, None, None, None),
    ("March of the penguins", "March of the penguins", None, None, None, None),
    ("error code 2019", "error code 2019", None, None, None, None),
    ("at the beach", "at the beach", None, None, None, None),
    # a shop's name after "at" is not the town one of its words names elsewhere
    ("total at Thai Delicious Restaurant", "total at Thai Delicious Restaurant", None, None, None, None),
    ("bill at One One Three Seafood", "bill at One One Three Seafood", None, None, None, None),
    ("in nice weather", "in nice weather", None, None, None, None),
    ("\"in Lisbon\" poster", "\"in Lisbon\" poster", None, None, None, None),  # quotes: literal
    ("sunday best dress", None, None, None, "2026-11-29", "2026-11-30"),  # a known over-reach, see docs
]


def _iso(ts: float | None) -> str | None:
    return None if ts is None else time.strftime("%Y-%m-%d", time.gmtime(ts))


@pytest.mark.parametrize("phrase,text,kind,place,start,end", TABLE, ids=[t[0] for t in TABLE])
def test_the_phrase_table(phrase, text, kind, place, start, end) -> None:
    r = understand(phrase, context=CTX)
    if text is not None:
        assert r.text == text
    assert r.filters.kind == kind
    assert (r.filters.place or None) == (None if place is None else r.filters.place)
    if place is not None:
        assert any(item.endswith(f":{place}") for item in r.filters.place.split(","))
        assert any(c.label == f"📍 {place}" for c in r.chips)
    assert (_iso(r.filters.local_from), _iso(r.filters.local_to)) == (start, end)
    assert r.only_filters == (text == "" and bool(r.chips))


def test_a_place_the_library_lacks_is_still_understood_from_the_world_gazetteer() -> None:
    r = understand("dinner in Paris", context=ReadContext(now=NOW, places=lambda: []))
    assert r.text == "dinner" and "city:Paris" in r.filters.place.split(",")
    r = understand("dinner in Pariss", context=ReadContext(now=NOW, places=lambda: []))
    assert r.text == "dinner in Pariss" and r.filters.place is None


def test_removing_a_chip_gives_its_words_back_and_clears_its_filter() -> None:
    r = understand("beach in Lisbon last summer", Filters(camera="pixel"), context=CTX)
    place = next(c for c in r.chips if c.kind == "place")
    back = r.without(place)
    assert back.filters.place is None and back.filters.local_from == r.filters.local_from
    assert back.filters.camera == "pixel" and "in Lisbon" in back.text


def test_a_town_that_names_its_region_too_means_the_town() -> None:
    assert understand("in Lisbon", context=CTX).filters.place == "city:Lisbon"
    assert understand("in North Brabant", context=CTX).filters.place == "region:North Brabant"


def test_the_filters_it_sets_narrow_the_sql() -> None:
    where = understand("screenshots in Japan from 2019", context=CTX).filters.where() or ""
    assert "kind IN ('screenshot')" in where and "'japan'" in where and "coalesce(local_time, date)" in where


def test_every_date_rule_is_in_the_table() -> None:
    """Each rule of dates.RULES is exercised by at least one phrase above (one by one)."""
    used = set()
    for phrase, *_ in TABLE:
        for name, rx, rule in RULES:
            m = rx.search(phrase)
            if m and rule(m, NOW.date()) is not None:
                used.add(name)
                break
    assert used == {name for name, _, _ in RULES}


def test_filler_words_alone_are_still_searched_for() -> None:
    r = understand("photos", context=CTX)
    assert r.text == "photos" and not r.only_filters
