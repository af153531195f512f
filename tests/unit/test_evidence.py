"""Evidence lines, value reading and the support check, on the shared receipts' and
screenshots' true text (and one real Tesseract read for the boxes)."""

from __future__ import annotations

import json

import pytest

from imgrag_desktop import evidence as ev
from imgrag_desktop.answer import DONT_KNOW, check
from tests.support.data import SCREENSHOTS, SHARED_DATA

RECEIPTS = SHARED_DATA / "receipts"


def receipt_texts() -> dict[str, str]:
    data = json.loads((RECEIPTS / "expected.json").read_text("utf-8"))
    return {name: "\n".join(lines) for name, lines in data["lines"].items()}


def shot_texts() -> dict[str, str]:
    return {e["file"]: e["expected_text"] for e in json.loads((SCREENSHOTS / "expected.json").read_text("utf-8"))}


def images(texts: dict[str, str], names: list[str]) -> list[tuple[str, list[ev.EvidenceLine]]]:
    return [(f"/lib/{n}", ev.image_lines(f"/lib/{n}", texts[n], None)) for n in names]


@pytest.mark.parametrize("question,kind", [
    ("What was the total at The Roti Man Bakery?", "amount"),
    ("How much change was given?", "amount"),
    ("What is the phone number of the shop?", "phone"),
    ("What is Peter Parker's e-mail address?", "email"),
    ("Which website is linked?", "url"),
    ("What is the invoice number?", "code"),
    ("When does the party start?", "date"),
    ("Who was the cashier?", "name"),
    ("Whose contact card is in the QR code?", "name"),
])
def test_question_kind(question, kind):
    assert ev.question_kind(question) == kind


def test_receipt_values_come_first_and_are_read_from_their_line():
    texts = receipt_texts()
    # The receipt the question names is not retrieval's first: the evidence still comes from it.
    found = ev.gather("What was the total at Ben's Independent Grocer?", images(texts, ["145.jpg", "060.jpg", "320.jpg"]))
    assert found.grounded("/lib/060.jpg") and not found.grounded("/lib/145.jpg")
    assert all(ln.path == "/lib/060.jpg" for ln in found.top(3))
    value = ev.extract_value(found)
    assert value is not None and value[0] == "77.20" and value[1].path == "/lib/060.jpg"
    found = ev.gather("Who was the cashier at Restoran Wan Sheng?", images(texts, ["558.jpg", "145.jpg"]))
    got = ev.extract_value(found)
    assert got is not None and got[0] == "NICOLE"


def test_the_value_after_the_label_is_taken_and_ocr_slips_are_undone():
    lines = [ev.EvidenceLine("/r.jpg", t, index=i) for i, t in enumerate(
        ["SHOP ONE", "CASH RM 100,20 CHANGE RM 47.00", "Tota! Incl. GST RM 53,20", "Bacon RM4.90", "SUBTOTAL RM20. 40"])]
    found = ev.gather("How much change was given at Shop One?", [("/r.jpg", lines)])
    assert ev.extract_value(found)[0] == "47.00"
    found = ev.gather("What was the total at Shop One?", [("/r.jpg", lines)])
    assert ev.extract_value(found)[0] in {"53.20", "20.40"}  # a total line, never the bacon
    assert ev.clean_ocr("CASH RM20. 40") == "CASH RM20.40"
    assert ev.clean_ocr("www. popular. com. my") == "www.popular.com.my"
    assert ev.normalise_value("RM 53,20", "amount") == "53.20"


def test_a_question_about_what_the_library_lacks_has_no_grounded_image():
    texts = {**receipt_texts(), **shot_texts()}
    for q in ["What was the total at the Starbucks in Berlin?", "What is Tony Stark's e-mail address?",
              "When is my dentist appointment?"]:
        found = ev.gather(q, images(texts, ["228.jpg", "03_parse_emails.png", "618.jpg", "20_qrcode_event.png"]))
        assert not any(found.grounded(p) for p in found.anchor_share), q
        assert ev.extract_value(found) is None


def test_support_check_needs_the_answers_numbers_and_words_in_a_grounded_line():
    texts = receipt_texts()
    found = ev.gather("How much was the order at The Roti Man Bakery?", images(texts, ["320.jpg", "145.jpg"]))
    given = found.top(8)
    assert ev.supporting_line("$100,000.00", found, given) is None  # the hallucination
    assert ev.supporting_line("0000000000", found, given) is None
    line = ev.supporting_line("RM20.40 [1]", found, given)
    assert line is not None and line.path == "/lib/320.jpg" and "20.40" in line.text
    # A number from another receipt is not support, even if it is in the evidence list.
    assert ev.supporting_line("8.50", found, given) is None
    assert ev.says_not_found("The pictures do not show it.") and not ev.says_not_found("RM20.40")


def test_check_prefers_the_model_then_the_evidence_then_says_it_does_not_know():
    texts = receipt_texts()
    found = ev.gather("What was the total at Ben's Independent Grocer?", images(texts, ["060.jpg", "145.jpg"]))
    paths = ["/lib/060.jpg", "/lib/145.jpg"]
    ok = check(found.question, "The total is 77.20 [1].", found, found.top(8), paths)
    assert ok.status == "supported" and ok.text.startswith("The total is 77.20") and ok.citations == ["/lib/060.jpg"]
    assert ok.quote and "77.20" in ok.quote["text"] and ok.evidence
    wrong = check(found.question, "$100,000.00", found, found.top(8), paths)
    assert wrong.status == "extracted" and wrong.extracted == "77.20" and "77.20" in wrong.text
    assert wrong.model_text == "$100,000.00" and "100,000" not in wrong.text
    none = ev.gather("What is the Wi-Fi password of the hotel?", images(texts, ["060.jpg", "145.jpg"]))
    unknown = check(none.question, "password123", none, none.top(8), paths)
    assert unknown.status == "unknown" and unknown.citations == paths
    assert unknown.text.startswith(DONT_KNOW.split(":")[0])


def test_lines_from_real_ocr_carry_their_boxes():
    from imgrag_desktop.models.ocr import TesseractOcr

    path = RECEIPTS / "450.jpg"
    res = TesseractOcr().read_path(path)
    lines = ev.image_lines(str(path), res.text, json.dumps(res.words))
    assert lines and sum(1 for ln in lines if ln.box) >= 0.8 * len(lines)
    from PIL import Image

    with Image.open(path) as im:
        w, h = im.size
    for ln in lines:
        if ln.box:
            x, y, bw, bh = ln.box
            assert 0 <= x and 0 <= y and x + bw <= w + 2 and y + bh <= h + 2 and bw > 0 and bh > 0
    found = ev.gather("How much change was given at MR. D.I.Y. IOI Puchong?", [(str(path), lines)])
    best = found.top(1)[0]
    assert "47" in best.text and best.box is not None
    # The box is the union of the words of that line: the word "CHANGE" lies inside it.
    word = next(wd for wd in res.words if wd["text"].upper().startswith("CHANGE"))
    x, y, bw, bh = best.box
    assert x <= word["x"] and word["x"] + word["w"] <= x + bw and y <= word["y"] + 1


def test_code_payloads_and_notes_keep_the_codes_box():
    words = [{"text": "tel:+ 012 34 5678", "x": 42, "y": 58, "w": 84, "h": 84, "conf": 100.0, "code": True,
              "note": "QR code with a phone number to call: + 012 34 5678"}]
    text = "tel:+ 012 34 5678\nQR code with a phone number to call: + 012 34 5678"
    lines = ev.image_lines("/s.png", text, json.dumps(words))
    assert [ln.source for ln in lines] == ["code", "note"] and all(ln.box == [42, 58, 84, 84] for ln in lines)
    found = ev.gather("What phone number is in the QR code?", [("/s.png", lines)])
    assert ev.extract_value(found)[0].endswith("012 34 5678")


def test_an_answer_to_an_address_question_must_hold_an_address():
    found = ev.gather("What is Peter Parker's e-mail address?", images(shot_texts(), ["03_parse_emails.png"]))
    assert ev.supporting_line("Peter Parker", found, found.top(8)) is None  # words from the line, but no address
    line = ev.supporting_line("peter.parker@test.com [1]", found, found.top(8))
    assert line is not None and "peter.parker@test.com" in line.text


def test_what_the_owner_wrote_is_evidence_too():
    """Title, description and tags from XMP/IPTC become quotable lines (source "metadata"), so
    "where was the photo tagged Lisbon taken?" can be answered from them."""
    row = {"title": "Tram 28", "description": "Our first evening,  by the river",
           "tags": "|holiday|Places/Portugal/Lisbon|Places|Portugal|Lisbon|holiday|"}
    text = ev.meta_text(row)
    assert text.splitlines() == ["Title: Tram 28", "Description: Our first evening, by the river"[:0] +
                                 "Description: Our first evening,  by the river", "Tags: holiday, Places, Portugal, Lisbon"]
    lines = ev.image_lines("/p/a.jpg", "TRAM 28 PRAZERES", None, None, text)
    assert [(ln.source, ln.text) for ln in lines] == [
        ("ocr", "TRAM 28 PRAZERES"), ("metadata", "Title: Tram 28"),
        ("metadata", "Description: Our first evening, by the river"),
        ("metadata", "Tags: holiday, Places, Portugal, Lisbon")]
    assert ev.meta_text({"title": None, "tags": ""}) == ""
    found = ev.gather("what is the title of the tram photo?", [("/p/a.jpg", lines)])
    assert any(ln.source == "metadata" for ln in found.top(3))
