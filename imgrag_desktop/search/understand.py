"""How a typed query or question is read: filters taken out of its words, and the rest.

"Alice at the beach in Lisbon last summer" reads as a person filter (Alice), a place filter
(Lisbon), a date range (last summer) and the text "at the beach", which is what the
visual/textual/keyword search then looks for. Each piece that was taken out becomes a
`Chip`: the window shows chips above the results (removable: removing one searches again
with its words kept as plain text), the CLI prints them on stderr and in `--json`, and Ask
reads questions through the same `understand()`.

Readers are small functions in `READERS`, tried in order; each finds the words it
recognises in the text that is left, and returns the narrowed text, the filter fields it
sets and its chips. A reader must never take words it is unsure of: "Paris Hilton", "may I
see", "March of the penguins" stay text. Adding a reader = one function + one entry here +
a table of phrases in its test.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Sequence

from imgrag_desktop.search.dates import read_dates
from imgrag_desktop.search.filters import Filters
from imgrag_desktop.search.kinds import read_filler, read_kinds
from imgrag_desktop.search.media_reader import read_media, read_metadata
from imgrag_desktop.search.place_reader import read_places
from imgrag_desktop.search.query import ParsedQuery, read_terms
from imgrag_desktop.search.reading import Chip, Found, ReadContext, Reader, Reading

__all__ = ["READERS", "Chip", "Found", "ReadContext", "Reader", "Reading", "understand"]


def read_people(text: str, filters: Filters, context: ReadContext) -> Found | None:
    """Known people's names (any case, "Alice's" too) become person filters: "Alice and Bob"
    (photos with both), "-Bob" (photos without him). Words that name nobody stay text, and so
    does anything inside quotes."""
    import re

    if context.people is None or context.person_photos is None or not text:
        return None
    names = sorted({n for n in context.people() if n and n.strip()}, key=lambda n: (-len(n), n))
    if not names:
        return None
    quoted = [(m.start(), m.end()) for m in re.finditer(r'"[^"]*"', text)]
    alt = "|".join(re.escape(n) for n in names)
    pattern = re.compile(rf"(?<![\w-])(-?)({alt})(?:'s|’s)?(?![\w])", re.IGNORECASE)
    found: list[tuple[int, int, str, bool]] = []
    for m in pattern.finditer(text):
        if any(a <= m.start() < b for a, b in quoted):
            continue
        name = next(n for n in names if n.lower() == m.group(2).lower())
        found.append((m.start(), m.end(), name, bool(m.group(1))))
    if not found:
        return None
    people: list[Any] = list(filters.people)
    from imgrag_desktop.search.filters import PersonFilter

    for _s, _e, name, exclude in found:
        people.append(PersonFilter(name, frozenset(context.person_photos(name)), exclude))
    # the words taken: the names, and an "and"/"with"/"&" that only joined two of them
    spans = [(s, e) for s, e, _n, _x in found]
    for (_, e1), (s2, _) in zip(spans, spans[1:]):
        if re.fullmatch(r"\s*(?:and|&|with|,)\s*", text[e1:s2], re.IGNORECASE):
            spans.append((e1, s2))
    spans.sort()
    rest, last = [], 0
    for s, e in spans:
        rest.append(text[last:s])
        last = max(last, e)
    rest.append(text[last:])
    words = " ".join(text[s:e] for s, e in spans)
    inc = [n for _s, _e, n, x in found if not x]
    exc = [n for _s, _e, n, x in found if x]
    label = "👤 " + " and ".join(inc) + ((", not " if inc else "not ") + ", ".join(exc) if exc else "")
    chip = Chip("person", label, " ".join(words.split()), {"people": tuple(people)})
    return Found(" ".join("".join(rest).split()), {"people": tuple(people)}, [chip])


# (name, reader) in the order they are tried; each one sees the text the earlier ones left.
READERS: tuple[tuple[str, Reader], ...] = (
    ("metadata", read_metadata),  # tag:holiday, #holiday, rated 4, 4 stars (what people wrote: XMP/IPTC)
    ("media", read_media),  # videos, raw photos, live photos
    ("people", read_people),  # known people's names: Alice, "-Bob"
    ("kind", read_kinds),  # screenshot, receipt, document
    ("date", read_dates),  # yesterday, on Tuesday, July 2023, summer 2022, between May and June
    ("place", read_places),  # in Lisbon, in Japan
    ("filler", read_filler),  # "photos", "show me": nothing to look for once filters were read
)


def understand(text: str | None, filters: Filters | None = None, context: ReadContext | None = None,
               readers: Sequence[tuple[str, Reader]] | None = None) -> Reading:
    """Read `text` into filters (on top of `filters`, which the user set in the filter bar) and
    the text that is left. Quoted phrases are never read: "quotes" force literal text."""
    filters = filters or Filters()
    context = context or ReadContext()
    quoted: list[str] = []

    def hide(m: re.Match[str]) -> str:
        quoted.append(m.group(0))
        return f"\x00{len(quoted) - 1}\x00"

    rest = " ".join(_QUOTED.sub(hide, text or "").split())
    chips: list[Chip] = []
    for _name, reader in READERS if readers is None else readers:
        found = reader(rest, filters, context)
        if found is None:
            continue
        rest = " ".join(found.text.split())
        filters = dataclasses.replace(filters, **found.fields)
        chips.extend(found.chips)
    rest = re.sub("\x00(\\d+)\x00", lambda m: quoted[int(m.group(1))], rest)
    if not rest and not chips:  # only filler words ("photo"), and no filter read: search for them
        rest = " ".join((text or "").split())
    chips.extend(operator_chips(read_terms(rest)))  # "-word", "word:2", "quotes": kept in the text
    return Reading(text or "", rest, filters, chips)


_QUOTED = re.compile(r'"[^"]*"')


def known_places(store: object) -> list[tuple[str, str, str, str]]:
    """The (city, region, country, country code) the library holds: what the place reader
    looks typed names up in first."""
    images = getattr(store, "images", None)
    if images is None or "city" not in images.schema.names:
        return []
    tbl = store.query("country IS NOT NULL", ["city", "region", "country", "country_code"])  # type: ignore[attr-defined]
    return sorted({(r["city"] or "", r["region"] or "", r["country"] or "", r["country_code"] or "")
                   for r in tbl.to_pylist()})


def operator_chips(parsed: ParsedQuery) -> list[Chip]:
    """A query's operators as chips of kind "operator" (no filter fields: the searcher reads
    the operators from the text); a chip's words are the piece of the query it was read from."""
    return [Chip("operator", p.reading(), p.source) for p in parsed.operators]
