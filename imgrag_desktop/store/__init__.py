"""The LanceDB index: schema and versions, filter helpers, the writer lock and the tables.

Callers import from here; the modules split it by concern (schema, sql, lock, images,
sidetables), so that what is on disk (schema) can be read apart from how it is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Light parts load at once; the ones that need numpy/pyarrow load when first named, so the
# window (which takes the writer lock) starts without them.
from imgrag_desktop.store.lock import WriterLock, writer
from imgrag_desktop.store.sql import IN_CHUNK, folder_filter, sql_in, sql_str

_LAZY = {
    **dict.fromkeys(["damaged", "looks_damaged"], "errors"),
    **dict.fromkeys(["OLD_VERSIONS_KEPT_MIN", "Store"], "images"),
    **dict.fromkeys(["HIT_CACHE_ROWS", "ROWID"], "rowids"),
    **dict.fromkeys(["DEFAULT_TEXT_DIM", "FAILURES", "HIT_COLUMNS", "HIT_SHOW_COLUMNS", "HIT_TEXT_COLUMNS", "IMAGES",
                     "LIGHT_COLUMNS", "META_KEY", "SCHEMA_VERSION", "VISUAL_SIDE", "SchemaTooNew", "check_version",
                     "compose_search_text", "failures_schema", "images_schema"], "schema"),
}

if TYPE_CHECKING:  # what type checkers see: the same names, imported at once
    from imgrag_desktop.store.errors import damaged, looks_damaged
    from imgrag_desktop.store.images import OLD_VERSIONS_KEPT_MIN, Store
    from imgrag_desktop.store.rowids import HIT_CACHE_ROWS, ROWID
    from imgrag_desktop.store.schema import (
        DEFAULT_TEXT_DIM,
        FAILURES,
        HIT_COLUMNS,
        HIT_SHOW_COLUMNS,
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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_TEXT_DIM", "FAILURES", "HIT_CACHE_ROWS", "HIT_COLUMNS", "HIT_SHOW_COLUMNS", "HIT_TEXT_COLUMNS", "IMAGES", "IN_CHUNK",
    "LIGHT_COLUMNS", "META_KEY", "OLD_VERSIONS_KEPT_MIN", "ROWID", "SCHEMA_VERSION", "VISUAL_SIDE", "SchemaTooNew", "Store",
    "WriterLock", "check_version", "compose_search_text", "damaged", "failures_schema", "folder_filter",
    "images_schema", "looks_damaged", "sql_in", "sql_str", "writer",
]
