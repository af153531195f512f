"""The store package's face: callers import from `imgrag_desktop.store`, whatever module holds a name."""

from __future__ import annotations

from pathlib import Path

import imgrag_desktop.store as store
from imgrag_desktop.store import images, lock, schema, sql


def test_every_public_name_resolves_from_the_package() -> None:
    missing = [n for n in store.__all__ if not hasattr(store, n)]
    assert not missing
    assert store.Store is images.Store and store.writer is lock.writer
    assert store.images_schema is schema.images_schema and store.sql_in is sql.sql_in


def test_no_store_module_grows_past_500_lines() -> None:
    for path in Path(store.__file__).parent.glob("*.py"):
        assert len(path.read_text("utf-8").splitlines()) <= 500, path.name


def test_the_schema_carries_its_version() -> None:
    s = store.images_schema(8)
    assert s.metadata[store.META_KEY] == str(store.SCHEMA_VERSION).encode()
    assert s.field("visual").type.list_size == 8 and s.field("textual").type.list_size == store.DEFAULT_TEXT_DIM
