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
from typing import Sequence

from imgrag_desktop.search.dates import read_dates
from imgrag_desktop.search.filters import Filters
from imgrag_desktop.search.kinds import read_filler, read_kinds
from imgrag_desktop.search.place_reader import read_places
from imgrag_desktop.search.reading import Chip, Found, ReadContext, Reader, Reading

__all__ = ["READERS", "Chip", "Found", "ReadContext", "Reader", "Reading", "understand"]

# (name, reader) in the order they are tried; each one sees the text the earlier ones left.
READERS: tuple[tuple[str, Reader], ...] = (
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
