"""A phrase copied from a picture's text finds that picture, even when it holds words the
query readers take for filters ("spring", "Friday"): pages rendered with known text, read by
Tesseract into a real index (LanceDB's keyword index), searched through the real reading."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from imgrag_desktop.search.understand import understand
from imgrag_desktop.search.understood import pasted_phrase, search_reading
from tests.conftest import coco_images

PAGES = {
    "garden.png": ["Valley letter spring balance museum", "Orange pencil number 4411 harbour"],
    "market.png": ["Almost friday circle market table", "Silver bottle ticket yellow river"],
    "notes.png": ["Valley letter balance in the museum", "Friday circle notes for the market"],
    "receipt.png": ["TQ FOR SHOPPING WITH US", "Orange pencil number 4411 harbour", "Silver bottle ticket yellow river",
                    "Candle castle change cheese circle", "Cotton country dinner doctor document"],
    "flyer.png": ["With shopping TQ", "shopping with TQ for"],
    # a receipt's two columns read row by row: a label, its value below it, the footer
    "summary.png": ["GST Summary Amount Tax", "SR 35.00 0.00", "Thank you, come again", "Date March 2018 Cash paid"],
    # the same words far apart
    "ledger.png": ["Tax 0.00 tax 0.00", "Carrot window marble", "Pepper mirror basket", "Lemon garden ladder",
                   "Thank you thank you"],
}


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.evaluation.ocr_cases import _render
    from imgrag_desktop.indexing.stages import run_later_stages
    from imgrag_desktop.services import Services

    if shutil.which("tesseract") is None:
        pytest.fail("Tesseract is not installed: pages cannot be read")
    pics = tmp_path_factory.mktemp("pics")
    for name, lines in PAGES.items():
        _render(lines, 26, (10, 10, 10), (255, 255, 255), width=900).save(pics / name)
    for p in coco_images()[:2]:
        shutil.copy2(p, pics / p.name)
    cfg = AppConfig.load(tmp_path_factory.mktemp("data"), "test")
    cfg.settings.ocr_engine = "tesseract"
    svc = Services(cfg)
    svc.indexer().index_paths([str(pics)])
    later = run_later_stages(svc, threading.Event())
    assert later["ocr"]["read"] == len(PAGES) + 2 and later["ocr"]["failed"] == 0
    return svc


def _top(svc: Any, text: str) -> str:
    hits = search_reading(svc.searcher, understand(text, None, svc.read_context()), 1)
    return Path(hits[0].path).name if hits else ""


def test_a_pasted_phrase_with_a_season_or_a_weekday_finds_its_page(library: Any) -> None:
    reading = understand("Valley letter spring balance", None, library.read_context())
    assert [c.kind for c in reading.chips] == ["date"]  # read as "in spring" ...
    literal = pasted_phrase(library.searcher, reading)
    assert literal is not None and literal.text == "Valley letter spring balance" and not literal.chips
    assert literal.filters.where() is None  # ... but searched as the page's text, unfiltered
    assert _top(library, "Valley letter spring balance") == "garden.png"
    assert _top(library, "almost friday circle market") == "market.png"


def test_a_filter_phrase_no_page_holds_is_still_read_as_filters(library: Any) -> None:
    for text in ("screenshots from friday", "museum in spring", "friday circle notes for"):
        reading = understand(text, None, library.read_context())
        assert reading.chips, text
        if text.startswith("friday circle notes"):  # on a page word for word: as typed
            assert pasted_phrase(library.searcher, reading) is not None
        else:
            assert pasted_phrase(library.searcher, reading) is None, text
    reading = understand("valley letter -people spring", None, library.read_context())
    assert pasted_phrase(library.searcher, reading) is None  # operators: the user wrote a query


def test_the_picture_holding_the_phrase_in_order_comes_before_those_holding_its_words(library: Any) -> None:
    svc = library
    raw = [Path(h.path).name for h in svc.searcher.search("TQ FOR SHOPPING WITH", k=5, mode="keyword")]
    assert raw[:2] == ["flyer.png", "receipt.png"]  # the words, twice each, in a short text: ranked first
    assert _top(svc, "TQ FOR SHOPPING WITH") == "receipt.png"  # the words in that order
    assert _top(svc, "shopping with TQ") == "flyer.png"
    hits = search_reading(svc.searcher, understand("shopping TQ", None, svc.read_context()), 2)
    assert [Path(h.path).name for h in hits][:1] == raw[:1]  # two words: not a phrase, the ranking stands


def test_a_phrase_typed_with_a_slip_still_finds_its_page(library: Any) -> None:
    svc = library
    raw = [Path(h.path).name for h in svc.searcher.search("TQ FOR SHOPING WITH", k=2, mode="keyword")]
    assert raw[0] == "flyer.png"  # "TQ" twice in a short text; "shoping" is on no page
    assert _top(svc, "TQ FOR SHOPING WITH") == "receipt.png"  # the page that holds it but for one letter
    assert _top(svc, "Candle castel change cheese") == "receipt.png"


def test_a_phrase_read_with_an_ocr_slip_is_still_searched_as_typed(library: Any) -> None:
    reading = understand("Valley lettre spring balance", None, library.read_context())
    assert [c.kind for c in reading.chips] == ["date"]  # "spring" read as a season ...
    literal = pasted_phrase(library.searcher, reading)  # ... but the page holds it but for one letter pair
    assert literal is not None and not literal.chips
    assert _top(library, "Valley lettre spring balance") == "garden.png"
    assert pasted_phrase(library.searcher, understand("museum in spring", None, library.read_context())) is None


def test_a_line_read_across_columns_finds_its_page_and_is_searched_as_typed(library: Any) -> None:
    svc = library
    # neither word for word nor nearly: the words lie on three neighbouring lines
    assert _top(svc, "TAX 0.00 THANK YOU") == "summary.png"
    assert _top(svc, "thank you tax 0.00") == "summary.png"
    reading = understand("Cash paid March 2018", None, svc.read_context())
    assert [c.kind for c in reading.chips] == ["date"]  # read as a month ...
    literal = pasted_phrase(svc.searcher, reading)  # ... but the page holds the words side by side
    assert literal is not None and not literal.chips
    assert _top(svc, "Cash paid March 2018") == "summary.png"
    # three words are not enough to take a query for a page's text
    reading = understand("tax paid friday", None, svc.read_context())
    assert reading.chips and pasted_phrase(svc.searcher, reading) is None
