"""The "faces" stage on real photos: resumable, cancellable, keyed by content, and switched off
it deletes every descriptor and name."""

from __future__ import annotations

import shutil
import threading

import pytest

from imgrag_desktop.indexing.faces_stage import faces_to_find, find_faces
from imgrag_desktop.indexing.stages import STAGES, run_later_stages
from imgrag_desktop.models.faces import DlibFaces
from imgrag_desktop.search.people import people_of
from imgrag_desktop.store.faces import FaceTables
from tests.support.data import faces_dir

PHOTOS = ["img1.jpg", "img2.jpg", "img4.jpg", "img13.jpg", "img14.jpg", "couple.jpg"]


def _library(tmp_path, services):
    d = tmp_path / "photos"
    d.mkdir()
    for n in PHOTOS:
        shutil.copy2(faces_dir() / n, d / n)
    services.cfg.settings.ocr_enabled = False
    services.indexer().index_paths([str(d)])
    return d


def test_the_stage_is_in_the_library_part_after_the_text_stage():
    names = [s.name for s in STAGES if s.part == "library"]
    assert names.index("faces") > names.index("text")


def test_cancelled_it_resumes_where_it_stopped_and_a_move_costs_nothing(tmp_path, services):
    d = _library(tmp_path, services)
    store, s = services.store, services.cfg.settings
    engine = DlibFaces("hog")
    cancel = threading.Event()
    seen: list[int] = []

    def progress(p):
        seen.append(p.done)
        if p.done >= 2:
            cancel.set()

    assert faces_to_find(store, engine.model_id) == len(PHOTOS)
    first = find_faces(store, s, engine, cancel, progress)
    assert first["scanned"] == 2 and seen[-1] == 2
    assert faces_to_find(store, engine.model_id) == len(PHOTOS) - 2  # what the window loads face models for
    second = find_faces(store, s, engine, threading.Event())
    assert second["scanned"] == len(PHOTOS) - 2 and first["faces"] + second["faces"] == 7
    assert faces_to_find(store, engine.model_id) == 0 and faces_to_find(store, "another-model") == len(PHOTOS)
    people = people_of(store)
    listing = people.listing()
    assert [p["count"] for p in listing][:2] == [4, 2]  # img1/2/4 and couple's second face; img13/14
    people.name(listing[0]["id"], "Alice")
    # moved files: re-indexed at their new place, nothing is scanned again and the name stays
    moved = tmp_path / "moved"
    shutil.move(str(d), str(moved))
    services.indexer().index_paths([str(moved)])
    again = find_faces(store, s, engine, threading.Event())
    assert again["scanned"] == 0
    after = people_of(store).listing()
    assert after[0]["name"] == "Alice" and after[0]["count"] == 4 and after[0]["cover"]["path"].startswith(str(moved))
    # a new face model scans everything again and maps the faces back to their people
    class Renamed(DlibFaces):
        pass

    other = Renamed("hog")
    other.model_id = "dlib-hog-resnet-v1-again"
    redo = find_faces(store, s, other, threading.Event())
    assert redo["scanned"] == len(PHOTOS) and redo["carried"] >= 7
    assert people_of(store).listing()[0]["name"] == "Alice"


def test_switched_off_the_stage_deletes_faces_and_names(tmp_path, services):
    _library(tmp_path, services)
    out = run_later_stages(services, stages=[st for st in STAGES if st.name == "faces"])
    assert out["faces"]["faces"] >= 6
    people = people_of(services.store)
    people.name(people.listing()[0]["id"], "Alice")
    services.cfg.settings.faces_enabled = False
    out = run_later_stages(services, stages=[st for st in STAGES if st.name == "faces"])
    assert out == {"faces": {"deleted": True}}
    tables = FaceTables(services.store.db_dir)
    assert not tables.exists()
    assert not (services.store.db_dir / "faces.lance").exists() and not (services.store.db_dir / "people.lance").exists()


def test_a_crash_of_the_face_process_costs_one_picture_with_its_reason(tmp_path, services):
    import os
    import signal

    from imgrag_desktop.models.faces_child import ChildFaces

    _library(tmp_path, services)
    engine = ChildFaces("hog", keep_s=0)
    warnings: list[str] = []

    def progress(p):
        if p.done == 2:  # the child dies between the second and the third picture
            os.kill(engine.child_pids()[0], signal.SIGKILL)

    try:
        out = find_faces(services.store, services.cfg.settings, engine, threading.Event(), progress,
                         on_warning=warnings.append)
    finally:
        engine.close()
    assert out["failed"] == 1 and out["scanned"] == len(PHOTOS) - 1
    assert len(out["errors"]) == 1 and "face process" in out["errors"][0] and "ended" in out["errors"][0]
    assert warnings == [f"faces: {out['errors'][0]}"]
    assert faces_to_find(services.store, engine.model_id) == 1  # looked at again next run


@pytest.mark.slow  # five face children started (each killed at its time limit)
def test_a_picture_that_fails_twice_is_recorded_and_skipped_until_it_changes(tmp_path, services):
    """A real time limit (faces_timeout_s tiny): the child is killed on every picture. The first
    run tries again next time; the second records both as failed (`imgrag status`'s `failed`)
    and later runs skip them without starting a child, until a file changes."""
    from imgrag_desktop.library import library_stats
    from imgrag_desktop.models.faces_child import ChildFaces

    d = tmp_path / "photos"
    d.mkdir()
    for n in PHOTOS[:2]:
        shutil.copy2(faces_dir() / n, d / n)
    services.cfg.settings.ocr_enabled = False
    services.indexer().index_paths([str(d)])
    store, s = services.store, services.cfg.settings
    engine = ChildFaces("hog", timeout_s=0.001, keep_s=0)
    try:
        first = find_faces(store, s, engine, threading.Event())
        assert first["failed"] == 2 and "recorded_failed" not in first
        assert faces_to_find(store, engine.model_id) == 2 and store.failure_count() == 0
        second = find_faces(store, s, engine, threading.Event())
        assert second["failed"] == 2 and second["recorded_failed"] == 2
        assert faces_to_find(store, engine.model_id) == 0
        assert library_stats(services)["failed"] == 2
        reasons = {f["path"]: (f["stage"], f["reason"]) for f in store.list_failures()}
        assert set(reasons) == {str(d / n) for n in PHOTOS[:2]}
        assert all(stage == "faces" and "took longer than" in why for stage, why in reasons.values())
        third = find_faces(store, s, engine, threading.Event())
        assert third["failed"] == 0 and third["scanned"] == 0 and engine.child_pids() == []

        changed = d / PHOTOS[0]
        changed.write_bytes(changed.read_bytes() + b"\0" * 16)  # new content: a new hash
        services.indexer().index_paths([str(d)])
        assert [f["path"] for f in store.list_failures()] == [str(d / PHOTOS[1])]
        engine.timeout_s = 60.0
        fourth = find_faces(store, s, engine, threading.Event())
        assert fourth["scanned"] == 1 and fourth["failed"] == 0 and fourth["faces"] >= 1
        assert faces_to_find(store, engine.model_id) == 0  # the other one stays skipped
        store.clear_failures([str(d / PHOTOS[1])])  # a retry clears its failure: looked at again
        assert faces_to_find(store, engine.model_id) == 1
        fifth = find_faces(store, s, engine, threading.Event())
        assert fifth["scanned"] == 1 and store.failure_count() == 0
        assert FaceTables(store.db_dir).failed_tries(engine.model_id) == {}  # worked: its tries are forgotten
    finally:
        engine.close()
