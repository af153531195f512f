"""The OCR and text-vector stages on real screenshots: resumable, cancellable, protocol-true."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from imgrag_desktop.indexing.text_stage import EmbedStage, OcrStage, ensure_fts_index, fts_state
from imgrag_desktop.models.ocr import TesseractOcr
from imgrag_desktop.store import compose_search_text
from imgrag_desktop.types import ModelUnavailable, Progress
from tests.conftest import SCREENSHOTS, coco_images

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None, reason="Tesseract is not installed")

SHOTS = ["05_detect_text_with_low_contrast.png", "07_parse_paragraphs_of_text.png", "01_parse_colored_url.png",
         "02_detect_window_title.png", "12_not_a_url.png", "16_qrcode_url.png"]


@pytest.fixture
def indexed(tmp_path: Path, services: Any) -> tuple[Any, Path]:
    if not SCREENSHOTS.is_dir() or len(coco_images()) < 3:
        pytest.fail("shared test data not found")
    d = tmp_path / "pics"
    d.mkdir()
    for name in SHOTS:
        shutil.copy2(SCREENSHOTS / name, d / name)
    for p in coco_images()[:3]:
        shutil.copy2(p, d / p.name)
    report = services.indexer().index_paths([str(d)])
    assert report.added == len(SHOTS) + 3
    return services, d


def status(svc: Any) -> dict[str, dict[str, Any]]:
    return {r["path"]: r for r in svc.store.query().to_pylist()}


def test_ocr_then_embed_follow_the_text_protocol(indexed: tuple[Any, Path]) -> None:
    svc, d = indexed
    rows = status(svc)
    shots = {str(d / n) for n in SHOTS}
    # Every image waits for OCR, photos too: no heuristic decides whether an image has text.
    assert {p for p, r in rows.items() if r["ocr_status"] == "pending"} == set(rows) and len(rows) == len(SHOTS) + 3
    seen: list[Progress] = []
    report = OcrStage(svc.store, TesseractOcr(), workers=2, on_progress=seen.append).run()
    assert (report.read, report.failed, report.remaining) == (len(rows), 0, 0)
    assert seen[-1].stage == "ocr" and seen[-1].done == seen[-1].total == len(rows)
    rows = status(svc)
    assert {r["ocr_engine"] for r in rows.values()} == {TesseractOcr().engine_id}
    # Photos passed the text detector first: the ones it found no text in cost nothing more.
    photos = [r for p, r in rows.items() if p not in shots]
    assert report.detector_only == sum(r["ocr_text"] == "" for r in photos) >= 1
    r = rows[str(d / "05_detect_text_with_low_contrast.png")]
    assert r["ocr_status"] == "done" and r["ocr_text"] == "Orange, the new black!"
    assert r["search_text"] == compose_search_text(r["name"], r["ocr_text"], r["caption"])
    assert r["textual"] is None and '"text":"Orange,"' in r["ocr_words"]
    assert "https://github.com/dynobo/normcap" in rows[str(d / "16_qrcode_url.png")]["ocr_text"]
    # Embedding: every row gets a vector of its search text, made by the text model.
    enc = svc.text
    emb = EmbedStage(svc.store, enc, batch=4).run()
    assert emb.embedded == len(rows) and emb.remaining == 0
    rows = status(svc)
    assert all(r["textual"] is not None and r["text_model"] == "all-MiniLM-L6-v2" for r in rows.values())
    v = enc.encode([rows[str(d / "05_detect_text_with_low_contrast.png")]["search_text"]])[0]
    assert abs(sum(a * b for a, b in zip(v, rows[str(d / "05_detect_text_with_low_contrast.png")]["textual"])) - 1) < 1e-4
    assert EmbedStage(svc.store, enc).run().embedded == 0  # nothing left: a second run is free
    # Keyword index: created once, fresh afterwards, rows written later are still found.
    assert ensure_fts_index(svc.store) == "created"
    assert ensure_fts_index(svc.store) == "fresh"
    exists, indexed_rows, unindexed = fts_state(svc.store)
    assert exists and indexed_rows == len(rows) and unindexed == 0


def test_cancel_keeps_finished_work_and_a_rerun_resumes(indexed: tuple[Any, Path]) -> None:
    svc, d = indexed
    cancel = threading.Event()

    def stop_after_first(p: Progress) -> None:
        if p.done >= 1:
            cancel.set()

    total = len(SHOTS) + 3
    first = OcrStage(svc.store, TesseractOcr(), workers=1, flush_every=1, on_progress=stop_after_first).run(cancel)
    assert first.cancelled and 1 <= first.read < total and first.remaining == total - first.read
    # A new process would start from the table alone.
    second = OcrStage(svc.store, TesseractOcr(), workers=2).run()
    assert second.read == total - first.read and second.remaining == 0
    assert all(r["ocr_status"] in ("done", "skipped") for r in status(svc).values())


def test_changed_file_is_not_given_the_old_text(indexed: tuple[Any, Path]) -> None:
    svc, d = indexed
    stage = OcrStage(svc.store, TesseractOcr())
    path = str(d / "05_detect_text_with_low_contrast.png")
    stage._flush({path: {"ocr_status": "done", "ocr_text": "stale", "ocr_words": "[]", "error": ""}},
                 {path: "another-content-hash"})
    assert status(svc)[path]["ocr_status"] == "pending"


def test_failures_are_recorded_and_missing_tesseract_leaves_rows_waiting(indexed: tuple[Any, Path]) -> None:
    svc, d = indexed
    gone = d / "02_detect_window_title.png"
    gone.unlink()  # vanished after indexing: a failure with a reason, not a crash
    with pytest.raises(ModelUnavailable):
        OcrStage(svc.store, TesseractOcr(tesseract_cmd="/nonexistent/tesseract")).run()
    assert sum(r["ocr_status"] == "pending" for r in status(svc).values()) == len(SHOTS) + 3
    report = OcrStage(svc.store, TesseractOcr(), workers=2).run()
    assert report.failed == 1 and report.read == len(SHOTS) + 3 - 1
    row = status(svc)[str(gone)]
    assert row["ocr_status"] == "failed" and "vanished" in row["error"]
    # Requeue: failed screenshots wait again.
    assert OcrStage(svc.store, TesseractOcr()).requeue() == 1


def test_rows_read_by_another_engine_are_read_again_keeping_their_text(indexed: tuple[Any, Path]) -> None:
    svc, d = indexed
    stage = OcrStage(svc.store, TesseractOcr(), workers=2)
    stage.run()
    tess_id = TesseractOcr().engine_id
    assert stage.requeue_outdated([tess_id]) == 0  # all read by the engine in use
    path = str(d / "05_detect_text_with_low_contrast.png")
    # A row from before engines were recorded, and one skipped while OCR was off.
    svc.store.update_rows({path: {"ocr_engine": None}, str(d / "12_not_a_url.png"): {"ocr_status": "skipped"}})
    assert stage.requeue_outdated([tess_id]) == 2
    row = status(svc)[path]
    assert row["ocr_status"] == "pending" and row["ocr_text"] == "Orange, the new black!"  # still searchable
    assert stage.requeue_outdated(["rapidocr 3.10.0 eng"]) == len(SHOTS) + 3 - 2  # the engine changed
    assert stage.run().read == len(SHOTS) + 3
    assert status(svc)[path]["ocr_engine"] == tess_id


def test_embedding_waits_for_ocr_unless_ocr_cannot_run(indexed: tuple[Any, Path]) -> None:
    svc, _ = indexed
    enc = svc.text
    assert EmbedStage(svc.store, enc).run().embedded == 0  # every image waits for its text
    assert EmbedStage(svc.store, enc).run(include_ocr_pending=True).embedded == len(SHOTS) + 3


def test_after_index_stage_order() -> None:
    from imgrag_desktop.indexing.stages import STAGES

    names = [s.name for s in STAGES]
    assert names.index("ocr") < names.index("captions") < names.index("text")
