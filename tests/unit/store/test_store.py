import numpy as np
import pytest

from imgrag_desktop import store as store_mod
from imgrag_desktop.store import Store, WriterLock, compose_search_text
from imgrag_desktop.types import Failure, ImgragError


def _row(path, vec, **kw):
    row = {"path": path, "folder": "/f", "name": path.rsplit("/", 1)[-1], "size": 10, "mtime_ns": 1,
           "content_hash": "h" + path, "width": 4, "height": 3, "kind": "photo", "clip_model": "m", "visual": vec,
           "ocr_status": "skipped", "caption_status": "skipped", "search_text": ""}
    row.update(kw)
    return row


def test_upsert_is_keyed_by_path(tmp_path):
    s = Store(tmp_path / "db")
    v = np.eye(8, dtype=np.float32)
    s.upsert([_row("/f/a.jpg", v[0]), _row("/f/b.jpg", v[1])])
    s.upsert([_row("/f/a.jpg", v[2], size=99)])
    assert s.count() == 2
    rows = s.rows(["/f/a.jpg"])
    assert rows["/f/a.jpg"]["size"] == 99
    assert np.allclose(rows["/f/a.jpg"]["visual"], v[2])
    assert rows["/f/a.jpg"]["textual"] is None


def test_update_rows_and_delete(tmp_path):
    s = Store(tmp_path / "db")
    v = np.eye(8, dtype=np.float32)
    s.upsert([_row("/f/a.jpg", v[0]), _row("/f/it's.jpg", v[1])])
    n = s.update_rows({"/f/it's.jpg": {"ocr_text": "hello", "ocr_status": "done"}, "/f/gone.jpg": {"ocr_text": "x"}})
    assert n == 1 and s.count() == 2  # the vanished row is not re-created
    assert s.rows(["/f/it's.jpg"])["/f/it's.jpg"]["ocr_text"] == "hello"
    s.delete_paths(["/f/it's.jpg"])
    assert s.count() == 1


def test_vectors_and_filters(tmp_path):
    s = Store(tmp_path / "db")
    v = np.eye(8, dtype=np.float32)
    s.upsert([_row(f"/f/{i}.jpg", v[i], kind="screenshot" if i % 2 else "photo") for i in range(6)])
    tbl, mat = s.vectors("visual", "kind = 'photo'")
    assert mat.shape == (3, 8)
    assert set(tbl.column("path").to_pylist()) == {"/f/0.jpg", "/f/2.jpg", "/f/4.jpg"}
    tbl, mat = s.vectors("textual")
    assert mat.shape[0] == 0


def test_failures_recorded_and_cleared(tmp_path):
    s = Store(tmp_path / "db")
    s.record_failures([(Failure("/f/bad.jpg", "empty file (0 bytes)"), "/f", 0, 5)])
    s.record_failures([(Failure("/f/bad.jpg", "empty file (0 bytes)"), "/f", 0, 6)])
    assert s.failure_count() == 1
    assert s.failure_states()["/f/bad.jpg"] == (0, 6, "empty file (0 bytes)")
    s.clear_failures(["/f/bad.jpg"])
    assert s.failure_count() == 0


def test_newer_schema_is_refused(tmp_path):
    import lancedb

    db = lancedb.connect(str(tmp_path / "db"))
    schema = store_mod.images_schema(8).with_metadata({store_mod.META_KEY: b"99"})
    db.create_table("images", schema=schema)
    with pytest.raises(ImgragError, match="newer imgrag"):
        Store(tmp_path / "db").count()


def test_writer_lock_is_exclusive(tmp_path):
    a = WriterLock(tmp_path / "writer.lock")
    a.acquire()
    b = WriterLock(tmp_path / "writer.lock")
    with pytest.raises(ImgragError, match="another imgrag instance"):
        b.acquire()
    a.release()
    b.acquire()
    b.release()


def test_compose_search_text():
    assert compose_search_text("my_holiday-photo.jpg", "OCR words", "a beach") == "my holiday photo\na beach\nOCR words"
    assert compose_search_text("x.png", None, None) == "x"


def test_hit_rows_are_read_once_until_the_table_changes(tmp_path):
    s = Store(tmp_path / "db")
    v = np.eye(8, dtype=np.float32)
    s.upsert([_row(f"/f/{i}.jpg", v[i], ocr_text=f"text {i}") for i in range(4)])
    reads = []
    real_rows = s.rows
    s.rows = lambda paths, columns=None, **kw: reads.append(list(paths)) or real_rows(paths, columns, **kw)  # type: ignore[method-assign]
    first = s.hit_rows(["/f/1.jpg", "/f/2.jpg", "/f/nope.jpg"])
    assert set(first) == {"/f/1.jpg", "/f/2.jpg"} and first["/f/1.jpg"]["ocr_text"] == "text 1"
    assert first["/f/2.jpg"]["content_hash"] == "h/f/2.jpg" and first["/f/2.jpg"]["width"] == 4
    again = s.hit_rows(["/f/2.jpg", "/f/1.jpg"])
    assert list(again) == ["/f/2.jpg", "/f/1.jpg"] and len(reads) == 1  # served from the cache
    s.hit_rows(["/f/1.jpg", "/f/3.jpg"])
    assert reads[-1] == ["/f/3.jpg"]  # only what was not read yet
    s.update_rows({"/f/1.jpg": {"ocr_text": "changed"}})
    assert s.hit_rows(["/f/1.jpg"])["/f/1.jpg"]["ocr_text"] == "changed"  # a write empties the cache
    s.delete_paths(["/f/3.jpg"])
    assert s.hit_rows(["/f/3.jpg"]) == {}


def test_visual_token_ignores_writes_of_text_only(tmp_path):
    s = Store(tmp_path / "db")
    v = np.eye(8, dtype=np.float32)
    s.upsert([_row(f"/f/{i}.jpg", v[i]) for i in range(4)])
    t0 = s.visual_token()
    assert s.visual_token() == t0  # nothing changed
    s.update_rows({"/f/1.jpg": {"ocr_text": "hello", "ocr_status": "done", "search_text": "hello"}})
    s.record_failures([(Failure("/f/bad.jpg", "empty file (0 bytes)"), "/f", 0, 5)])
    s.optimize()
    assert s.visual_token() == t0  # text, failures and compaction keep the vectors valid
    s.update_rows({"/f/1.jpg": {"kind": "screenshot"}})  # a light column a search holds
    t1 = s.visual_token()
    assert t1 != t0
    s.upsert([_row("/f/9.jpg", v[5])])
    s.update_rows({"/f/2.jpg": {"ocr_text": "x"}})  # text after a vector change: still a change
    t2 = s.visual_token()
    assert t2 != t1
    s.delete_paths(["/f/9.jpg"])
    assert s.visual_token() != t2
    # Another process's write (seen after refresh) always counts.
    t3 = s.visual_token()
    Store(tmp_path / "db").update_rows({"/f/3.jpg": {"ocr_text": "elsewhere"}})
    s.refresh()
    assert s.visual_token() != t3


def test_searcher_keeps_its_vectors_while_text_is_written(tmp_path):
    from imgrag_desktop.models.clip import ClipEncoder, write_tiny_checkpoint
    from imgrag_desktop.search import Searcher

    clip = ClipEncoder("imgrag-tiny", checkpoint=str(write_tiny_checkpoint(tmp_path / "tiny.pt")), device="cpu")
    s = Store(tmp_path / "db")
    v = np.eye(8, dtype=np.float32)
    s.upsert([_row(f"/f/{i}.jpg", v[i], clip_model=clip.model_id) for i in range(4)])
    searcher = Searcher(s, clip)
    first = searcher.visual()
    assert len(first.index) == 4
    s.update_rows({"/f/0.jpg": {"ocr_text": "EXIT 12", "ocr_status": "done"}})
    assert searcher.visual() is first
    s.upsert([_row("/f/7.jpg", v[7], clip_model=clip.model_id)])
    again = searcher.visual()
    assert again is not first and "/f/7.jpg" in again.row_of and len(again.index) == 5


def test_searcher_hit_rows_read_only_text_columns_from_lancedb(tmp_path):
    from imgrag_desktop.models.clip import ClipEncoder, write_tiny_checkpoint
    from imgrag_desktop.search import Searcher
    from imgrag_desktop.store import HIT_COLUMNS, HIT_TEXT_COLUMNS

    clip = ClipEncoder("imgrag-tiny", checkpoint=str(write_tiny_checkpoint(tmp_path / "tiny.pt")), device="cpu")
    s = Store(tmp_path / "db")
    v = np.eye(8, dtype=np.float32)
    s.upsert([_row("/f/0.jpg", v[0], clip_model=clip.model_id, width=640, ocr_text="EXIT 12", kind="screenshot"),
              _row("/f/1.jpg", v[1], clip_model="another-model", width=33, caption="a cat")])
    searcher = Searcher(s, clip)
    searcher.visual()
    reads = []
    real_rows = s.rows
    s.rows = lambda paths, columns=None, **kw: reads.append((list(paths), list(columns or []))) or real_rows(paths, columns, **kw)  # type: ignore[method-assign]
    rows = searcher.hit_rows(["/f/1.jpg", "/f/0.jpg", "/f/gone.jpg"])
    assert list(rows) == ["/f/1.jpg", "/f/0.jpg"]
    assert set(rows["/f/0.jpg"]) >= set(HIT_COLUMNS) and set(rows["/f/1.jpg"]) >= set(HIT_COLUMNS)
    a, b = rows["/f/0.jpg"], rows["/f/1.jpg"]
    assert (a["width"], a["kind"], a["ocr_text"], a["content_hash"]) == (640, "screenshot", "EXIT 12", "h/f/0.jpg")
    assert (b["width"], b["caption"], b["clip_model"]) == (33, "a cat", "another-model")
    # One look-up of the text columns for all; the full row only for the one the searcher does
    # not hold (no vector of its model).
    assert reads[0][1] == HIT_TEXT_COLUMNS and reads[1] == (["/f/1.jpg"], HIT_COLUMNS)
    searcher.hit_rows(["/f/0.jpg"])
    assert len(reads) == 2  # cached


def test_hit_rows_cache_reads_only_the_columns_and_rows_it_lacks(tmp_path):
    from imgrag_desktop.store import HIT_COLUMNS, HIT_SHOW_COLUMNS

    s = Store(tmp_path / "db")
    v = np.eye(8, dtype=np.float32)
    s.upsert([_row(f"/f/{i}.jpg", v[i], ocr_text=f"text {i}", caption=f"cap {i}") for i in range(3)])
    reads = []
    real_rows = s.rows
    s.rows = lambda paths, columns=None, **kw: reads.append((list(paths), list(columns or []))) or real_rows(paths, columns, **kw)  # type: ignore[method-assign]
    shown = s.hit_rows(["/f/0.jpg", "/f/1.jpg"], HIT_SHOW_COLUMNS)
    assert set(shown["/f/0.jpg"]) == set(HIT_SHOW_COLUMNS) and shown["/f/1.jpg"]["caption"] == "cap 1"
    assert reads == [(["/f/0.jpg", "/f/1.jpg"], HIT_SHOW_COLUMNS)]
    assert s.hit_rows(["/f/1.jpg"], ["ocr_text"]) == {"/f/1.jpg": {"path": "/f/1.jpg", "ocr_text": "text 1"}}
    assert len(reads) == 1  # a subset of what was read: from the cache
    full = s.hit_rows(["/f/2.jpg", "/f/0.jpg"], HIT_COLUMNS)
    # both lack a column: read again, /f/0.jpg by the row id its first read taught (rowids.py)
    assert reads[-1] == (["/f/2.jpg"], HIT_COLUMNS)
    assert list(full) == ["/f/2.jpg", "/f/0.jpg"] and full["/f/0.jpg"]["ocr_text"] == "text 0"
    assert set(full["/f/2.jpg"]) == set(HIT_COLUMNS)
    s.hit_rows(["/f/0.jpg", "/f/2.jpg"], HIT_SHOW_COLUMNS)
    assert len(reads) == 2


def test_a_visual_query_reads_only_what_its_hits_show(tmp_path):
    from imgrag_desktop.models.clip import ClipEncoder, write_tiny_checkpoint
    from imgrag_desktop.search import Searcher
    from imgrag_desktop.store import HIT_SHOW_COLUMNS

    clip = ClipEncoder("imgrag-tiny", checkpoint=str(write_tiny_checkpoint(tmp_path / "tiny.pt")), device="cpu")
    s = Store(tmp_path / "db")
    v = np.eye(8, dtype=np.float32)
    s.upsert([_row(f"/f/{i}.jpg", v[i], clip_model=clip.model_id, ocr_text=f"sign {i}", rating=i, media="photo")
              for i in range(4)])
    searcher = Searcher(s, clip)
    reads = []
    real_rows = s.rows
    s.rows = lambda paths, columns=None, **kw: reads.append(list(columns or [])) or real_rows(paths, columns, **kw)  # type: ignore[method-assign]
    taker, real_take = s._hits.taker, s._hits.taker.take  # the rows taken by row id (rowids.py)
    taker.take = lambda table, hints, cols: reads.append(list(cols)) or real_take(table, hints, cols)  # type: ignore[method-assign]
    hits = searcher.visual_search(np.asarray(searcher.visual().index.vector(2)), k=2, min_score=-1.0)
    assert hits[0].path == "/f/2.jpg" and hits[0].ocr_text == "sign 2" and hits[0].rating == 2
    assert reads and all(cols == HIT_SHOW_COLUMNS for cols in reads)  # rating and media come from memory
