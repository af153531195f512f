"""Kind detection on all the shared data: screenshots are screenshots or documents, COCO photos
(snow and studio shots on white included) are photos, a page of type is a document."""

from __future__ import annotations

import io

import pytest

from imgrag_desktop import imaging
from tests.conftest import SCREENSHOTS, coco_images


def test_every_shared_image_gets_its_kind() -> None:
    photos = coco_images()
    shots = sorted(SCREENSHOTS.glob("*.png"))
    if len(photos) < 20 or len(shots) < 20:
        pytest.fail("shared test data not found")
    wrong = []
    for p in photos:
        kind = imaging.decode_path(p, max_side=448)[0].kind
        if kind != "photo":
            wrong.append((p.name, kind))
    for p in shots:
        kind = imaging.decode_path(p, max_side=448)[0].kind
        if kind not in ("screenshot", "document"):
            wrong.append((p.name, kind))
    assert wrong == []


def test_a_photographed_page_of_type_is_a_document_and_a_white_backdrop_is_not() -> None:
    from PIL import Image, ImageDraw, ImageFilter

    page = Image.new("RGB", (850, 1100), (250, 250, 248))
    d = ImageDraw.Draw(page)
    for y in range(80, 1000, 28):
        d.text((70, y), "The quick brown fox jumps over the lazy dog while invoices pile up " * 2, fill=(20, 20, 20))
    buf = io.BytesIO()
    page.filter(ImageFilter.GaussianBlur(0.6)).save(buf, "JPEG", quality=85)
    assert imaging.decode_bytes(buf.getvalue(), max_side=448, name="scan.jpg").kind == "document"
    backdrop = Image.new("RGB", (800, 1000), (245, 245, 245))
    ImageDraw.Draw(backdrop).ellipse((300, 350, 500, 750), fill=(120, 60, 30))
    buf = io.BytesIO()
    backdrop.save(buf, "JPEG", quality=85)
    assert imaging.text_transitions(backdrop) < imaging.TEXT_TRANSITIONS
    assert imaging.decode_bytes(buf.getvalue(), max_side=448, name="IMG_0001.jpg").kind == "photo"
