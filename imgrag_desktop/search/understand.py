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
                                              "fields": _plain(c.fields)} for c in self.chips]}


@dataclass(frozen=True)
class ReadContext:
    """What readers may know besides the words: the present (for "yesterday") and the names
    the library knows (people, places), each a callable so nothing is loaded that no reader
    needs."""

    now: datetime = field(default_factory=lambda: datetime.now().astimezone())
    people: Callable[[], Sequence[str]] | None = None
    places: Callable[[], Sequence[str]] | None = None
    person_photos: Callable[[str], set[str]] | None = None  # a person's name -> content hashes of their photos


@dataclass
class Found:
    """One reader's result: the text without the words it took, and what it read from them."""

    text: str
    fields: dict[str, Any]
    chips: list[Chip]


Reader = Callable[[str, Filters, ReadContext], Found | None]


def _plain(fields: dict[str, Any]) -> dict[str, Any]:
    """Chip fields as JSON can hold them (filter objects give their own to_json)."""
    def one(v: Any) -> Any:
        if isinstance(v, (tuple, list)):
            return [one(x) for x in v]
        return v.to_json() if hasattr(v, "to_json") else v
    return {k: one(v) for k, v in fields.items()}


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
    ("people", read_people),
)


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
