"""Store.optimize() builds the BTREE index on `path` that hit look-ups use, and rows written
after it are still found (LanceDB scans the fragments the index does not cover yet)."""

import numpy as np
import pytest

from imgrag_desktop.store import Store


def _rows(start: int, n: int) -> list[dict]:
    rng = np.random.default_rng(start)
    return [{"path": f"/lib/img_{i:05d}.jpg", "folder": "/lib", "name": f"img_{i:05d}.jpg", "size": i,
             "mtime_ns": i, "content_hash": f"h{i}", "kind": "photo", "clip_model": "m",
             "visual": rng.standard_normal(8).astype(np.float32), "ocr_status": "skipped",
             "caption_status": "skipped", "caption": f"caption {i}"} for i in range(start, start + n)]


# Store.optimize() prunes old versions at once (cleanup_older_than=0), which LanceDB warns about.
@pytest.mark.filterwarnings("ignore:optimize\\(cleanup_older_than=0\\):UserWarning")
def test_optimize_indexes_paths_and_lookups_stay_right(tmp_path):
    store = Store(tmp_path / "db")
    store.optimize()  # no table yet: nothing to do, no error
    store.upsert(_rows(0, 300))
    store.optimize()
    indexed = [i for i in store.images.list_indices() if "path" in i.columns]
    assert len(indexed) == 1
    store.optimize()  # idempotent
    assert len([i for i in store.images.list_indices() if "path" in i.columns]) == 1
    store.upsert(_rows(300, 50))  # not covered by the index until the next optimize
    store.upsert([{**_rows(10, 1)[0], "caption": "changed"}])
    got = store.rows(["/lib/img_00010.jpg", "/lib/img_00320.jpg", "/lib/missing.jpg"], ["caption"])
    assert got["/lib/img_00010.jpg"]["caption"] == "changed"
    assert got["/lib/img_00320.jpg"]["caption"] == "caption 320"
    assert "/lib/missing.jpg" not in got and store.count() == 350
    store.delete_paths(["/lib/img_00001.jpg"])
    store.optimize()
    assert store.count() == 349 and store.rows(["/lib/img_00001.jpg"]) == {}
