"""A search's hits take their text columns by LanceDB row id (store/rowids.py): the searcher's
snapshot carries each row's id, from a whole load, a patch after a write and the start cache,
and the hits read nothing by path while those ids hold."""

import numpy as np
import pytest

from imgrag_desktop.bench import SyntheticClip
from imgrag_desktop.bench.synthetic import synthetic_store
from imgrag_desktop.search import startcache
from imgrag_desktop.search.hits import hit_rows, snapshot_hits
from imgrag_desktop.search.snapshot import VectorCache
from imgrag_desktop.store import HIT_SHOW_COLUMNS, ROWID, Store

MODEL = "bench-model"
N = 400


@pytest.fixture
def library(tmp_path, monkeypatch):
    monkeypatch.setattr(startcache, "MIN_ROWS", 100)
    gen = SyntheticClip(N, dim=16, seed=2)
    store = synthetic_store(tmp_path / "db", gen.images(N), MODEL)
    return store, gen, tmp_path / "cache"


def _spy(store, monkeypatch):
    by_path = []
    real = store.rows

    def rows(paths, columns=None, row_ids=False):
        by_path.extend(paths)
        return real(paths, columns, row_ids=row_ids)

    monkeypatch.setattr(store, "rows", rows)
    return by_path


def _expected(store, paths):
    return store.rows(paths, HIT_SHOW_COLUMNS)


def test_hits_are_taken_by_the_ids_of_a_whole_load_and_a_patch(library, monkeypatch):
    store, gen, cache_dir = library
    cache = VectorCache(store, clusters_dir=cache_dir)
    snap = cache.get("visual", "clip_model", MODEL)
    assert ROWID in snap.table.column_names
    idx, scores = snap.index.search(gen.texts(1)[0], 12)
    want = _expected(store, [snap.paths[i] for i in idx.tolist()])
    by_path = _spy(store, monkeypatch)
    hits = snapshot_hits(store, snap, idx, scores)
    assert by_path == [] and [h.path for h in hits] == [snap.paths[i] for i in idx.tolist()]
    assert all(h.ocr_text == (want[h.path]["ocr_text"] or "") for h in hits)
    # a new picture and a changed one: the snapshot is patched with their rows and ids
    row = store.rows([snap.paths[0]])[snap.paths[0]]
    store.upsert([{**row, "path": "/bench/new.jpg", "ocr_text": "fresh words"}])
    store.update_rows({snap.paths[1]: {"ocr_text": "changed words"}})
    patched = cache.get("visual", "clip_model", MODEL)
    assert patched.base is not None and "/bench/new.jpg" in patched.added
    store.forget_hits()
    by_path.clear()  # (the writes read rows by path themselves)
    got = hit_rows(store, patched, ["/bench/new.jpg", snap.paths[1], snap.paths[2]], HIT_SHOW_COLUMNS)
    assert got["/bench/new.jpg"]["ocr_text"] == "fresh words"
    assert got[snap.paths[1]]["ocr_text"] == "changed words"  # its old id names a deleted row
    assert all(ROWID not in r for r in got.values())
    assert by_path == [snap.paths[1]], by_path


def test_the_start_cache_keeps_the_ids(library, monkeypatch):
    store, gen, cache_dir = library
    VectorCache(store, clusters_dir=cache_dir).get("visual", "clip_model", MODEL)
    again = Store(store.db_dir)
    snap = VectorCache(again, clusters_dir=cache_dir).get("visual", "clip_model", MODEL)
    assert ROWID in snap.table.column_names
    assert isinstance(snap.index._data, np.memmap)  # from the start cache
    idx, scores = snap.index.search(gen.texts(1)[0], 10)
    by_path = _spy(again, monkeypatch)
    hits = snapshot_hits(again, snap, idx, scores)
    assert len(hits) == 10 and by_path == []
