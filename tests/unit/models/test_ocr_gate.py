"""The text detector in front of photos, where it runs and what it costs (issue 15's mixed-folder
cost: docs/performance.md, "Indexing a mixed folder"), run for real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from imgrag_desktop.evaluation.ocr_cases import _font, make_case
from imgrag_desktop.evaluation.ocr_quality import word_recall
from imgrag_desktop.models import ocr_base
from imgrag_desktop.models.ocr import TesseractOcr, text_detector
from imgrag_desktop.models.ocr_base import turn_order
from imgrag_desktop.models.ocr_rapid import RapidOcr
from tests.support.data import COCO, REPO, fail_without_shared_data

PHOTO = COCO / "val2017" / "000000000139.jpg"  # a living room: no text for the detector


def _sign(path: Path, size: tuple[int, int]) -> Path:
    img = Image.new("RGB", size, (200, 196, 190))
    d = ImageDraw.Draw(img)
    d.rectangle((size[0] // 4 - 20, size[1] // 2 - 15, size[0] // 4 + 330, size[1] // 2 + 60), fill=(20, 60, 30))
    d.text((size[0] // 4, size[1] // 2), "PLATFORM 9", font=_font(44), fill=(250, 250, 250))
    img.save(path)
    return path


def test_a_reader_detects_with_its_own_model_and_finds_the_same_boxes(tmp_path: Path) -> None:
    fail_without_shared_data()
    eng = RapidOcr(isolated=False)
    det = eng.detector()
    reading = eng.reader()._get()
    # One detection model in memory: the detector runs the reader's session at its own size.
    assert det._get().text_det.session is reading._load_det_model().session
    assert det._get().text_det.limit_side_len == det.side < reading.text_det.limit_side_len
    sign = Image.open(_sign(tmp_path / "sign.png", (1200, 800)))
    for img in (sign, Image.open(PHOTO)):
        assert det.boxes(img) == text_detector().boxes(img)  # the separately loaded detector's answer
    assert det.boxes(sign) >= 1 and det.boxes(Image.open(PHOTO)) == 0
    # The reader still detects at its own size after the detector ran.
    assert "PLATFORM" in eng.read_path(tmp_path / "sign.png").text and reading.text_det.limit_side_len == 1280


@pytest.mark.parametrize(("size", "decodes"), [((900, 600), 1), ((2400, 1600), 2)])
def test_a_photo_with_text_is_decoded_once_when_the_detector_saw_it_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int], decodes: int) -> None:
    path = _sign(tmp_path / "sign.jpg", size)
    calls: list[int] = []
    real = ocr_base._decode

    def counting(p, max_side):  # type: ignore[no-untyped-def]
        calls.append(max_side)
        return real(p, max_side)

    monkeypatch.setattr(ocr_base, "_decode", counting)
    res = RapidOcr(isolated=False).read_path(path, detect_first=True)
    assert res.detected >= 1 and "PLATFORM" in res.text
    assert len(calls) == decodes  # a large photo is decoded small for the detector, then whole
    word = next(w for w in res.words if w["text"] == "PLATFORM")
    assert word["x"] + word["w"] <= size[0] and word["x"] >= size[0] // 4 - 20  # original pixels either way


def test_the_apps_process_never_loads_rapidocr_to_gate_or_read_photos(tmp_path: Path) -> None:
    """RapidOCR detects and reads in its child: the app's process (the window, `imgrag index`)
    does not import rapidocr, OpenCV or onnxruntime for it (~0.6 s of CPU and their memory)."""
    fail_without_shared_data()
    sign = _sign(tmp_path / "sign.png", (1200, 800))
    script = f"""
import json, sys
from imgrag_desktop.models.ocr import OcrPool
from imgrag_desktop.models.ocr_rapid import RapidOcr
eng = RapidOcr(timeout_s=60)
eng.check()
out = {{p: r.detected if not isinstance(r, BaseException) else str(r)
       for p, r in OcrPool(eng, 1, close=False).map([({str(PHOTO)!r}, "photo", True), ({str(sign)!r}, "photo", True)])}}
text = eng.read_path({str(sign)!r}, detect_first=True).text
eng.close()
print(json.dumps({{"detected": out, "text": text, "engine": eng.engine_id,
                  "loaded": sorted(m for m in ("rapidocr", "onnxruntime", "cv2") if m in sys.modules)}}))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["detected"] == {str(PHOTO): 0, str(sign): got["detected"][str(sign)]} and got["detected"][str(sign)] >= 1
    assert "PLATFORM" in got["text"] and got["engine"].startswith("rapidocr 3.")
    assert got["loaded"] == []


def test_turns_tried_are_those_that_can_lay_the_words_flat() -> None:
    # RapidOCR's boxes follow the lines: words on end → 90/270 only; flat words → 180 only.
    assert turn_order(40, 2, boxes_follow_lines=True) == (1, 3)
    assert turn_order(1, 30, boxes_follow_lines=True) == (2,)
    assert turn_order(0, 0, boxes_follow_lines=True) == (2, 1, 3)  # no word says which way: all three
    # Tesseract reads a page on its side as flat garbage: it tries every turn.
    assert turn_order(1, 30) == (2, 1, 3) and turn_order(40, 2) == (1, 3, 2)
    assert RapidOcr.boxes_follow_lines and not getattr(TesseractOcr, "boxes_follow_lines", False)


def test_a_photo_whose_text_reads_poorly_is_read_twice_not_four_times(monkeypatch: pytest.MonkeyPatch) -> None:
    """A birthday cake's icing reads as a garbled page of flat lines: only the upside-down
    reading can help (it does not here), so it costs two readings, not four; turned pages are
    still read upright (test_ocr_rapid: turned90, turned180). Read with PaddleOCR's 320 px
    recognition floor, where the cake reads garbled (with REC_MIN_WIDTH it reads well enough
    the first time, and the turns are not tried at all)."""
    fail_without_shared_data()
    from imgrag_desktop.models import ocr_detect

    monkeypatch.setattr(ocr_detect, "REC_MIN_WIDTH", 320)
    photo = COCO / "train2017" / "000000114174.jpg"
    calls: list[int] = []

    class Counting(RapidOcr):
        def recognise(self, rgb: Image.Image, enlarge: bool = True):  # type: ignore[no-untyped-def]
            out = super().recognise(rgb, enlarge)
            calls.append(len(out[0]))
            return out

    res = Counting(isolated=False, timeout_s=0).read_path(photo, detect_first=True)
    assert res.turns == 0 and "Birthday" in res.text and len(calls) == 2
    # And a page lying on its side still gets its 90/270 readings (the first of them wins here).
    img, case = make_case("turned270", 0)
    calls.clear()
    turned = Counting(isolated=False, timeout_s=0).read(img)
    assert turned.turns == 1 and len(calls) == 2 and word_recall(turned.text, case.text) >= 0.9


def test_short_words_are_not_padded_to_a_long_line(tmp_path: Path) -> None:
    """Recognition batches of short crops (a receipt's prices) go to the model REC_MIN_WIDTH wide,
    not the 320 px PaddleOCR pads every batch to, and still read right; a long line keeps its
    own width (docs/performance.md, "The mixed folder, third look")."""
    from imgrag_desktop.models.ocr_detect import REC_MIN_WIDTH

    img = Image.new("RGB", (900, 700), (250, 250, 250))
    d = ImageDraw.Draw(img)
    words = ["TOTAL", "12.50", "RM", "CASH", "20.00", "TAX", "0.75", "QTY", "3"]
    for i, word in enumerate(words):
        d.text((60 + (i % 3) * 280, 60 + (i // 3) * 120), word, font=_font(40), fill=(10, 10, 10))
    d.text((60, 500), "Thank you for shopping with us today", font=_font(36), fill=(10, 10, 10))
    img.save(tmp_path / "receipt.png")
    eng = RapidOcr(isolated=False)
    rec = eng.reader()._get()._load_rec_model()
    widths: list[int] = []
    real = rec.session.session

    class Recording:  # records the batches' input width and runs the real session
        def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
            return getattr(real, name)

        def run(self, names, feed):  # type: ignore[no-untyped-def]
            widths.append(next(iter(feed.values())).shape[3])
            return real.run(names, feed)

    rec.session.session = Recording()
    try:
        res = eng.read_path(tmp_path / "receipt.png")
    finally:
        rec.session.session = real
    assert rec.rec_image_shape[2] == REC_MIN_WIDTH < 320
    assert min(widths) < 320 and max(widths) > 320  # short words narrow; the long line as wide as it is
    assert word_recall(res.text, " ".join(words) + " Thank you for shopping with us today") == 1.0
