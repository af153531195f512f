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


def test_phrases_that_other_images_hold_are_replaced_by_ones_that_name_the_image() -> None:
    truth = "SHOP ONE SDN BHD\nPencil 2B RM 1.20\nTotal RM 1.20\nThank you please come again"
    others = "shop one sdn bhd total rm 9 thank you please come again"
    shared = lambda p: " ".join(p.lower().replace(".", " ").split()) in others  # noqa: E731
    plain = phrases(truth, 4, 2)
    assert plain == ["SHOP ONE SDN BHD", "you please come again"]
    named = phrases(truth, 4, 2, shared)
    assert len(named) == 2 and not any(shared(p) for p in named)
    assert named[0].startswith("ONE SDN BHD") or named[0].startswith("SDN BHD Pencil")  # the nearest that names it
    assert phrases("a b c d", 4, 2, lambda p: True) == []  # nothing names it: no phrase


def test_phrase_recall_counts_only_phrases_that_name_one_image(tmp_path: Path) -> None:
    from imgrag_desktop.evaluation.ocr_quality import phrase_recall

    a, b = str(tmp_path / "a.png"), str(tmp_path / "b.png")
    cases = [(a, "Alpha shop receipt one\nthank you come again"), (b, "Beta shop receipt two\nthank you come again")]

    class Hit:
        def __init__(self, path: str) -> None:
            self.path = path

    class Finder:  # finds an image by the words only it has; the shared line finds `a`
        def search(self, text: str, k: int = 1, mode: str = "hybrid", weights: object = None) -> list[Hit]:
            return [Hit(b if ("beta" in text.lower() or "two" in text.lower()) else a)]

    r = phrase_recall(Finder(), cases)
    assert r["shared_replaced"] == 2 and r["phrases"] == 4 and r["recall_at_1"] == 1.0, r
    assert not any("thank you come again" == m["phrase"] for m in r["misses"])
