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
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Sequence

from imgrag_desktop.search.filters import Filters
from imgrag_desktop.search.query import ParsedQuery, as_text, read_terms


@dataclass(frozen=True)
class Chip:
    kind: str  # date | place | kind | person | ... (what the window's icon and the CLI's label show)
    label: str  # what the user sees: "📅 Jun–Aug 2025", "📍 Lisbon"
    words: str  # the words of the query it was read from (given back as text when removed)
    fields: dict[str, Any] = field(default_factory=dict)  # the Filters fields it set


@dataclass
class Reading:
    original: str
    text: str  # what is left to search for (may be empty: a query that is only a filter)
    filters: Filters
    chips: list[Chip] = field(default_factory=list)

    @property
    def only_filters(self) -> bool:
        """Nothing left to look for: list the filtered photos (by date) instead of ranking them."""
        return not self.text.strip() and bool(self.chips)

    def without(self, chip: Chip, base: Filters | None = None) -> "Reading":
        """The reading with one chip removed: its filter fields back to `base`'s, its words back
        in the text (where they were, as near as the remaining text allows)."""
        base = base or Filters()
        if chip.kind == "operator":  # its piece stays where it is, now as literal text
            return Reading(self.original, " ".join(self.text.replace(chip.words, as_text(chip.words), 1).split()),
                           self.filters, [c for c in self.chips if c is not chip])
        reset = {name: getattr(base, name) for name in chip.fields}
        chips = [c for c in self.chips if c is not chip]
        return Reading(self.original, " ".join(f"{self.text} {chip.words}".split()),
                       dataclasses.replace(self.filters, **reset), chips)

    def as_json(self) -> dict[str, Any]:
        return {"text": self.text, "chips": [{"kind": c.kind, "label": c.label, "words": c.words,
                                              "fields": c.fields} for c in self.chips]}


@dataclass(frozen=True)
class ReadContext:
    """What readers may know besides the words: the present (for "yesterday") and the names
    the library knows (people, places), each a callable so nothing is loaded that no reader
    needs."""

    now: datetime = field(default_factory=lambda: datetime.now().astimezone())
    people: Callable[[], Sequence[str]] | None = None
    places: Callable[[], Sequence[str]] | None = None


@dataclass
class Found:
    """One reader's result: the text without the words it took, and what it read from them."""

    text: str
    fields: dict[str, Any]
    chips: list[Chip]


Reader = Callable[[str, Filters, ReadContext], Found | None]

# (name, reader) in the order they are tried; each one sees the text the earlier ones left.
READERS: tuple[tuple[str, Reader], ...] = ()


def understand(text: str | None, filters: Filters | None = None, context: ReadContext | None = None,
               readers: Sequence[tuple[str, Reader]] | None = None) -> Reading:
    """Read `text` into filters (on top of `filters`, which the user set in the filter bar) and
    the text that is left. Quoted phrases are never read: "quotes" force literal text."""
    filters = filters or Filters()
    context = context or ReadContext()
    rest = " ".join((text or "").split())
    chips: list[Chip] = []
    for _name, reader in READERS if readers is None else readers:
        found = reader(rest, filters, context)
        if found is None:
            continue
        rest = " ".join(found.text.split())
        filters = dataclasses.replace(filters, **found.fields)
        chips.extend(found.chips)
    chips.extend(operator_chips(read_terms(rest)))  # "-word", "word:2", "quotes": kept in the text
    return Reading(text or "", rest, filters, chips)


def operator_chips(parsed: ParsedQuery) -> list[Chip]:
    """A query's operators as chips of kind "operator" (no filter fields: the searcher reads
    the operators from the text); a chip's words are the piece of the query it was read from."""
    return [Chip("operator", p.reading(), p.source) for p in parsed.operators]
