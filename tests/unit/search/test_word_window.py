"""A phrase whose words are all on an image close together but not as typed (word_window): the
order-free match, the windows of words and of neighbouring lines, numbers matched exactly, and
the tier's place in the hybrid order, after the exact and the near phrase."""

from __future__ import annotations

from imgrag_desktop.search import word_window as ww
from imgrag_desktop.search.fusion import ModeList
from imgrag_desktop.search.hybrid import phrase_first

# A two-column receipt as OCR reads it, row by row: a column's label, its value below, the footer.
RECEIPT = """ONE ONE THREE SEAFOOD RESTAURANT
Qty Description Total TAX
1 15.00 SR
Noodle Item Single
GST Summary Amount(RM) Tax(RM)
SR (@ 0%) 35.00 0.00
**** Thank You ****
Please Come Again"""


def _window(query: str, text: str) -> ww.Window | None:
    q = ww.window_query(query)
    assert q is not None
    return ww.tightest_window(q, text)


def test_a_two_column_line_is_found_within_neighbouring_lines() -> None:
    w = _window("TAX(RM) 0.00 THANK YOU", RECEIPT)
    assert w is not None and w.lines == 3 and w.extra == 4  # SR, 0 (of 0%), 35.00 lie between
    # the same words, the footer far below the column: not near
    far = RECEIPT.replace("**** Thank You ****\n", "") + "\n" + "\n".join(f"item {i} 1.00" for i in range(8)) + "\nThank You"
    assert _window("TAX(RM) 0.00 THANK YOU", far) is None


def test_words_in_any_order_within_a_few_words_on_any_lines() -> None:
    assert _window("total 20.00 cash", "cash 20.00 total") == ww.Window(extra=0, lines=1, start=0, end=3)
    w = _window("label value pair", "value of the\nfirst\nlabel pair")
    assert w is not None and w.extra == 3 and w.lines == 3
    many_lines = "value\nx\ny\nz\nw\nlabel pair"
    assert _window("label value pair", many_lines) is None  # 4 other words over 6 lines
    wide = "label " + " ".join(f"w{i}" for i in range(13)) + " value pair"
    assert _window("label value pair", wide) is None  # 13 other words on one line
    assert _window("label value pair", "label value") is None  # a word missing


def test_the_tightest_window_is_the_one_measured() -> None:
    text = "alpha x x x beta gamma\nalpha beta gamma"
    assert _window("gamma beta alpha", text) == ww.Window(extra=0, lines=1, start=6, end=8)
    assert _window("gamma beta alpha", "alpha x beta x gamma\nz") == ww.Window(extra=2, lines=1, start=0, end=4)


def test_numbers_are_exact_and_an_amount_may_lose_its_decimal_point() -> None:
    assert _window("PLEASE COME AGAIN 38.00", "please come again 36.00") is None
    assert _window("PLEASE COME AGAIN 38.00", "please come again 3.00") is None
    assert _window("total 1.20 gst", "gst total 1.2") is None
    for written in ("1.20", "1,20", "1 20", "120"):
        assert _window("total 1.20 gst", f"gst total {written}") is not None, written
    assert _window("total 1.20 gst", "gst total 12 0") is None
    # an amount said twice needs two on the image
    assert _window("1.20 TOTAL 20.00 1.20", "total 20.00 1.20") is None
    w = _window("1.20 TOTAL 20.00 1.20", "SR 6 20 00 120\nTotal : 20.00 1.20")
    assert w is not None and w.extra == 0 and w.lines == 2
    # a date is not an amount: its parts are numbers of their own, whatever separates them
    assert ww.query_units("paid 12.02.2018 cash") == [("paid",), ("12",), ("02",), ("2018",), ("cash",)]
    assert ww.query_units("4.00SR and 0.00") == [("4",), ("00sr",), ("and",), ("0", "00")]


def test_a_long_word_may_have_an_edit_a_short_one_not_and_stems_match() -> None:
    assert _window("shopping with us", "us with shoping") is not None  # 8 letters: one edit
    assert _window("shopping with us", "us with shpoing") is None  # two
    assert _window("tax invoice cash", "cash invoice tux") is None  # 3 letters: none
    assert _window("receipts for books", "book for receipt") is not None  # stems


def test_short_and_long_queries_are_left_to_the_other_tiers() -> None:
    assert ww.window_query("red car") is None
    assert ww.window_query("a b c") is None  # too few letters
    assert ww.window_query(" ".join(f"word{i}" for i in range(13))) is None
    assert ww.window_query("tax 0.00 thank") is not None


def test_candidates_tightest_first_exact_and_near_ones_left_out() -> None:
    bodies = {"loose": "total x y cash\n20.00", "tight": "cash total 20.00", "exact": "total 20.00 cash",
              "none": "total cash", "split": "total\n20.00\ncash"}
    ids = ["loose", "tight", "exact", "none", "split"]
    assert ww.words_near("total 20.00 cash", ids, bodies, {"exact"}) == ["tight", "split", "loose"]
    assert ww.words_near("total cash", ids, bodies, set()) == []


def test_window_hits_come_after_exact_and_near_ones() -> None:
    keyword = ModeList(["a", "b", "c", "d"], [4.0, 3.0, 2.0, 1.0])
    keyword.exact, keyword.near, keyword.window = ["c"], ["b"], ["d", "b"]
    order = [("x", 0.9, {"visual"}), ("a", 0.5, {"keyword"}), ("b", 0.4, {"keyword"}),
             ("c", 0.3, {"keyword"}), ("d", 0.2, {"keyword"})]
    assert [p for p, _, _ in phrase_first(order, keyword)] == ["c", "b", "d", "x", "a"]
    keyword.exact = keyword.near = []
    assert [p for p, _, _ in phrase_first(order, keyword)] == ["d", "b", "x", "a", "c"]
