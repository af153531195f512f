"""What a user can narrow a search to, and the one place that turns it into a LanceDB filter.

The CLI (its filter options), the window (folder list and filter bar, through
gui.workers.Request) and the automation that drives the window all describe a filter as a
`Filters`; `Filters.where()` writes the SQL, so every filter runs inside the store, for
browsing, text search, look-alikes, duplicates and questions alike.

Kept free of heavy imports: the window builds `Filters` on its thread (store.sql is plain text).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from imgrag_desktop.store.sql import folder_filter, sql_str

ORIENTATIONS = ("landscape", "portrait", "square")


@dataclass(frozen=True)
class PersonFilter:
    """Photos with (or, `exclude`, without) one person: the content hashes of that person's
    photos, resolved when the filter is made (search/people.py), so `where()` stays plain SQL."""

    name: str
    hashes: frozenset[str]
    exclude: bool = False

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "exclude": self.exclude, "photos": len(self.hashes)}

    def sql(self) -> str:
        if not self.hashes:
            return "content_hash IS NOT NULL" if self.exclude else "content_hash IS NULL AND content_hash IS NOT NULL"
        values = ", ".join(sql_str(h) for h in sorted(self.hashes))
        return f"content_hash {'NOT IN' if self.exclude else 'IN'} ({values})"
_SHAPE_SQL = {"landscape": "width > height", "portrait": "height > width", "square": "width = height"}


@dataclass(frozen=True)
class Filters:
    """Every field None (or empty) filters nothing; `date_to` is exclusive (`date < to`)."""

    folder: str | None = None  # an absolute folder: rows in it or below it
    kind: str | None = None  # photo, screenshot, document; comma-separated for several
    date_from: float | None = None  # taken (EXIF), else modified, as a timestamp
    date_to: float | None = None
    min_width: int | None = None
    min_height: int | None = None
    camera: str | None = None  # make or model contains this text, any case
    orientation: str | None = None  # one of ORIENTATIONS
    place: str | None = None  # "city:Lisbon,country:Japan" (comma-separated, any case); a bare name: any level
    local_from: float | None = None  # the photo's own wall clock (naive epoch, see indexing/photometa.py)
    local_to: float | None = None  # exclusive; rows read before the places stage use `date`
    exclude_roots: tuple[str, ...] = ()  # folders left out (offline ones, when the user asks)
    people: tuple[PersonFilter, ...] = ()  # every one must hold (photos of Alice and Bob, without Carol)
    rating: int | None = None  # rated at least this (XMP/IPTC rating, 1-5)
    tag: str | None = None  # a keyword people wrote (a level of a hierarchical one too); comma: any of them
    media: str | None = None  # photo, raw, video, live (comma-separated): what kind of file the item is

    def with_folder(self, folder: str | None) -> "Filters":
        return dataclasses.replace(self, folder=folder or None)

    def active(self) -> bool:
        """Whether anything but the folder is filtered (what the window counts as "filters")."""
        return any(getattr(self, f.name) not in (None, "", 0, ()) for f in dataclasses.fields(self) if f.name != "folder")

    def kinds(self) -> list[str]:
        return [k.strip() for k in (self.kind or "").split(",") if k.strip()]

    def where(self) -> str | None:
        """The LanceDB SQL filter (None when nothing is filtered)."""
        parts = []
        if self.folder:
            parts.append(folder_filter(self.folder))
        if self.kind:
            parts.append("kind IN (" + ", ".join(sql_str(k) for k in self.kinds()) + ")")
        if self.date_from is not None:
            parts.append(f"date >= {float(self.date_from)}")
        if self.date_to is not None:
            parts.append(f"date < {float(self.date_to)}")
        if self.min_width:
            parts.append(f"width >= {int(self.min_width)}")
        if self.min_height:
            parts.append(f"height >= {int(self.min_height)}")
        if self.camera:
            parts.append(f"lower(camera) LIKE {sql_str('%' + self.camera.lower() + '%')}")
        if self.orientation in _SHAPE_SQL:
            parts.append(_SHAPE_SQL[self.orientation])
        if self.place:
            parts.append(_place_sql(self.place))
        if self.local_from is not None:
            parts.append(f"coalesce(local_time, date) >= {float(self.local_from)}")
        if self.local_to is not None:
            parts.append(f"coalesce(local_time, date) < {float(self.local_to)}")
        for root in self.exclude_roots:
            parts.append(f"NOT ({folder_filter(root)})")
        parts.extend(p.sql() for p in self.people)
        if self.rating:
            parts.append(f"rating >= {int(self.rating)}")
        if self.tag:
            tags = [t.strip().lower().replace("|", "/") for t in self.tag.split(",") if t.strip()]
            parts.append(" OR ".join(f"lower(tags) LIKE {sql_str('%|' + _like(t) + '|%')} ESCAPE '\\'" for t in tags)
                         or "FALSE")
        if self.media:
            media = [m.strip().lower() for m in self.media.split(",") if m.strip()]
            parts.append(f"coalesce(media, 'photo') IN ({', '.join(sql_str(m) for m in media)})")
        return and_where(*parts)


def and_where(*clauses: str | None) -> str | None:
    """SQL where-clauses joined by AND (each parenthesised); None when there is none."""
    return " AND ".join(f"({c})" for c in clauses if c) or None


_PLACE_LEVELS = ("city", "region", "country")


def _like(text: str) -> str:
    """A literal for LIKE: its wildcards escaped."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _place_sql(place: str) -> str:
    """"city:Lisbon,country:Japan" → rows in either; a name without a level matches any level."""
    by_level: dict[str, list[str]] = {lv: [] for lv in _PLACE_LEVELS}
    for item in (x.strip() for x in place.split(",")):
        level, _, name = item.partition(":")
        if name and level in _PLACE_LEVELS:
            by_level[level].append(name.strip().lower())
        elif item:
            for lv in _PLACE_LEVELS:
                by_level[lv].append(item.lower())
    ors = [f"lower({lv}) IN ({', '.join(sql_str(n) for n in names)})" for lv, names in by_level.items() if names]
    return " OR ".join(ors) or "FALSE"


def user_folder(folder: str | None) -> str | None:
    """A folder as a user typed it (~, relative, symlinks) → the absolute path the index holds."""
    return str(Path(folder).expanduser().resolve()) if folder else None


def build_filter(folder: str | None = None, kind: str | None = None, date_from: float | None = None,
                 date_to: float | None = None, min_width: int | None = None, min_height: int | None = None,
                 camera: str | None = None, orientation: str | None = None) -> str | None:
    """The SQL filter for user-level options, a typed folder included (Python callers, tests)."""
    return Filters(user_folder(folder), kind, date_from, date_to, min_width, min_height, camera, orientation).where()
