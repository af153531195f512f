"""The caption queue against a real LanceDB table and the real tiny vision model."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from imgrag_desktop.indexing.captions import CaptionQueue, clean_caption
from imgrag_desktop.models.vlm import LocalVLM, VlmSpec
from imgrag_desktop.store import Store
from imgrag_desktop.types import ModelUnavailable
from tests.support.vlm_fixtures import COCO, make_row, tiny_spec


@pytest.mark.parametrize("raw, expected", [
    ("Here is a short description of the image: A brown dog runs on a sandy beach.",
     "A brown dog runs on a sandy beach."),
    ("Sure! The image shows a red bus parked next to a building.", "A red bus parked next to a building."),
    ("**Caption:** two people playing frisbee in a park", "Two people playing frisbee in a park"),
    ("In this picture, we can see a laptop and a cup of coffee on a desk.", "A laptop and a cup of coffee on a desk."),
    ("This is a screenshot of a terminal window showing the text \"make test\". I hope this helps!",
     "A terminal window showing the text \"make test\"."),
    ("A cat on a sofa.<end_of_utterance>", "A cat on a sofa."),
    ("<|im_start|>assistant\nA plate with pizza.<|im_end|>", "Assistant A plate with pizza."),
    ("", ""),
])
def test_clean_caption_strips_boilerplate(raw, expected):
    assert clean_caption(raw) == expected


def test_clean_caption_keeps_captions_short_and_on_one_line():
    text = "A street at night. " * 40 + "\n- bullet"
    out = clean_caption(text, max_chars=100)
    assert len(out) <= 100 and "\n" not in out and out.endswith(".")
    assert clean_caption("word " * 100, max_chars=50).endswith("…")


def coco_files(n: int) -> list[Path]:
    files = sorted(COCO.glob("*/*.jpg"))[:n]
    if len(files) < n:
        pytest.fail(f"shared COCO photos not found at {COCO}")
    return files


@pytest.fixture
def vlm(tiny_pair):
    model = LocalVLM(tiny_spec(tiny_pair), idle_unload_s=0)
    yield model
    model.unload()


@pytest.fixture
def photo_store(tmp_path):
    store = Store(tmp_path / "db")
    files = coco_files(6)
    rows = [make_row(p, kind="photo", caption_status="pending", ocr_status="skipped", seed=i, date=1000.0 + i)
            for i, p in enumerate(files)]
    store.upsert(rows)
    return store, files


def test_queue_captions_pending_rows_and_feeds_the_text_stage(photo_store, vlm):
    store, files = photo_store
    seen = []
    queue = CaptionQueue(store, vlm, max_tokens=12, on_progress=seen.append)
    assert queue.pending_count() == 6
    assert queue.pending()[0] == str(files[-1])  # newest first
    report = queue.run()
    assert (report.captioned, report.failed, report.remaining, report.cancelled) == (6, 0, 0, False)
    rows = store.rows([str(p) for p in files])
    for path, row in rows.items():
        assert row["caption_status"] == "done" and row["caption"]
        assert row["caption_model"] == vlm.model_id
        assert row["caption"] in row["search_text"] and Path(path).stem in row["search_text"].replace(" ", "_")
        assert row["textual"] is None
    assert seen[-1].done == 6 and seen[-1].stage == "captions"
    assert report.seconds_per_image > 0
    # Resumable: nothing is left, so a second run does nothing.
    assert queue.run().captioned == 0


def test_rows_still_waiting_for_ocr_are_not_captioned_yet(tmp_path, vlm):
    store = Store(tmp_path / "db")
    a, b = coco_files(2)
    store.upsert([make_row(a, caption_status="pending", ocr_status="pending"),
                  make_row(b, caption_status="pending", ocr_status="done", ocr_text="EXIT 12", seed=1)])
    report = CaptionQueue(store, vlm, max_tokens=6).run()
    assert report.captioned == 1 and report.remaining == 1
    rows = store.rows([str(a), str(b)])
    assert rows[str(a)]["caption_status"] == "pending"
    assert "EXIT 12" in rows[str(b)]["search_text"] and rows[str(b)]["caption"] in rows[str(b)]["search_text"]
    # Where no OCR will ever run (Tesseract missing), the waiting row is captioned too.
    later = CaptionQueue(store, vlm, max_tokens=6, wait_for_ocr=False)
    assert later.pending() == [str(a)]
    assert later.run().captioned == 1
    row = store.rows([str(a)])[str(a)]
    assert row["caption_status"] == "done" and row["ocr_status"] == "pending" and row["caption"] in row["search_text"]


def test_cancel_stops_between_pictures_and_the_next_run_resumes(photo_store, vlm):
    store, files = photo_store
    cancel = threading.Event()

    def progress(p):
        if p.done == 2:
            cancel.set()

    queue = CaptionQueue(store, vlm, max_tokens=8, on_progress=progress, flush_every=100)
    report = queue.run(cancel)
    assert report.cancelled and report.captioned == 2 and report.remaining == 4
    # Flushed on the way out even though the batch was not full.
    statuses = [r["caption_status"] for r in store.rows([str(p) for p in files]).values()]
    assert statuses.count("done") == 2
    assert CaptionQueue(store, vlm, max_tokens=8).run().captioned == 4


def test_limit_and_unreadable_pictures(tmp_path, vlm):
    store = Store(tmp_path / "db")
    good = coco_files(3)
    gone = tmp_path / "deleted.jpg"
    shutil.copy(good[0], gone)
    rows = [make_row(p, caption_status="pending", seed=i, date=float(i)) for i, p in enumerate(good)]
    rows.append(make_row(gone, caption_status="pending", seed=9, date=99.0))
    store.upsert(rows)
    gone.unlink()
    report = CaptionQueue(store, vlm, max_tokens=6).run(limit=2)
    assert report.captioned + report.failed == 2 and report.failed == 1 and report.remaining == 2
    row = store.rows([str(gone)])[str(gone)]
    assert row["caption_status"] == "failed" and "cannot read the picture" in row["error"]
    assert report.failures[0][0] == str(gone)


def test_a_picture_replaced_while_captioning_is_left_for_a_fresh_caption(photo_store, vlm):
    store, files = photo_store
    first = str(files[-1])  # newest: captioned first

    def progress(p):
        if p.done == 1:  # the first caption is buffered; the file changes under us
            store.update_rows({first: {"content_hash": "new-content"}})

    report = CaptionQueue(store, vlm, max_tokens=6, flush_every=100, on_progress=progress).run(limit=2)
    assert report.captioned == 2
    assert store.rows([first])[first]["caption_status"] == "pending"


def test_text_only_model_cannot_caption_and_leaves_rows_pending(photo_store, gemma_path):
    store, _ = photo_store
    vlm = LocalVLM(VlmSpec(str(gemma_path), verify=False), idle_unload_s=0)
    with pytest.raises(ModelUnavailable, match="text-only"):
        CaptionQueue(store, vlm).run()
    assert CaptionQueue(store, vlm).pending_count() == 6 and not vlm.loaded


def test_requeue_after_captions_are_switched_on(tmp_path, vlm):
    store = Store(tmp_path / "db")
    files = coco_files(3)
    store.upsert([make_row(p, caption_status="skipped", seed=i) for i, p in enumerate(files)])
    queue = CaptionQueue(store, vlm, max_tokens=6)
    assert queue.pending_count() == 0
    assert queue.requeue() == 3 and queue.pending_count() == 3
    queue.run()
    assert queue.requeue(("failed",), other_models_than=vlm.model_id) == 0
    assert queue.requeue((), other_models_than="another-model.gguf") == 3


def test_background_thread_with_a_duty_cycle(photo_store, vlm):
    store, _ = photo_store
    done = threading.Event()
    result = {}

    def on_done(r):
        result["r"] = r
        done.set()

    queue = CaptionQueue(store, vlm, max_tokens=6, duty=0.5)
    thread = queue.start(threading.Event(), on_done=on_done, limit=3)
    assert done.wait(60)
    thread.join(5)
    report = result["r"]
    assert report.captioned == 3
    # At duty 0.5 the queue rests as long as it works, so the run lasts at least twice the work.
    assert report.seconds >= 2 * report.model_seconds * 0.95


def test_missing_model_is_reported_when_work_starts(photo_store):
    store, _ = photo_store

    def no_model():
        raise ModelUnavailable("no vision-language model is set up")

    with pytest.raises(ModelUnavailable, match="no vision-language model"):
        CaptionQueue(store, no_model).run()
    empty = Store(Path(store.db_dir).parent / "empty")
    assert CaptionQueue(empty, no_model).run().captioned == 0  # nothing to do: no model needed
