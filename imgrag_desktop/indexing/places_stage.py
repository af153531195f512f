"""The places-and-time stage: for every row not read yet (`place_status` null: new, changed, or
from an index older than these columns), read the file's GPS and capture time
(indexing/photometa.py), name the place (search/places.py, offline), and put the photo's own
local time in the index. Batches of rows, resumable (the status is in the row), stops on cancel.

Its second entry, `place_words`, runs just before the text stage: whoever rewrites a row's
search_text (OCR, captions, a rename) composes it from name, OCR text and caption only, and
clears the textual vector; the place's names are then added back before the text is embedded
and the keyword index refreshed, so "Lisbon" keeps finding Lisbon photos.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from imgrag_desktop.indexing.photometa import read_meta, when
from imgrag_desktop.search.places import geocoder, valid_position, zone_at
from imgrag_desktop.types import Progress, tell

BATCH = 256
PENDING = "place_status IS NULL"
COLUMNS = ["path", "mtime_ns", "taken_at", "search_text"]


@dataclass
class PlacesReport:
    read: int = 0
    with_gps: int = 0
    named: int = 0
    seconds: float = 0.0
    geocode_seconds: float = 0.0
    cancelled: bool = False
    unreadable: int = 0  # files that could not be opened now (offline folder): read on a later run
    sources: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"read": self.read, "with_gps": self.with_gps, "named": self.named, "seconds": round(self.seconds, 3),
                "geocode_seconds": round(self.geocode_seconds, 4), "cancelled": self.cancelled,
                "unreadable": self.unreadable, "date_sources": dict(sorted(self.sources.items()))}


def with_place_words(search_text: str | None, words: str | None) -> str:
    text = search_text or ""
    if not words or words in text:
        return text
    return f"{text}\n{words}" if text else words


def place_row(path: str, mtime: float) -> dict[str, Any] | None:
    """The places-and-time columns of one file (without its search_text); None when the file
    cannot be read now (an offline folder): its row waits for the next run."""
    if not os.access(path, os.R_OK):
        return None
    meta = read_meta(path)
    has_gps = valid_position(meta.lat, meta.lon)
    zone = None
    if has_gps and meta.lat is not None and meta.lon is not None and meta.wall is not None \
            and meta.offset_minutes is None:
        zone = zone_at(meta.lat, meta.lon)
    w = when(meta, mtime, zone)
    row: dict[str, Any] = {
        "place_status": "done" if has_gps else "none",
        "lat": meta.lat if has_gps else None, "lon": meta.lon if has_gps else None,
        "city": None, "region": None, "country": None, "country_code": None, "place_words": None,
        "local_time": w.local, "utc_offset": w.offset_minutes, "time_zone": w.zone or None, "date_source": w.source,
    }
    if w.instant is not None:
        row["taken_at"] = w.instant
        row["date"] = w.instant
    return row


class PlacesStage:
    def __init__(self, store: Any, on_progress: Callable[[Progress], None] | None = None) -> None:
        self.store = store
        self.on_progress = on_progress

    def pending(self) -> list[tuple[str, int]]:
        if self.store.images is None or "place_status" not in self.store.images.schema.names:
            return []
        tbl = self.store.query(PENDING, ["path", "mtime_ns"])
        return list(zip(tbl.column("path").to_pylist(), tbl.column("mtime_ns").to_pylist()))

    def run(self, cancel: threading.Event | None = None) -> PlacesReport:
        cancel = cancel or threading.Event()
        report = PlacesReport()
        t0 = time.perf_counter()
        todo = self.pending()
        if todo:
            tell(self.on_progress, Progress("places", 0, len(todo)))
        for i in range(0, len(todo), BATCH):
            if cancel.is_set():
                report.cancelled = True
                break
            chunk = todo[i:i + BATCH]
            read = {p: place_row(p, (m or 0) / 1e9) for p, m in chunk}
            changes = {p: r for p, r in read.items() if r is not None}
            report.unreadable += len(read) - len(changes)
            gps = [p for p, r in changes.items() if r["lat"] is not None]
            if gps:
                g0 = time.perf_counter()
                named = geocoder().places([(changes[p]["lat"], changes[p]["lon"]) for p in gps])
                report.geocode_seconds += time.perf_counter() - g0
                current = self.store.rows(gps, ["path", "search_text"])
                for p, place in zip(gps, named):
                    if place is None:
                        continue
                    words = place.words()
                    changes[p].update(city=place.city, region=place.region or None, country=place.country,
                                      country_code=place.country_code, place_words=words)
                    text = with_place_words(current.get(p, {}).get("search_text"), words)
                    if text != current.get(p, {}).get("search_text"):
                        changes[p].update(search_text=text, textual=None)
                    report.named += 1
            report.with_gps += len(gps)
            for r in changes.values():
                report.sources[r["date_source"]] = report.sources.get(r["date_source"], 0) + 1
            self.store.update_rows(changes)
            report.read += len(changes)
            tell(self.on_progress, Progress("places", report.read, len(todo)))
        report.seconds = time.perf_counter() - t0
        return report


def restore_place_words(store: Any) -> int:
    """Put the place's names back into search_text where a rewrite dropped them (rows whose
    text vector was cleared are the only ones that can have been rewritten)."""
    return restore_words(store, "place_words")


def restore_words(store: Any, column: str) -> int:
    """Put the words a stage keeps in `column` (place names, tags) back into search_text where
    a rewrite of search_text dropped them; the rows changed."""
    if store.images is None or column not in store.images.schema.names:
        return 0
    tbl = store.query(f"{column} IS NOT NULL AND {column} != '' AND textual IS NULL", ["path", "search_text", column])
    changes = {}
    for r in tbl.to_pylist():
        text = with_place_words(r.get("search_text"), r[column])
        if text != (r.get("search_text") or ""):
            changes[r["path"]] = {"search_text": text}
    if changes:
        store.update_rows(changes)
    return len(changes)
