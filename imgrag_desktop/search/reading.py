"""The plain types of a query's reading (search/understand.py): a chip, a reading, what a
reader may know, and what it found. Kept apart so readers import them without a cycle."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

from imgrag_desktop.search.filters import Filters


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
            from imgrag_desktop.search.query import as_text

            return Reading(self.original, " ".join(self.text.replace(chip.words, as_text(chip.words), 1).split()),
                           self.filters, [c for c in self.chips if c is not chip])
        reset = {name: getattr(base, name) for name in chip.fields}
        chips = [c for c in self.chips if c is not chip]
        return Reading(self.original, " ".join(f"{self.text} {chip.words}".split()),
                       dataclasses.replace(self.filters, **reset), chips)

    def as_json(self) -> dict[str, Any]:
        """What was read: the text left, the chips, and the filters they set (dates also as
        ISO days: `date_from`, `date_to` exclusive, in the photos' own local time)."""
        fields: dict[str, Any] = {}
        for c in self.chips:
            fields.update(_plain(c.fields))
        for key, name in (("local_from", "date_from"), ("local_to", "date_to")):
            if fields.get(key) is not None:
                fields[name] = datetime.fromtimestamp(fields[key], timezone.utc).strftime("%Y-%m-%d")
        return {"text": self.text, "only_filters": self.only_filters, "filters": fields,
                "chips": [{"kind": c.kind, "label": c.label, "words": c.words, "fields": _plain(c.fields)}
                          for c in self.chips]}

    def explain(self) -> str:
        """One line: the chips and the text left ("📍 Lisbon · 📅 Jun–Aug 2025 · text: beach")."""
        parts = [c.label for c in self.chips]
        parts.append(f"text: {self.text!r}" if self.text else "nothing else: listed by date")
        return " · ".join(parts)


@dataclass(frozen=True)
class ReadContext:
    """What readers may know besides the words: the present (for "yesterday") and the names
    the library knows (people, places), each a callable so nothing is loaded that no reader
    needs."""

    now: datetime = field(default_factory=lambda: datetime.now().astimezone())
    people: Callable[[], Sequence[str]] | None = None
    person_photos: Callable[[str], set[str]] | None = None  # a person's name -> content hashes of their photos
    places: Callable[[], Sequence[tuple[str, str, str, str]]] | None = None  # (city, region, country, code)
    # What the library holds, asked only when a query has a word that could be a filter or text
    # ("#1", "4 stars hotel", "movie poster"): has_tag("holiday"), has_media("video"), has_ratings().
    # Without them those words stay text; explicit forms (tag:holiday, rated 4, ★★★) are read anyway.
    has_tag: Callable[[str], bool] | None = None
    has_media: Callable[[str], bool] | None = None
    has_ratings: Callable[[], bool] | None = None


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
