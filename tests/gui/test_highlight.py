"""A keyword hit's matched OCR words are drawn over the image in the preview."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SCREENSHOTS, coco_images

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None, reason="Tesseract is not installed")


@pytest.fixture(scope="module", params=["tesseract", "rapidocr"])
def text_indexed(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """Screenshots and photos indexed with OCR, text vectors and the keyword index, as
    `imgrag index` leaves them."""
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.indexing.stages import run_later_stages
    from imgrag_desktop.services import Services

    if not SCREENSHOTS.is_dir() or len(coco_images()) < 3:
        pytest.fail("shared test data not found")
    pics = tmp_path_factory.mktemp("pics")
    for name in ("05_detect_text_with_low_contrast.png", "07_parse_paragraphs_of_text.png", "10_font_sizes.png"):
        shutil.copy2(SCREENSHOTS / name, pics / name)
    for p in coco_images()[:3]:
        shutil.copy2(p, pics / p.name)
    data = tmp_path_factory.mktemp("data")
    cfg = AppConfig.load(data, "test")
    cfg.settings.folders = [str(pics)]
    cfg.settings.search_mode = "keyword"
    cfg.settings.ocr_engine = request.param  # the preview highlights either engine's word boxes
    cfg.settings.extra["gui"] = {"rescan_on_start": False}
    cfg.save()
    svc = Services(cfg)
    svc.indexer().index_paths([str(pics)])
    ocr = run_later_stages(svc, threading.Event())["ocr"]
    assert ocr["read"] == 6 and ocr["failed"] == 0  # the photos too, through the text detector
    return data


def test_keyword_hit_highlights_the_matched_words(qtbot: Any, make_window: Any, text_indexed: Path) -> None:
    from PySide6.QtGui import QColor

    from imgrag_desktop.gui.preview import BOX_EDGE

    w = make_window(text_indexed)
    assert w.mode_combo.currentData() == "keyword" and w.mode_combo.isEnabled()
    w.search_edit.setText("hotel drawer")
    with qtbot.waitSignal(w.resultsShown, timeout=60_000, check_params_cb=lambda i: i.get("kind") == "text"):
        w.search_now()
    assert w.model.rowCount() == 1  # keyword mode: only the image whose text has the words
    hit = w.model.item(0).hit
    assert hit.path.endswith("07_parse_paragraphs_of_text.png")
    assert w.preview.current_path() == hit.path
    canvas = w.preview.canvas
    words = {b["text"] for b in canvas.boxes}
    assert {"hotel", "drawer"} <= {x.strip(".,!?\"'").lower() for x in words}
    qtbot.waitUntil(lambda: not canvas.image_rect().isEmpty(), timeout=10_000)
    rects = canvas.box_rects()
    assert len(rects) == len(canvas.boxes) >= 4
    img = canvas.image_rect()
    assert all(img.adjusted(-2, -2, 2, 2).contains(r) for r in rects)
    # The boxes are really painted: the highlight's edge colour is on screen where a box is.
    shot = canvas.grab().toImage()
    dpr = shot.devicePixelRatio()
    r = rects[0]
    edge = QColor(BOX_EDGE)
    found = False
    for x in range(int(r.left() - 2), int(r.right() + 3)):
        c = shot.pixelColor(int(x * dpr), int((r.top() - 1) * dpr))
        if abs(c.red() - edge.red()) < 40 and abs(c.green() - edge.green()) < 50 and c.blue() < 90:
            found = True
            break
    assert found, "no highlight edge drawn along the first matched word"
