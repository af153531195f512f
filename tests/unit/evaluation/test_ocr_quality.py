"""The OCR measures and the generated hard cases they run on."""

from __future__ import annotations

import json
from pathlib import Path

from imgrag_desktop.evaluation.ocr_cases import PAGE_KINDS, make_case, write_cases
from imgrag_desktop.evaluation.ocr_quality import char_errors, load_set, phrases, word_recall


def test_generated_cases_are_seeded_and_carry_their_truth(tmp_path: Path) -> None:
    a, case = make_case("ui_dark_1x", 3)
    b, again = make_case("ui_dark_1x", 3)
    assert a.tobytes() == b.tobytes() and case == again
    c, other = make_case("ui_dark_1x", 4)
    assert other.text != case.text
    assert a.getpixel((1, 1))[0] < 60  # light text on a dark theme
    turned, tcase = make_case("turned90", 0)
    assert tcase.text != "" and turned.width < turned.height  # a landscape page on its side
    cases = write_cases(str(tmp_path), per_kind=1, kinds=("page", "columns"))
    listed = json.loads((tmp_path / "expected.json").read_text())
    assert [d["file"] for d in listed] == [c.name for c in cases] and all((tmp_path / c.name).is_file() for c in cases)
    assert load_set("gen", str(tmp_path)) == [(str(tmp_path / c.name), c.text) for c in cases]
    assert set(PAGE_KINDS) >= {"turned180", "phone", "low_contrast", "ui_dark_2x", "columns"}


def test_measures() -> None:
    truth = "Total RM 12.50\nThank you come again"
    assert word_recall(truth, truth) == 1.0
    assert word_recall("total rm 12 50", truth) == 4 / 8
    assert char_errors("Total RM 12.50 Thank you come again", truth) == (0, len("Total RM 12.50 Thank you come again"))
    assert char_errors("", truth)[0] == len("Total RM 12.50 Thank you come again")
    assert phrases(truth, 4, 2) == ["Total RM 12.50 Thank", "Thank you come again"]  # first and last
    assert phrases("two words", 4, 2) == []
