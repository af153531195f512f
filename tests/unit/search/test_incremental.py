"""Incremental search state: after a write the loaded vectors are patched with the changed rows
alone (new, changed, moved, deleted pictures), and answer exactly as a full reload would."""

import numpy as np
import pytest

from imgrag_desktop.bench import SyntheticClip
from imgrag_desktop.bench.synthetic import synthetic_store
from imgrag_desktop.search.snapshot import VectorCache
from imgrag_desktop.search.vectors import VectorIndex
from imgrag_desktop.store import Store

MODEL = "bench-model"


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("ann", [False, True])
def test_a_patched_index_answers_as_a_fresh_one_over_the_live_rows(ann):
    gen = SyntheticClip(3000, dim=48, seed=5)
    x = gen.images(3000)
    base = VectorIndex(x, ann=ann, ann_min_rows=1000)
    new = gen.images(40, seed=8)
    dead = np.array([3, 17, 900, 2999, 3005])  # 3005 is one of the appended rows
    patched = base.patched(dead, new)
    assert len(base) == 3000 and len(patched) == 3040 and patched.live == 3035
    rows = np.vstack([x, new])
    live = np.setdiff1d(np.arange(3040), dead)
    fresh = VectorIndex(rows[live], ann=False)
    queries = np.vstack([gen.texts(20), x[dead[:4]], new[:3]])
    for q in queries:
        idx, s = patched.search(q, 10, nprobe=10_000 if ann else None)  # every cluster: exact
        f_idx, f_s = fresh.search(q, 10)
        assert idx.tolist() == live[f_idx].tolist()
        assert np.allclose(s, f_s, atol=1e-5)
        assert not set(idx.tolist()) & set(dead.tolist())
        # a filter: only even rows
        allowed = np.arange(3040) % 2 == 0
        idx, _ = patched.search(q, 5, allowed, nprobe=10_000 if ann else None)
        assert all(i % 2 == 0 and i not in dead for i in idx.tolist())
    sc = patched.scores(queries[0])
    assert np.all(np.isneginf(sc[dead])) and np.isfinite(np.delete(sc, dead)).all()
    # the index it came from is untouched
    assert len(base) == 3000 and base.dead.size == 0
    assert base.search(x[3], 1)[0].tolist() == [3]


def test_a_large_tail_is_filed_into_the_clusters_of_the_new_index_only():
    gen = SyntheticClip(4000, dim=32, seed=2)
    x = gen.images(4000)
    base = VectorIndex(x, ann=True, ann_min_rows=1000)
    new = gen.images(1200, seed=4)
    patched = base.patched([], new)
    assert len(patched) == 5200 and patched._tail.shape[0] == 0  # filed (> 1000 rows)
    assert base._tail.shape[0] == 0 and len(base) == 4000
    assert np.array_equal(patched.vector(4100), new[100])
    assert patched.search(new[7], 1, nprobe=10_000)[0].tolist() == [4007]


@pytest.fixture()
def library(tmp_path):
    x = SyntheticClip(600, dim=32, seed=1).images(600)
    store = synthetic_store(tmp_path / "db", x, MODEL)
    return store, x


def _results(snap, queries, k=8):
    return [[snap.paths[i] for i in snap.index.search(q, k)[0].tolist()] for q in queries]


def test_new_changed_moved_and_deleted_pictures_are_patched_in_without_a_reload(library, tmp_path):
    store, x = library
    cache = VectorCache(store)
    first = cache.get("visual", "clip_model", MODEL)
    assert first.base is None and len(first.paths) == 600
    rows = store.rows([first.paths[0], first.paths[1], first.paths[2]])
    p0, p1, p2 = list(rows)
    rng = np.random.default_rng(0)
    new_vec = unit(rng.standard_normal(32))
    # new picture (a copy of p0's row under a new name, with its own vector)
    store.upsert([{**rows[p0], "path": "/new/shot.png", "name": "shot.png", "visual": new_vec,
                   "content_hash": "f" * 32}])
    snap = cache.get("visual", "clip_model", MODEL)
    assert snap.base is first  # patched, not reloaded
    assert snap.paths[snap.index.search(new_vec, 1)[0][0]] == "/new/shot.png"
    # changed picture: p1 gets another vector
    changed_vec = unit(rng.standard_normal(32))
    store.upsert([{**rows[p1], "visual": changed_vec, "mtime_ns": rows[p1]["mtime_ns"] + 1}])
    # moved picture: p2 now lives elsewhere
    store.delete_paths([p2])
    store.upsert([{**rows[p2], "path": "/moved/" + p2.rsplit("/", 1)[1], "folder": "/moved"}])
    # deleted picture
    store.delete_paths([p0])
    # a text-only write keeps the snapshot as it is
    snap = cache.get("visual", "clip_model", MODEL)
    store.update_rows({"/new/shot.png": {"ocr_text": "EXIT 12"}})
    assert cache.get("visual", "clip_model", MODEL) is snap
    assert snap.base is first and snap.index.live == 600
    assert p0 not in snap.row_of and p2 not in snap.row_of and "/new/shot.png" in snap.row_of
    assert snap.paths[snap.row_of[p1]] == p1
    assert np.allclose(snap.index.vector(snap.row_of[p1]), changed_vec, atol=1e-6)
    assert len(list(snap.row_of)) == 600
    # the patched snapshot answers as a full reload of the same store does
    fresh = VectorCache(store, incremental=False).get("visual", "clip_model", MODEL)
    assert fresh.base is None and len(fresh.paths) == 600
    queries = np.vstack([x[:20], new_vec, changed_vec, x[2]])
    assert _results(snap, queries) == _results(fresh, queries)
    assert snap.rows_by_hash.get("f" * 32) == [snap.row_of["/new/shot.png"]]
    assert snap.rows_by_hash.get(rows[p0]["content_hash"]) is None  # deleted
    light = snap.table.take([snap.row_of["/moved/" + p2.rsplit("/", 1)[1]]]).to_pylist()[0]
    assert light["folder"] == "/moved"


def test_a_write_by_another_process_reloads_whole(library, tmp_path):
    store, _ = library
    cache = VectorCache(store)
    first = cache.get("visual", "clip_model", MODEL)
    other = Store(tmp_path / "db")
    row = other.rows([first.paths[5]])[first.paths[5]]
    other.upsert([{**row, "path": "/elsewhere/a.jpg"}])
    store.refresh()
    snap = cache.get("visual", "clip_model", MODEL)
    assert snap.base is None and "/elsewhere/a.jpg" in snap.row_of and len(snap.paths) == 601


def test_many_changes_reload_whole_instead_of_patching(library, monkeypatch):
    import imgrag_desktop.search.snapshot as snapshot

    monkeypatch.setattr(snapshot, "PATCH_MIN", 10)
    store, _ = library
    cache = VectorCache(store)
    first = cache.get("visual", "clip_model", MODEL)
    rows = store.rows(list(first.paths[:40]))
    store.upsert([{**r, "path": p + ".copy.jpg"} for p, r in rows.items()])
    snap = cache.get("visual", "clip_model", MODEL)
    assert snap.base is None and len(snap.paths) == 640


def test_a_library_opened_again_reuses_its_saved_clusters(tmp_path, monkeypatch):
    import imgrag_desktop.search.vectors as vectors

    monkeypatch.setattr(vectors, "ANN_MIN_ROWS", 300)
    x = SyntheticClip(1500, dim=32, seed=4).images(1500)
    store = synthetic_store(tmp_path / "db", x, MODEL)
    first = VectorCache(store, clusters_dir=tmp_path / "cache").get("visual", "clip_model", MODEL)
    assert first.index.is_ann
    (saved,) = (tmp_path / "cache").glob("ivf-visual-*.npz")

    def no_kmeans(*a, **k):
        raise AssertionError("k-means ran although the clusters were saved")

    monkeypatch.setattr(vectors, "spherical_kmeans", no_kmeans)
    again = VectorCache(Store(tmp_path / "db"), clusters_dir=tmp_path / "cache").get("visual", "clip_model", MODEL)
    assert again.index.is_ann and again.index.nprobe == first.index.nprobe
    assert np.array_equal(again.index._centroids, first.index._centroids)
    q = SyntheticClip(1500, dim=32, seed=4).texts(10)
    assert _results(again, q) == _results(first, q)
    # A damaged file is ignored: the index is clustered again.
    saved.write_bytes(b"not numpy")
    monkeypatch.undo()
    monkeypatch.setattr(vectors, "ANN_MIN_ROWS", 300)
    third = VectorCache(Store(tmp_path / "db"), clusters_dir=tmp_path / "cache").get("visual", "clip_model", MODEL)
    assert third.index.is_ann and third.index.info.calibrated_recall > 0.9
