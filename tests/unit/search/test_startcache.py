"""The searcher's start-up cache (search/startcache.py): a library opened again maps the vectors
the last run loaded instead of reading and clustering them, answers exactly as a normal load,
and never uses a cache made from another state of the table or a damaged one."""

import json

import numpy as np
import pytest

from imgrag_desktop.bench import SyntheticClip
from imgrag_desktop.bench.synthetic import synthetic_store
from imgrag_desktop.search import startcache
from imgrag_desktop.search.snapshot import VectorCache
from imgrag_desktop.store import Store

MODEL = "bench-model"
N = 1500


@pytest.fixture(params=[False, True], ids=["exact", "ivf"])
def library(request, tmp_path, monkeypatch):
    import imgrag_desktop.search.vectors as vectors

    monkeypatch.setattr(startcache, "MIN_ROWS", 100)
    monkeypatch.setattr(vectors, "ANN_MIN_ROWS", 300 if request.param else 10**9)
    gen = SyntheticClip(N, dim=32, seed=6)
    store = synthetic_store(tmp_path / "db", gen.images(N), MODEL)
    return store, gen, tmp_path / "cache", request.param


def _open(db, cache_dir):
    """A searcher's vectors as a new process would load them."""
    return VectorCache(Store(db), clusters_dir=cache_dir).get("visual", "clip_model", MODEL)


def _mapped(snap) -> bool:
    return isinstance(snap.index._data, np.memmap)


def _answers(snap, queries, k=10):
    out = []
    for q in queries:
        idx, s = snap.index.search(q, k)
        out.append(([snap.paths[i] for i in idx.tolist()], np.round(s, 5).tolist()))
    return out


def test_a_cached_start_answers_as_a_normal_load(library):
    store, gen, cache_dir, ann = library
    first = VectorCache(store, clusters_dir=cache_dir).get("visual", "clip_model", MODEL)
    assert not _mapped(first) and first.index.is_ann == ann
    assert len(list(cache_dir.glob("start-visual-*.json"))) == 1
    again = _open(store.db_dir, cache_dir)
    assert _mapped(again) and again.index.is_ann == ann
    queries = np.vstack([gen.texts(20), gen.images(10, seed=9)])
    assert _answers(again, queries) == _answers(first, queries)
    assert list(again.paths) == list(first.paths)
    assert again.table.equals(first.table.select(again.table.column_names))
    assert again.row_of[first.paths[17]] == 17
    # filters (row masks) and single rows read the same
    allowed = np.arange(N) % 3 == 0
    for q in queries[:5]:
        assert again.index.search(q, 5, allowed)[0].tolist() == first.index.search(q, 5, allowed)[0].tolist()
    assert np.array_equal(again.index.vector(42), first.index.vector(42))


def test_a_write_after_the_cache_was_made_is_seen(library):
    store, gen, cache_dir, _ = library
    first = VectorCache(store, clusters_dir=cache_dir).get("visual", "clip_model", MODEL)
    # Another process writes after the cache was made: the next start loads normally.
    other = Store(store.db_dir)
    row = other.rows([first.paths[0]])[first.paths[0]]
    new_vec = gen.texts(1, seed=31)[0]
    other.upsert([{**row, "path": "/new/a.jpg", "name": "a.jpg", "visual": new_vec.tolist()}])
    fresh = _open(store.db_dir, cache_dir)
    assert not _mapped(fresh) and "/new/a.jpg" in fresh.row_of
    assert fresh.paths[fresh.index.search(new_vec, 1)[0][0]] == "/new/a.jpg"
    # That load wrote the cache again; a start from it, then a write in the same process: patched.
    store2 = Store(store.db_dir)
    cache = VectorCache(store2, clusters_dir=cache_dir)
    mapped = cache.get("visual", "clip_model", MODEL)
    assert _mapped(mapped) and "/new/a.jpg" in mapped.row_of
    vec_b = gen.texts(1, seed=32)[0]
    store2.upsert([{**row, "path": "/new/b.jpg", "name": "b.jpg", "visual": vec_b.tolist()}])
    store2.delete_paths(["/new/a.jpg"])
    after = cache.get("visual", "clip_model", MODEL)
    assert after.base is mapped  # patched, not reloaded
    assert after.paths[after.index.search(vec_b, 1)[0][0]] == "/new/b.jpg"
    assert "/new/a.jpg" not in after.row_of
    assert "/new/a.jpg" not in [after.paths[i] for i in after.index.search(new_vec, 10)[0].tolist()]


@pytest.mark.parametrize("damage", ["truncate", "overwrite", "meta", "light", "order"])
def test_a_damaged_cache_is_ignored_and_rebuilt(library, damage):
    store, gen, cache_dir, ann = library
    first = VectorCache(store, clusters_dir=cache_dir).get("visual", "clip_model", MODEL)
    (meta,) = cache_dir.glob("start-visual-*.json")
    data = meta.with_name(meta.name.replace(".json", ".data.npy"))
    if damage == "truncate":
        with open(data, "r+b") as fh:
            fh.truncate(data.stat().st_size // 2)
    elif damage == "overwrite":  # same size, other bytes in the middle
        raw = bytearray(data.read_bytes())
        mid = len(raw) // 2
        raw[mid:mid + 64] = bytes(64)
        data.write_bytes(bytes(raw))
    elif damage == "meta":
        meta.write_text("{not json", encoding="utf-8")
    elif damage == "light":
        light = meta.with_name(meta.name.replace(".json", ".light.arrow"))
        light.write_bytes(light.read_bytes()[:100])
    else:  # arrays that do not fit together, with matching checksums: still refused
        key = "order" if ann else "data"  # IVF: not a permutation; exact: not float32
        target = meta.with_name(meta.name.replace(".json", f".{key}.npy"))
        arr = np.load(target)
        if ann:
            arr[0] = arr[1]
        else:
            arr = arr.astype(np.float64)
        np.save(target, arr)
        info = json.loads(meta.read_text(encoding="utf-8"))
        name, _, _ = info["files"][key]
        info["files"][key] = [name, target.stat().st_size, startcache._sample_digest(target)]
        meta.write_text(json.dumps(info), encoding="utf-8")
    again = _open(store.db_dir, cache_dir)
    assert not _mapped(again)
    queries = gen.texts(10)
    assert _answers(again, queries) == _answers(first, queries)
    # rebuilt: the next start maps it again
    assert _mapped(_open(store.db_dir, cache_dir))


def test_a_cache_holding_other_light_columns_is_not_used(library, monkeypatch):
    """A newer version of the app reads one more light column: the old cache lacks it."""
    import imgrag_desktop.store as store_mod

    store, gen, cache_dir, _ = library
    VectorCache(store, clusters_dir=cache_dir).get("visual", "clip_model", MODEL)
    assert _mapped(_open(store.db_dir, cache_dir))
    monkeypatch.setattr(startcache, "LIGHT_COLUMNS", [*store_mod.LIGHT_COLUMNS[:-1]])
    assert startcache.StartCache(cache_dir, "visual", MODEL).load(startcache.table_identity(store)) is None


def test_small_libraries_and_other_models_write_no_cache(tmp_path):
    gen = SyntheticClip(300, dim=16, seed=2)
    store = synthetic_store(tmp_path / "db", gen.images(300), MODEL)
    VectorCache(store, clusters_dir=tmp_path / "cache").get("visual", "clip_model", MODEL)
    assert not list((tmp_path / "cache").glob("start-*"))  # below MIN_ROWS: the load is quick
    cache = startcache.StartCache(tmp_path / "cache", "visual", "another-model")
    assert cache.load(startcache.table_identity(store)) is None


def test_rows_by_hash_groups_copies_and_skips_missing_hashes():
    import pyarrow as pa

    from imgrag_desktop.search.snapshot import ColumnHashRows

    rng = np.random.default_rng(3)
    hashes = [None if v == 0 else f"h{v}" for v in rng.integers(0, 50, 700).tolist()]
    col = pa.chunked_array([hashes[:300], hashes[300:]])
    expected: dict[str, list[int]] = {}
    for i, h in enumerate(hashes):
        if h is not None:
            expected.setdefault(h, []).append(i)
    grouped = ColumnHashRows(col)
    assert dict(grouped) == expected and len(grouped) == len(expected)
    assert grouped.get("nope", ()) == ()
