"""The LanceDB index: schema and versions, filter helpers, the writer lock and the tables.

Callers import from here; the modules split it by concern (schema, sql, lock, images,
sidetables), so that what is on disk (schema) can be read apart from how it is written.
"""

from __future__ import annotations

from imgrag_desktop.store.errors import damaged, looks_damaged
from imgrag_desktop.store.images import HIT_CACHE_ROWS, OLD_VERSIONS_KEPT_MIN, Store
from imgrag_desktop.store.lock import WriterLock, writer
from imgrag_desktop.store.schema import (
    DEFAULT_TEXT_DIM,
    FAILURES,
    HIT_COLUMNS,
    HIT_TEXT_COLUMNS,
    IMAGES,
    LIGHT_COLUMNS,
    META_KEY,
    SCHEMA_VERSION,
    VISUAL_SIDE,
    SchemaTooNew,
    check_version,
    compose_search_text,
    failures_schema,
    images_schema,
)
from imgrag_desktop.store.sql import IN_CHUNK, folder_filter, sql_in, sql_str

__all__ = [
    "DEFAULT_TEXT_DIM", "FAILURES", "HIT_CACHE_ROWS", "HIT_COLUMNS", "HIT_TEXT_COLUMNS", "IMAGES", "IN_CHUNK",
    "LIGHT_COLUMNS", "META_KEY", "OLD_VERSIONS_KEPT_MIN", "SCHEMA_VERSION", "VISUAL_SIDE", "SchemaTooNew", "Store",
    "WriterLock", "check_version", "compose_search_text", "damaged", "failures_schema", "folder_filter",
    "images_schema", "looks_damaged", "sql_in", "sql_str", "writer",
]
