"""The OCR time limit grows with the image's pixels, and a timed-out image says why and what to do."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from imgrag_desktop.models.ocr_base import (
    LIMIT_PIXELS,
    LIMIT_SCALE_MAX,
    OCR_MAX_SIDE,
    OcrTimeout,
    read_size,
    time_limit,
    timeout_message,
)


def test_limit_is_the_setting_up_to_4mp_then_grows_with_pixels() -> None:
    assert time_limit(20.0, (1920, 1080)) == 20.0
    assert time_limit(20.0, (2000, 2000)) == 20.0
    assert time_limit(20.0, (2481, 3508)) == pytest.approx(20.0 * 2481 * 3508 / LIMIT_PIXELS)
    assert time_limit(20.0, (8000, 8000)) == 20.0 * LIMIT_SCALE_MAX
    assert time_limit(0.0, (8000, 8000)) == 0.0  # no limit stays no limit


def test_read_size_is_the_size_read_after_reduction(tmp_path: Path) -> None:
    from PIL import Image

    big = tmp_path / "scan.png"
    Image.new("L", (5000, 7000), 255).save(big)
    w, h = read_size(big)
    assert h == OCR_MAX_SIDE and w == int(5000 * OCR_MAX_SIDE / 7000)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert read_size(bad) == (0, 0)


def test_timeout_message_names_the_limit_the_size_and_the_way_out() -> None:
    msg = timeout_message(40.0, 20.0, (2481, 3508))
    assert "40 s" in msg and "20 s per 4 MP" in msg and "2481x3508" in msg
    assert "ocr_timeout_s" in msg and "imgrag ocr --requeue" in msg
    plain = timeout_message(20.0, 20.0, (800, 600))
    assert "per 4 MP" not in plain and "20 s" in plain


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="Tesseract is not installed")
def test_tesseract_times_out_with_the_scaled_limit_in_its_message(tmp_path: Path) -> None:
    from PIL import Image, ImageDraw

    from imgrag_desktop.models.ocr import TesseractOcr

    page = Image.new("L", (2400, 3000), 255)
    d = ImageDraw.Draw(page)
    for i in range(40):
        d.text((50, 50 + 70 * i), "a line of text to read " * 4, fill=0)
    path = tmp_path / "page.png"
    page.save(path)
    with pytest.raises(OcrTimeout) as err:
        TesseractOcr(timeout_s=0.001).read_path(path)
    assert "0.0018 s" in str(err.value) and "2400x3000" in str(err.value)
