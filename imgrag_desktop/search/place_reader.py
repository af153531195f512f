"""The place reader: "in Lisbon", "from Japan", "at Lisboa" → Filters.place.

A place is read only after a preposition (in, at, from, near, around), so "Paris Hilton" and
"Nice weather" stay text. The words are looked up first among the places the library holds
(its cities, regions and countries, and the other names of those cities: Lisboa for Lisbon),
then among all country names, then, when capitalised, in the world gazetteer (search/places.py;
a city of 15,000 or more, a region or a country): a place the library has no photo of is still
understood, and honestly finds nothing.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from imgrag_desktop.search.filters import Filters
from imgrag_desktop.search.places import COUNTRY_ALIASES, Named, fold
from imgrag_desktop.search.reading import Chip, Found, ReadContext

_PREP = re.compile(r"(?<![\w-])(?P<p>in|at|from|near|around|of|taken\s+in|visiting|trip\s+to|holiday\s+in)\s+", re.I)
_WORD = re.compile(r"[^\W\d_][\w'’.-]*", re.UNICODE)
MAX_WORDS = 4
MIN_CITY_POPULATION = 15_000
# Words that follow "in" and are never a place here ("in the", "in front of").
_NOT_PLACE = {"the", "a", "an", "my", "our", "front", "bed", "love", "time", "progress", "case", "general", "fact",
              "order", "use", "it", "this", "that", "there", "here", "home", "work", "school", "town", "city"}


def library_names(places: Iterable[tuple[str, str, str, str]]) -> dict[str, Named]:
    """Folded name → Named for what the library holds: (city, region, country, country_code) rows,
    each city also under its other names."""
    from imgrag_desktop.search.places import city_alternates

    out: dict[str, Named] = {}

    def put(key: str, named: Named) -> None:
        k = fold(key)
        old = out.get(k)
        if old is None:
            out[k] = named
        else:  # the same name for several places: any of them
            out[k] = Named(old.name, tuple(sorted({*old.cities, *named.cities})),
                           tuple(sorted({*old.regions, *named.regions})),
                           tuple(sorted({*old.countries, *named.countries})))

    for city, region, country, code in places:
        if country:
            put(country, Named(country, countries=(country,)))
        if region:
            put(region, Named(region, regions=(region,)))
        if city:
            put(city, Named(city, cities=(city,)))
            for alt in city_alternates(city, code or ""):
                if alt.isascii():
                    put(alt, Named(city, cities=(city,)))
    for alias, country in COUNTRY_ALIASES.items():
        if fold(country) in out:
            put(alias, out[fold(country)])
    return out


def _world(words: str, capitalised: bool) -> Named | None:
    from imgrag_desktop.search.places import gazetteer, geocoder

    folded = fold(words)
    countries = {fold(c): c for c in geocoder().countries.values()}
    if folded in countries:
        return Named(countries[folded], countries=(countries[folded],))
    if folded in COUNTRY_ALIASES:
        c = COUNTRY_ALIASES[folded]
        return Named(c, countries=(c,))
    if not capitalised or len(folded) < 3:  # "in L" while typing does not load the world's names
        return None
    named = gazetteer().lookup(words)
    if named is None or (not named.countries and not named.regions and named.population < MIN_CITY_POPULATION):
        return None
    return named


def read_places(text: str, filters: Filters, context: ReadContext) -> Found | None:
    known: dict[str, Named] | None = None
    for m in _PREP.finditer(text):
        after = text[m.end():]
        words: list[re.Match[str]] = []
        pos = 0
        for w in _WORD.finditer(after):
            if after[pos:w.start()].strip(" ") or len(words) == MAX_WORDS:
                break  # punctuation between: the name ended
            words.append(w)
            pos = w.end()
        if not words or words[0].group(0).lower() in _NOT_PLACE:
            continue
        if known is None:
            known = library_names(context.places() if context.places else ())  # type: ignore[arg-type]
        weak = m.group("p").lower() == "of"  # "photos of Japan", but not "a photo of Paris Hilton"
        for n in range(len(words), 0, -1):
            phrase = after[:words[n - 1].end()].rstrip(".")
            named = known.get(fold(phrase)) or _world(phrase, phrase[:1].isupper() and not weak)
            if named is None:
                continue
            end = m.end() + len(phrase)
            if n < len(words) and words[n].group(0)[:1].isupper() and (weak or fold(phrase) not in known):
                # A longer proper name goes on ("at Thai Delicious Restaurant", "at One One Three
                # Seafood"): not this place, unless the library holds one of that name ("in Lisbon
                # Portugal"); after "of" never ("a photo of Paris Hilton").
                continue
            fields: dict[str, Any] = named.fields()
            return Found(f"{text[:m.start()]} {text[end:]}", fields,
                         [Chip("place", f"📍 {named.name}", text[m.start():end].strip(), fields)])
    return None
