"""Hits' rows taken by LanceDB row id (store/rowids.py): always the row's current values, after a
write, a delete, a compaction or a rebuild; by path only where an id no longer names the row."""

import numpy as np
import pytest

from imgrag_desktop.store import HIT_SHOW_COLUMNS, ROWID, Store

DIM = 8


def _row(path, vec, **kw):
    row = {"path": path, "folder": "/f", "name": path.rsplit("/", 1)[-1], "size": 10, "mtime_ns": 1,
           "content_hash": "h" + path, "width": 4, "height": 3, "kind": "photo", "clip_model": "m", "visual": vec,
           "ocr_status": "done", "caption_status": "skipped", "search_text": "", "ocr_text": f"text of {path}"}
    row.update(kw)
    return row


def _paths(n):
    return [f"/f/{i:03d}.jpg" for i in range(n)]


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "db")
    rng = np.random.default_rng(0)
    paths = _paths(60)
    for i in range(0, 60, 20):  # three appends: three fragments
        s.upsert([_row(p, rng.standard_normal(DIM).astype(np.float32)) for p in paths[i:i + 20]])
    return s


class Reads:
    """Counts the rows read by path (the look-up the ids replace)."""

    def __init__(self, store, monkeypatch):
        self.by_path = []
        real = store.rows

        def rows(paths, columns=None, row_ids=False):
            self.by_path.extend(paths)
            return real(paths, columns, row_ids=row_ids)

        monkeypatch.setattr(store, "rows", rows)


def _ids(store):
    tbl, _ = store.vectors("visual", row_ids=True)
    return dict(zip(tbl.column("path").to_pylist(), tbl.column(ROWID).to_pylist()))


def _hits(store, paths, ids):
    store.forget_hits()
    return store.hit_rows(paths, HIT_SHOW_COLUMNS, ids)


def test_rows_taken_by_id_match_the_rows_by_path(store, monkeypatch):
    ids = _ids(store)
    paths = _paths(60)[::7]
    expected = store.rows(paths, HIT_SHOW_COLUMNS)
    reads = Reads(store, monkeypatch)
    got = _hits(store, paths, ids)
    assert reads.by_path == []  # every row came by its id
    assert got == {p: {c: expected[p][c] for c in ["path", *HIT_SHOW_COLUMNS[1:]]} for p in paths}
    assert all(ROWID not in r for r in got.values())


def test_an_updated_row_is_read_fresh_and_others_stay_by_id(store, monkeypatch):
    ids = _ids(store)
    a, b = _paths(60)[3], _paths(60)[45]
    store.update_rows({a: {"ocr_text": "new words"}})  # a's old row is deleted, the new one elsewhere
    reads = Reads(store, monkeypatch)
    got = _hits(store, [a, b], ids)
    assert got[a]["ocr_text"] == "new words"
    assert got[b]["ocr_text"] == f"text of {b}"
    assert reads.by_path == [a]
    got = _hits(store, [a, b], ids)  # a's new id was learned from that read
    assert got[a]["ocr_text"] == "new words" and reads.by_path == [a]


def test_a_deleted_row_is_not_returned(store, monkeypatch):
    ids = _ids(store)
    gone, kept = _paths(60)[10], _paths(60)[11]
    store.delete_paths([gone])
    reads = Reads(store, monkeypatch)
    got = _hits(store, [gone, kept], ids)
    assert list(got) == [kept] and got[kept]["ocr_text"] == f"text of {kept}"
    assert reads.by_path == [gone]  # its id named nothing any more: looked up by path, not found


def test_new_rows_leave_the_old_ids_right(store, monkeypatch):
    ids = _ids(store)
    rng = np.random.default_rng(1)
    store.upsert([_row(f"/f/new{i}.jpg", rng.standard_normal(DIM).astype(np.float32)) for i in range(5)])
    reads = Reads(store, monkeypatch)
    paths = _paths(60)[::5]
    got = _hits(store, paths, ids)
    assert reads.by_path == [] and [got[p]["ocr_text"] for p in paths] == [f"text of {p}" for p in paths]


def test_after_compaction_rows_are_right_then_taken_by_their_new_ids(store, monkeypatch):
    ids = _ids(store)
    a = _paths(60)[2]
    store.update_rows({a: {"ocr_text": "changed before compaction"}})
    store.optimize()  # every row moves into new fragments: the old ids name nothing
    reads = Reads(store, monkeypatch)
    paths = _paths(60)[::6]
    got = _hits(store, [a, *paths], ids)
    assert got[a]["ocr_text"] == "changed before compaction"
    assert [got[p]["ocr_text"] for p in paths if p != a] == [f"text of {p}" for p in paths if p != a]
    assert sorted(reads.by_path) == sorted({a, *paths})
    reads.by_path.clear()
    assert _hits(store, [a, *paths], ids) == got
    assert reads.by_path == []  # learned
    fresh = _ids(store)
    assert _hits(store, [a, *paths], fresh) == got and reads.by_path == []


def test_an_id_naming_another_path_is_not_taken_for_it(store, monkeypatch):
    ids = _ids(store)
    a, b = _paths(60)[4], _paths(60)[5]
    wrong = {a: ids[b]}  # a stale hint that now names a live row of another picture
    reads = Reads(store, monkeypatch)
    got = _hits(store, [a], wrong)
    assert got[a]["ocr_text"] == f"text of {a}" and reads.by_path == [a]


def test_a_rebuilt_table_reuses_addresses_but_never_returns_another_row(tmp_path, monkeypatch):
    s = Store(tmp_path / "db")
    v = np.eye(DIM, dtype=np.float32)
    s.upsert([_row(f"/old/{i}.jpg", v[i]) for i in range(4)])
    ids = _ids(s)
    s.drop_images()
    s.upsert([_row(f"/new/{i}.jpg", v[i]) for i in range(4)])  # the same addresses, other pictures
    reads = Reads(s, monkeypatch)
    hint = {"/old/1.jpg": ids["/old/1.jpg"], "/new/1.jpg": ids["/old/1.jpg"]}
    got = _hits(s, ["/old/1.jpg", "/new/1.jpg"], hint)
    assert list(got) == ["/new/1.jpg"] and got["/new/1.jpg"]["ocr_text"] == "text of /new/1.jpg"
    assert reads.by_path == ["/old/1.jpg"]


def test_ids_past_a_fragment_or_of_no_fragment_are_not_taken(store, monkeypatch):
    ids = _ids(store)
    a = _paths(60)[0]
    reads = Reads(store, monkeypatch)
    for bogus in (ids[a] + 10_000, (999 << 32) | 1):  # past its fragment, and of no fragment
        got = _hits(store, [a], {a: bogus})
        assert got[a]["ocr_text"] == f"text of {a}"
    assert reads.by_path == [a]  # then learned: the second bogus hint loses to the learned id


def test_lancedb_takes_nothing_for_an_id_that_names_no_live_row(store):
    """What rowids.py relies on (not an exception it would swallow): LanceDB's take_row_ids
    returns nothing for a deleted row, an offset past its fragment and a fragment gone."""
    ids = _ids(store)
    a, b = _paths(60)[1], _paths(60)[2]
    store.delete_paths([a])
    table = store.images

    def take(rid):
        return table.take_row_ids([rid]).select(["path"]).to_arrow().num_rows

    assert take(ids[b]) == 1
    assert take(ids[a]) == 0 and take(ids[b] + 10_000) == 0 and take((999 << 32) | 1) == 0
    store.optimize()  # the fragments the ids name are gone
    table = store.images
    assert take(ids[b]) == 0
