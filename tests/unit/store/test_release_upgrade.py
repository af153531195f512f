"""An index written by a released version (tests/data/release-ea88cf3, made by commit ea88cf3)
opens in this one, upgraded in place: every row and vector kept, nothing re-embedded, every
column of today's schema present; an upgrade cut short finishes at the next start; an index
from a newer release is refused, read only, by every command that would touch it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import lance
import numpy as np

from imgrag_desktop.store import SCHEMA_VERSION, Store
from imgrag_desktop.store.schema import META_KEY, images_schema, table_version
from tests.conftest import COCO, run_cli

RELEASE = Path(__file__).resolve().parents[2] / "data" / "release-ea88cf3"
PHOTOS = ["000000000139.jpg", "000000000802.jpg", "000000011813.jpg"]
RECORDED_DIR = Path("/tmp/i18fx/photos")  # where the photos lay when the release indexed them


def _release_copy(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copytree(RELEASE / "index.lancedb", data / "index.lancedb")
    return data


def _raw(data: Path) -> dict[str, dict]:
    tbl = lance.dataset(str(data / "index.lancedb" / "images.lance")).to_table()
    return {r["path"]: r for r in tbl.to_pylist()}


def test_the_release_index_opens_upgraded_with_every_row_and_vector_kept(tmp_path: Path) -> None:
    data = _release_copy(tmp_path)
    before = _raw(data)
    assert len(before) == 3 and table_version(lance.dataset(str(data / "index.lancedb" / "images.lance"))) == 1
    store = Store(data / "index.lancedb")
    table = store.images
    assert table_version(table) == SCHEMA_VERSION
    assert {f.name for f in images_schema(len(next(iter(before.values()))["visual"]))} <= set(table.schema.names)
    after = store.rows(list(before))
    for path, old in before.items():
        new = after[path]
        assert np.array_equal(np.asarray(new["visual"], np.float32), np.asarray(old["visual"], np.float32))
        assert np.array_equal(np.asarray(new["textual"], np.float32), np.asarray(old["textual"], np.float32))
        for col in ("content_hash", "clip_model", "text_model", "size", "mtime_ns", "ocr_status", "search_text"):
            assert new[col] == old[col], col


def test_after_the_upgrade_indexing_the_same_photos_embeds_nothing(tmp_path: Path) -> None:
    data = _release_copy(tmp_path)
    RECORDED_DIR.mkdir(parents=True, exist_ok=True)
    for name in PHOTOS:
        src = next(COCO.rglob(name))
        if not (RECORDED_DIR / name).exists():
            shutil.copy2(src, RECORDED_DIR / name)  # copy2 keeps the mtime the release recorded
    out = json.loads(run_cli("index", str(RECORDED_DIR), "--json", "--quiet", "--no-remember", data_dir=data).stdout)
    assert out["unchanged"] == 3 and out["added"] == 0 and out["updated"] == 0 and out["embedded"] == 0
    assert json.loads(run_cli("check", "--json", data_dir=data).stdout)["ok"]


def test_an_upgrade_cut_short_finishes_at_the_next_start(tmp_path: Path) -> None:
    data = _release_copy(tmp_path)
    ds = lance.dataset(str(data / "index.lancedb" / "images.lance"))
    # An older layout (two of today's columns missing, no version), half upgraded: one column
    # added back, the version not yet stamped, as a kill between the steps leaves it.
    ds.drop_columns(["caption_model", "indexed_at"])
    ds = lance.dataset(str(data / "index.lancedb" / "images.lance"))
    ds.replace_schema_metadata({})
    ds = lance.dataset(str(data / "index.lancedb" / "images.lance"))
    import pyarrow as pa

    ds.add_columns(pa.schema([pa.field("caption_model", pa.string())]))
    store = Store(data / "index.lancedb")
    assert {"caption_model", "indexed_at"} <= set(store.images.schema.names)
    assert table_version(store.images) == SCHEMA_VERSION and store.count() == 3


def test_an_index_from_a_newer_release_is_refused_and_left_alone(tmp_path: Path) -> None:
    data = _release_copy(tmp_path)
    uri = data / "index.lancedb" / "images.lance"
    lance.dataset(str(uri)).update_schema_metadata({META_KEY.decode(): str(SCHEMA_VERSION + 1)})
    version = lance.dataset(str(uri)).version
    for cmd in (["status"], ["check"], ["repair", "--quiet"], ["search", "a dog"]):
        proc = run_cli(*cmd, data_dir=data, check=False)
        assert proc.returncode != 0, cmd
        assert "newer" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, (cmd, proc.stderr)
    assert lance.dataset(str(uri)).version == version  # nothing written
