"""Search modes on a real index: 21 real screenshots (real Tesseract OCR, real MiniLM vectors,
LanceDB full-text index) among real COCO photos, with the test profile's tiny random CLIP."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from imgrag_desktop.types import ImgragError
from tests.conftest import SCREENSHOTS, coco_images, run_cli

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None, reason="Tesseract is not installed")


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path, Path]:
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.indexing.stages import run_later_stages
    from imgrag_desktop.services import Services

    if not (SCREENSHOTS / "expected.json").is_file() or len(coco_images()) < 20:
        pytest.fail("shared test data not found")
    pics = tmp_path_factory.mktemp("pics")
    shots = pics / "screens"
    shots.mkdir()
    for p in SCREENSHOTS.glob("*.png"):
        shutil.copy2(p, shots / p.name)
    photos = pics / "photos"
    photos.mkdir()
    for p in coco_images()[:20]:
        shutil.copy2(p, photos / p.name)
    data = tmp_path_factory.mktemp("data")
    svc = Services(AppConfig.load(data, "test"))
    svc.indexer().index_paths([str(pics)])
    later = run_later_stages(svc, threading.Event())
    rows = svc.store.query(None, ["path"]).num_rows
    # Every image is read, the photos through the text detector (a loaded machine may time one out).
    assert later["ocr"]["read"] + later["ocr"]["failed"] == rows and later["ocr"]["read"] >= rows - 2
    assert later["text"]["keyword_index"] == "created"
    return svc, shots, data


def names(hits: list[Any]) -> list[str]:
    return [os.path.basename(h.path) for h in hits]


def test_keyword_hit_says_which_words_and_where(engine: tuple[Any, Path, Path]) -> None:
    svc, shots, _ = engine
    hits = svc.searcher.search("orange black", k=5, mode="keyword")
    assert names(hits)[0] == "05_detect_text_with_low_contrast.png"
    top = hits[0]
    assert "ocr: Orange black" in top.reasons
    assert sorted(w["text"] for w in top.matched_words) == ["Orange,", "black!"]
    assert all(w["w"] > 0 and w["x"] + w["w"] <= top.width for w in top.matched_words)
    assert top.score > 0 and top.to_json()["matched_words"] == top.matched_words
    assert svc.searcher.search("zebra giraffe xylophone", k=5, mode="keyword") == []


def test_textual_mode_finds_meaning_without_the_words(engine: tuple[Any, Path, Path]) -> None:
    svc, _, _ = engine
    hits = svc.searcher.search("a riddle about a novel left in a motel nightstand", k=3, mode="textual")
    assert "07_parse_paragraphs_of_text.png" in names(hits)
    assert "textual" in hits[names(hits).index("07_parse_paragraphs_of_text.png")].reasons


def test_hybrid_ranks_exact_phrases_first_despite_a_random_visual_model(engine: tuple[Any, Path, Path]) -> None:
    svc, _, _ = engine
    for query, want in [("You steal the key!", "07_parse_paragraphs_of_text.png"),
                        ("Orange, the new black!", "05_detect_text_with_low_contrast.png"),
                        ("Live long and prosper", "06_detect_special_characters.png"),
                        ("NormCap Hackparty Headquarters", "20_qrcode_event.png")]:
        hits = svc.searcher.search(query, k=5)  # hybrid is the default
        assert names(hits)[0] == want, (query, names(hits))
        assert any(r.startswith("ocr: ") for r in hits[0].reasons) and hits[0].matched_words
    # Visual-only ordering is what the tiny random CLIP gives: not these answers.
    visual = svc.searcher.search("You steal the key!", k=5, mode="visual")
    assert all(h.reasons[0] == "visual" and set(h.reasons) <= {"visual", "tile"} for h in visual)


def test_the_image_holding_the_whole_query_beats_one_holding_most_of_it(engine: tuple[Any, Path, Path]) -> None:
    """Screenshots 00, 14 and 16 hold https://github.com/dynobo/normcap; only 13 holds the
    typed URL. MiniLM ranks the look-alike first; the keyword list's coverage and phrase
    weighting must carry the exact one to the top of both keyword and hybrid results."""
    svc, _, _ = engine
    query = "https://dynobo.github.io/normcap/"
    textual = names(svc.searcher.search(query, k=10, mode="textual"))
    assert textual[0] != "13_qr_code_with_text.png"  # the case this guards: meaning alone misleads
    for mode in ("keyword", "hybrid"):
        got = names(svc.searcher.search(query, k=5, mode=mode))
        assert got[0] == "13_qr_code_with_text.png", (mode, got)
        assert "16_qrcode_url.png" in got[1:], (mode, got)
    # BM25 alone gives the look-alike two thirds of the exact holder's vote, enough for a
    # confident MiniLM list to turn the order in a larger collection; it must get under half.
    from imgrag_desktop.search.hybrid import keyword_list

    kl = keyword_list(svc.store, query, None, 100)
    look_alike = kl.scores[[os.path.basename(p) for p in kl.ids].index("16_qrcode_url.png")]
    assert kl.relative(look_alike) < 0.5


def test_qr_payloads_are_found_by_what_they_are(engine: tuple[Any, Path, Path]) -> None:
    """The raw vCard/iCalendar syntax holds none of these words; the notes do, and the QR
    code's box is what lights up."""
    svc, _, _ = engine
    hits = svc.searcher.search("contact card", k=3, mode="keyword")
    assert names(hits)[0] == "19_qrcode_vcard.png"
    assert [w["text"][:11] for w in hits[0].matched_words] == ["BEGIN:VCARD"]
    assert "ocr: contact card" in hits[0].reasons
    assert names(svc.searcher.search("calendar invitation", k=3))[0] == "20_qrcode_event.png"


def test_weights_and_filters(engine: tuple[Any, Path, Path]) -> None:
    svc, _, _ = engine
    s = svc.searcher
    only_visual = s.search("Orange, the new black!", k=10, weights={"visual": 1, "textual": 0, "keyword": 0})
    assert names(only_visual) == names(s.search("Orange, the new black!", k=10, mode="visual"))
    photos = s.search("the", k=50, mode="hybrid", where="kind = 'photo'")
    assert photos and all(h.kind == "photo" for h in photos)
    assert s.search("black", k=5, mode="keyword", where="kind = 'photo'") == []
    with pytest.raises(ImgragError, match="unknown search mode"):
        s.search("x", mode="fuzzy")
    with pytest.raises(ImgragError, match="zero or more"):
        s.search("x", weights={"visual": -1})
    with pytest.raises(ImgragError, match="unknown weight"):
        s.search("x", weights={"colour": 1})


def test_cli_search_modes(engine: tuple[Any, Path, Path]) -> None:
    _, _, data = engine
    out = run_cli("search", "orange black", "--mode", "keyword", "--json", "-k", "3", data_dir=data)
    hits = json.loads(out.stdout)["hits"]
    assert os.path.basename(hits[0]["path"]) == "05_detect_text_with_low_contrast.png"
    assert hits[0]["matched_words"] and "ocr: Orange black" in hits[0]["reasons"]
    bad = run_cli("search", "x", "--weight-visual", "-2", data_dir=data, check=False)
    assert bad.returncode == 1 and "zero or more" in bad.stderr and "Traceback" not in bad.stderr


def test_keyword_search_works_before_the_index_exists(engine: tuple[Any, Path, Path]) -> None:
    from imgrag_desktop.indexing.text_stage import ensure_fts_index, fts_state

    svc, _, _ = engine
    table = svc.store.images
    for idx in table.list_indices():
        table.drop_index(idx.name)
    svc.store.writes += 1
    assert not fts_state(svc.store)[0]
    try:
        hits = svc.searcher.search("orange black", k=3, mode="keyword")
        assert names(hits)[0] == "05_detect_text_with_low_contrast.png"
    finally:
        assert ensure_fts_index(svc.store) == "created"
