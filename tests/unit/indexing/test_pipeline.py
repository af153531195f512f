"""The indexing pipeline on real COCO photos with the test profile's tiny CLIP and real LanceDB."""

import os
import shutil
import threading

import numpy as np

from imgrag_desktop.types import Progress


def test_index_then_similar_finds_itself(services, photo_dir):
    progress: list[Progress] = []
    report = services.indexer(on_progress=progress.append).index_paths([str(photo_dir)])
    assert report.added == 24 and report.failed == 0 and report.embedded == 24
    assert services.store.count() == 24
    assert any(p.stage == "index" and p.total == 24 for p in progress)
    files = sorted(photo_dir.iterdir())
    for f in files[:20]:
        hits = services.searcher.similar(str(f), k=3)
        assert hits[0].path == str(f)
        assert hits[0].score >= 0.99
        assert hits[0].width > 0 and hits[0].size == f.stat().st_size


def test_reindex_unchanged_embeds_nothing(services, photo_dir):
    services.indexer().index_paths([str(photo_dir)])
    again = services.indexer().index_paths([str(photo_dir)])
    assert again.unchanged == 24 and again.embedded == 0 and again.added == 0


def test_move_and_rename_reuse_vectors(services, photo_dir):
    idx = services.indexer()
    idx.index_paths([str(photo_dir)])
    src = sorted(photo_dir.iterdir())[0]
    before = services.store.rows([str(src)])[str(src)]["visual"]
    sub = photo_dir / "moved"
    sub.mkdir()
    dest = sub / "renamed.jpg"
    shutil.move(src, dest)
    rep = idx.index_paths([str(photo_dir)])
    assert rep.embedded == 0 and rep.reused == 1 and rep.removed == 1
    assert services.store.count() == 24
    rows = services.store.rows([str(src), str(dest)])
    assert str(src) not in rows
    assert np.allclose(rows[str(dest)]["visual"], before)


def test_deleted_file_row_is_removed(services, photo_dir):
    idx = services.indexer()
    idx.index_paths([str(photo_dir)])
    victim = sorted(photo_dir.iterdir())[3]
    victim.unlink()
    rep = idx.index_paths([str(photo_dir)])
    assert rep.removed == 1 and services.store.count() == 23


def test_changed_file_is_reembedded(services, photo_dir):
    idx = services.indexer()
    idx.index_paths([str(photo_dir)])
    a, b = sorted(photo_dir.iterdir())[:2]
    shutil.copyfile(b, a)  # new content at an old path: same content as b → reused from b's row
    os.utime(a, ns=(1, 1))
    rep = idx.index_paths([str(photo_dir)])
    assert rep.updated == 1
    assert services.store.rows([str(a)])[str(a)]["content_hash"] == services.store.rows([str(b)])[str(b)]["content_hash"]


def test_failures_are_recorded_and_indexing_goes_on(services, photo_dir):
    (photo_dir / "empty.jpg").write_bytes(b"")
    (photo_dir / "text.png").write_text("not a picture")
    rep = services.indexer().index_paths([str(photo_dir)])
    assert rep.added == 24 and rep.failed == 2
    reasons = {os.path.basename(f.path): f.reason for f in rep.failures}
    assert "empty" in reasons["empty.jpg"] and "not an image" in reasons["text.png"]
    assert services.store.failure_count() == 2
    # A failed, unchanged file is not retried; once fixed it is indexed and its failure cleared.
    again = services.indexer().index_paths([str(photo_dir)])
    assert again.failed == 0 and again.embedded == 0
    shutil.copyfile(sorted(photo_dir.glob("*.jpg"))[1], photo_dir / "empty.jpg")
    fixed = services.indexer().index_paths([str(photo_dir)])
    assert fixed.added == 1 and services.store.failure_count() == 1


def test_cancel_stops_early_and_keeps_the_index_consistent(services, photo_dir):
    cancel = threading.Event()

    def on_progress(p):
        if p.stage == "index" and p.done >= 8:
            cancel.set()

    idx = services.indexer(on_progress=on_progress)
    idx._batch_size = 8
    rep = idx.index_paths([str(photo_dir)], cancel=cancel)
    assert rep.cancelled
    n = services.store.count()
    assert 8 <= n < 24
    paths = services.store.query(None, ["path"]).column("path").to_pylist()
    assert len(paths) == len(set(paths))
    rest = services.indexer().index_paths([str(photo_dir)])
    assert services.store.count() == 24 and rest.added == 24 - n


def test_text_search_and_filters(services, photo_dir):
    services.indexer().index_paths([str(photo_dir)])
    hits = services.searcher.search("a photo of a dog", k=5)
    assert len(hits) == 5 and all(h.path.startswith(str(photo_dir)) for h in hits)
    assert hits == sorted(hits, key=lambda h: -h.score)
    from imgrag_desktop.search import build_filter

    kinds = {h.path: h.kind for h in services.searcher.search("dog", k=50)}
    for kind in set(kinds.values()):
        only = services.searcher.search("dog", k=50, where=build_filter(kind=kind))
        assert {h.path for h in only} == {p for p, k in kinds.items() if k == kind}
    big = services.searcher.search("dog", k=50, where=build_filter(min_width=640))
    assert big and all(h.width >= 640 for h in big)
