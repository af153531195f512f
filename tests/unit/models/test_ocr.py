"""Real Tesseract on the real screenshots: text, word boxes in original pixels, QR payloads,
the time limit, and clear errors when Tesseract or a language is missing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from imgrag_desktop.models.ocr import OcrPool, OcrTimeout, TesseractOcr, availability
from imgrag_desktop.types import DecodeError, ModelUnavailable
from tests.conftest import SCREENSHOTS

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None, reason="Tesseract is not installed")


@pytest.fixture(scope="module")
def shots() -> Path:
    if not (SCREENSHOTS / "expected.json").is_file():
        pytest.fail(f"screenshots not found in {SCREENSHOTS}")
    return SCREENSHOTS


def test_reads_text_and_boxes_in_original_pixels(shots: Path) -> None:
    from PIL import Image

    path = shots / "05_detect_text_with_low_contrast.png"
    res = TesseractOcr().read_path(path)
    assert res.text == "Orange, the new black!"
    with Image.open(path) as im:
        w, h = im.size
    words = {x["text"]: x for x in res.words}
    assert set(words) == {"Orange,", "the", "new", "black!"}
    for box in words.values():  # inside the original image, although OCR ran on a 2x enlargement
        assert 0 <= box["x"] < w and 0 <= box["y"] < h and box["x"] + box["w"] <= w + 1 and box["y"] + box["h"] <= h + 1
        assert box["conf"] > 50
    assert words["Orange,"]["x"] < words["the"]["x"] < words["new"]["x"] < words["black!"]["x"]
    import pytesseract

    # Tesseract processes stay on one core each; this process's environment is left alone
    # (torch's bf16 kernels fail under a thread limit below its thread count).
    assert pytesseract.pytesseract.environ["OMP_THREAD_LIMIT"] == "1"
    assert pytesseract.pytesseract.environ is not os.environ


def test_reduced_image_reports_boxes_at_the_original_size(shots: Path) -> None:
    from PIL import Image

    path = shots / "07_parse_paragraphs_of_text.png"
    full = TesseractOcr().read_path(path)
    with Image.open(path) as im:
        img = im.convert("RGB")
    small = img.resize((img.width // 2, img.height // 2))
    half = TesseractOcr().read(small, orig_size=img.size)
    a = next(x for x in full.words if x["text"] == "hotel")
    b = next(x for x in half.words if x["text"] == "hotel")
    assert abs(a["x"] - b["x"]) <= 6 and abs(a["y"] - b["y"]) <= 6
    assert "You steal the key!" in full.text


def test_qr_code_payload_joins_the_text(shots: Path) -> None:
    res = TesseractOcr().read_path(shots / "16_qrcode_url.png")
    assert res.codes == ["https://github.com/dynobo/normcap"]
    assert "https://github.com/dynobo/normcap" in res.text
    code = next(w for w in res.words if w.get("code"))
    assert code["w"] > 50 and code["h"] > 50
    plain = TesseractOcr(read_codes=False).read_path(shots / "16_qrcode_url.png")
    assert plain.codes == [] and "github" not in plain.text


def test_structured_payloads_get_a_note_in_words(shots: Path) -> None:
    """A contact card and an event in QR codes: the raw payload stays, and a note says what
    it is, so "contact details" or "calendar invitation" can find them."""
    card = TesseractOcr().read_path(shots / "19_qrcode_vcard.png")
    assert card.codes[0].startswith("BEGIN:VCARD") and card.codes[0] in card.text
    assert card.notes == ["QR code with a contact card (vCard): Dynobo Obonyb, NormCap, https://github.com/dynobo/normcap"]
    assert card.notes[0] in card.text.splitlines()
    code = next(w for w in card.words if w.get("code"))
    assert code["note"] == card.notes[0]
    event = TesseractOcr().read_path(shots / "20_qrcode_event.png")
    assert event.notes == ["QR code with a calendar event (invitation): NormCap Hackparty, at Headquarters, "
                           "on 8 April 2025 at 11:45"]


def test_time_limit_fails_the_image_not_the_run(shots: Path) -> None:
    with pytest.raises(OcrTimeout, match="longer than"):
        TesseractOcr(timeout_s=0.001).read_path(shots / "09_two_columns.png")


def test_missing_tesseract_and_language_are_clear(shots: Path) -> None:
    with pytest.raises(ModelUnavailable, match="Tesseract OCR is not installed"):
        TesseractOcr(tesseract_cmd="/nonexistent/tesseract").read_path(shots / "05_detect_text_with_low_contrast.png")
    with pytest.raises(ModelUnavailable, match="tesseract-ocr-xyz"):
        TesseractOcr(languages="eng+xyz").check()


def test_pool_reads_in_parallel_and_reports_bad_files(shots: Path, tmp_path: Path) -> None:
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    paths = [str(shots / "01_parse_colored_url.png"), str(bad), str(shots / "02_detect_window_title.png")]
    got = dict(OcrPool(TesseractOcr(), workers=2).map(paths))
    assert set(got) == set(paths)
    assert got[paths[0]].text == "https://regex101.com"
    assert got[paths[2]].text == "*Untitled Document 1"
    assert isinstance(got[str(bad)], DecodeError)
    # Cancelled before it starts: nothing is read.
    assert list(OcrPool(TesseractOcr(), workers=2).map(paths, cancelled=lambda: True)) == []


def test_availability_for_doctor(services) -> None:  # noqa: ANN001
    ok, detail = availability(services.cfg)
    assert ok and "Tesseract" in detail and "eng" in detail
