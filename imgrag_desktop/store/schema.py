"""What the index looks like on disk: table names, column schemas, and the schema version.

The version is written into every table's schema metadata; a table written by a newer
version is refused (SchemaTooNew) rather than misread, and never dropped by a rebuild, so
the user can still go back to the release that wrote it.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import pyarrow as pa

from imgrag_desktop.types import ImgragError

SCHEMA_VERSION = 3  # 2: OCR engine, places, local time; 3: tags and media (XMP, RAW, video) columns. Added as nulls by upgrade_in_place
IMAGES = "images"
FAILURES = "failures"
META_KEY = b"imgrag.schema_version"
DEFAULT_TEXT_DIM = 384
# Columns that are cheap to keep in memory next to a vector matrix (for hits and filters).
LIGHT_COLUMNS = ["path", "folder", "size", "mtime_ns", "width", "height", "taken_at", "date", "kind", "content_hash",
                 "media", "time_s", "duration_s", "rating", "label"]


class SchemaTooNew(ImgragError):
    """The index was written by a newer version: refuse to read it, and never drop it."""


def images_schema(visual_dim: int, text_dim: int = DEFAULT_TEXT_DIM) -> pa.Schema:
    fields = [
        pa.field("path", pa.string(), nullable=False),
        pa.field("folder", pa.string()),
        pa.field("name", pa.string()),
        pa.field("size", pa.int64()),
        pa.field("mtime_ns", pa.int64()),
        pa.field("content_hash", pa.string()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("taken_at", pa.float64()),  # EXIF capture time, epoch seconds
        pa.field("date", pa.float64()),  # taken_at, else the file's mtime: what date filters use
        pa.field("camera", pa.string()),
        pa.field("kind", pa.string()),  # photo | screenshot | document
        pa.field("clip_model", pa.string()),
        pa.field("visual", pa.list_(pa.float32(), visual_dim)),
        pa.field("text_model", pa.string()),
        pa.field("textual", pa.list_(pa.float32(), text_dim)),  # null until OCR/caption text is embedded
        pa.field("ocr_status", pa.string()),  # pending | done | skipped | failed
        pa.field("ocr_text", pa.string()),
        pa.field("ocr_words", pa.string()),  # JSON list of {text, x, y, w, h, conf}, pixel boxes
        pa.field("ocr_engine", pa.string()),  # engine and version that read ocr_text (null: before engines were recorded)
        pa.field("caption_status", pa.string()),  # pending | done | skipped | failed
        pa.field("caption", pa.string()),
        pa.field("caption_model", pa.string()),
        pa.field("search_text", pa.string()),  # name + OCR + caption: what the keyword index reads
        pa.field("error", pa.string()),  # last non-fatal error of a later stage (OCR, caption)
        pa.field("indexed_at", pa.float64()),
        # places and time (indexing/places_stage.py); all null until that stage has read the file
        pa.field("place_status", pa.string()),  # done | none (no GPS) | null: not read yet
        pa.field("lat", pa.float64()),
        pa.field("lon", pa.float64()),
        pa.field("city", pa.string()),  # the town people would name, within 25 km (search/places.py)
        pa.field("region", pa.string()),
        pa.field("country", pa.string()),
        pa.field("country_code", pa.string()),
        pa.field("place_words", pa.string()),  # the place's names for search_text (Lisbon Portugal Lisboa …)
        pa.field("local_time", pa.float64()),  # wall clock where it was taken, as a naive (UTC-read) epoch
        pa.field("utc_offset", pa.int32()),  # minutes, when known
        pa.field("time_zone", pa.string()),  # IANA zone, when the GPS position gave it
        pa.field("date_source", pa.string()),  # exif offset | gps time zone | camera clock | file time
        # what people wrote (indexing/sidecars.py, indexing/meta_stage.py): XMP sidecars, embedded XMP/IPTC
        pa.field("meta_status", pa.string()),  # done | none | null: not read yet (or a sidecar changed)
        pa.field("meta_sig", pa.string()),  # the sidecars' names, sizes and mtimes when last read
        pa.field("tags", pa.string()),  # "|a|b|Places/Lisbon|Places|Lisbon|": keywords, paths and their levels
        pa.field("title", pa.string()),
        pa.field("description", pa.string()),
        pa.field("rating", pa.int32()),  # -1 (rejected) .. 5
        pa.field("label", pa.string()),  # colour label
        pa.field("people_regions", pa.string()),  # JSON [{name, type, x, y, w, h}] from MWG/MP regions
        pa.field("meta_words", pa.string()),  # title, description, tags, names: added to search_text
        # media (indexing/media.py): RAW, video, Live/Motion Photos
        pa.field("media", pa.string()),  # photo | raw | video | live (null: a photo indexed before)
        pa.field("files", pa.string()),  # JSON list of every file of this item (RAW+JPEG, still+video)
        pa.field("duration_s", pa.float64()),  # videos (and a Live Photo's clip)
        pa.field("time_s", pa.float64()),  # a video: the moment whose frame gave the visual vector
        pa.field("frames", pa.int32()),  # a video: frames kept (side table video_frames)
    ]
    return pa.schema(fields, metadata={META_KEY: str(SCHEMA_VERSION).encode()})


def failures_schema() -> pa.Schema:
    return pa.schema(
        [
            pa.field("path", pa.string(), nullable=False),
            pa.field("folder", pa.string()),
            pa.field("size", pa.int64()),
            pa.field("mtime_ns", pa.int64()),
            pa.field("stage", pa.string()),
            pa.field("reason", pa.string()),
            pa.field("at", pa.float64()),
        ],
        metadata={META_KEY: str(SCHEMA_VERSION).encode()},
    )


def compose_search_text(name: str, ocr_text: str | None, caption: str | None) -> str:
    """What the keyword index and the textual vector read: file name words, OCR text, caption.

    Whoever changes a row's OCR text or caption recomputes this and sets `textual` to null;
    the text stage then embeds every row whose `textual` is null.
    """
    stem = os.path.splitext(name or "")[0]
    words = " ".join(stem.replace("_", " ").replace("-", " ").replace(".", " ").split())
    parts = [p.strip() for p in (words, caption or "", ocr_text or "") if p and p.strip()]
    return "\n".join(parts)


def table_version(table: Any) -> int:
    """The schema version a table was written with (0: before versions were recorded)."""
    raw = (table.schema.metadata or {}).get(META_KEY)
    return int(raw) if raw else 0


def missing_fields(table: Any, wanted: pa.Schema) -> list[pa.Field]:
    """The columns of `wanted` that an older table lacks, in schema order."""
    have = set(table.schema.names)
    return [f for f in wanted if f.name not in have]


# The upgrade path, one step per released schema version: MIGRATIONS[n] takes a table of
# version n to n + 1 for what adding null columns cannot do (a rename, a type change, a
# backfill). Each step must be idempotent: the version is stamped after each one, so an upgrade
# cut short (a kill, a full disk) resumes at the step it was in. Adding columns needs no step.
# Released: 0 (no version recorded) and 1 (ea88cf3; tests/data/release-ea88cf3 holds one); 2 adds
# the OCR engine, places and local-time columns, which need no step.
MIGRATIONS: dict[int, Callable[[Any], None]] = {}


def _stamp(table: Any, version: int) -> None:
    table.to_lance().update_schema_metadata({META_KEY.decode(): str(version)})
    table.checkout_latest()


def upgrade_in_place(table: Any, wanted: pa.Schema) -> bool:
    """Bring a table written by an older release up to `wanted`, keeping every row.

    An upgrade only ever adds columns, all null, so nothing is re-embedded or re-read that
    need not be: the later stage that fills a new column finds its rows null (or its status
    column null, which reads as pending) and does the work in the background. Columns are
    added in one Lance transaction, then the version is stamped. Returns whether anything
    changed. Renames or type changes would need a step of their own here.
    """
    missing = missing_fields(table, wanted)
    stale = table_version(table) < SCHEMA_VERSION
    if not missing and not stale:
        return False
    if missing:
        table.add_columns(missing)
    for version in range(table_version(table), SCHEMA_VERSION):
        step = MIGRATIONS.get(version)
        if step is not None:
            step(table)
            _stamp(table, version + 1)
    _stamp(table, SCHEMA_VERSION)
    return True


def check_version(table: Any) -> None:
    """Refuse a table written by a newer schema; older ones (and unversioned: 0) read as they are."""
    version = table_version(table)
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"the index was written by a newer imgrag-desktop (schema {version}, this one reads {SCHEMA_VERSION}); "
            "upgrade the app, or use another data dir"
        )


# What a search hit shows and what folding near-duplicates compares (Searcher.hit_rows): the
# light columns come from the searcher's memory, the rest (HIT_TEXT_COLUMNS) from LanceDB,
# where a look-up costs ~0.5 ms per column for 30 hits in 1M rows.
MEDIA_HIT_COLUMNS = ["media", "files", "time_s", "duration_s", "tags", "title", "description", "rating", "label"]
HIT_COLUMNS = ["path", "name", "size", "width", "height", "mtime_ns", "taken_at", "kind", "ocr_text", "caption",
               "ocr_words", "content_hash", "clip_model", *MEDIA_HIT_COLUMNS]
HIT_TEXT_COLUMNS = ["path", "name", "ocr_text", "caption", "ocr_words", "clip_model", "files", "tags", "title",
                    "description"]
# What a hit shows (Hit.from_row) and near-duplicate folding compares, beyond the light columns:
# a visual query reads only these from LanceDB (each column costs ~1 ms for 10 hits in 1M rows).
HIT_SHOW_COLUMNS = ["path", "ocr_text", "caption", "files", "tags", "title", "description"]
# Columns a visual search holds in memory (Store.vectors): a write that touches none of them
# (OCR text, captions, text vectors) leaves the loaded vectors valid (Store.visual_token).
VISUAL_SIDE = frozenset([*LIGHT_COLUMNS, "visual", "clip_model"])
