"""An index written by an older release opens in this one, upgraded in place, rows kept."""

import lancedb
import numpy as np
import pyarrow as pa

from imgrag_desktop.store import META_KEY, SCHEMA_VERSION, Store
from imgrag_desktop.store.schema import IMAGES, images_schema, table_version


def _older_table(db_dir, dropped=("caption_model", "indexed_at"), version=0):
    """An images table as an older release wrote it: some of today's columns missing."""
    full = images_schema(8)
    fields = [f for f in full if f.name not in dropped]
    schema = pa.schema(fields, metadata={META_KEY: str(version).encode()} if version else None)
    rows = {f.name: [None, None] for f in fields}
    rows.update(path=["/f/a.jpg", "/f/b.jpg"], name=["a.jpg", "b.jpg"], kind=["photo", "screenshot"],
                visual=[np.eye(8, dtype=np.float32)[0].tolist(), np.eye(8, dtype=np.float32)[1].tolist()],
                ocr_status=["done", "done"], ocr_text=["hello", "world"])
    lancedb.connect(str(db_dir)).create_table(IMAGES, data=pa.table(rows, schema=schema), on_bad_vectors="null")


def test_older_table_gains_the_missing_columns_and_keeps_its_rows(tmp_path):
    _older_table(tmp_path / "db")
    s = Store(tmp_path / "db")
    table = s.images
    assert {"caption_model", "indexed_at"} <= set(table.schema.names)
    assert table_version(table) == SCHEMA_VERSION
    rows = s.rows(["/f/a.jpg", "/f/b.jpg"])
    assert rows["/f/a.jpg"]["ocr_text"] == "hello" and rows["/f/b.jpg"]["kind"] == "screenshot"
    assert rows["/f/a.jpg"]["caption_model"] is None
    assert np.allclose(rows["/f/b.jpg"]["visual"], np.eye(8)[1])  # vectors untouched, nothing re-embedded
    # the new columns are written like any other
    s.update_rows({"/f/a.jpg": {"caption_model": "m", "indexed_at": 5.0}})
    assert s.rows(["/f/a.jpg"])["/f/a.jpg"]["caption_model"] == "m"
    # and a second opening finds nothing left to do
    again = Store(tmp_path / "db")
    before = again.images.version
    assert again.images.version == before and again.count() == 2


def test_current_table_is_opened_without_a_write(tmp_path):
    s = Store(tmp_path / "db")
    s.upsert([{"path": "/f/a.jpg", "visual": np.eye(8, dtype=np.float32)[0], "ocr_status": "done"}])
    version = s.images.version
    reopened = Store(tmp_path / "db")
    assert reopened.images.version == version and reopened.count() == 1
