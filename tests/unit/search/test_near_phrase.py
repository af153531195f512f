"""A phrase held with a few edits (OCR misreads, joined words, typing slips): textmatch's
fuzzy phrase, and its place in the hybrid order, right after the images holding it exactly."""

from __future__ import annotations

from imgrag_desktop.search import textmatch
from imgrag_desktop.search.fusion import ModeList
from imgrag_desktop.search.hybrid import near_phrase, phrase_first


def _edits(phrase: str, text: str) -> int | None:
    return textmatch.near_edits(textmatch.near_pattern(textmatch.tokens(phrase)), text)


def test_joined_words_and_misread_letters_are_near_but_not_exact() -> None:
    body = "A03115 TQFOR SHOPPING WITH MYNEWS.COM PAGOH REST"
    assert not textmatch.contains_phrase(body, textmatch.tokens("TQ FOR SHOPPING WITH"))
    assert _edits("TQ FOR SHOPPING WITH", body) == 0  # only the space differs
    assert _edits("tq for shoping with", body) == 1  # and a letter typed once
    assert _edits("WWW.POPULAR.COM.MY BUY CHINESE", "come again www populat com my bus chinese books") == 2
    assert _edits("www popular com my buy chinese", "www pupulat com my bus chinese") is None  # three edits


def test_numbers_are_never_edited_and_short_phrases_not_matched() -> None:
    assert _edits("PLEASE COME AGAIN 38.00", "please come again 00 51 08") is None
    assert _edits("PLEASE COME AGAIN 38.00", "please come again 36.00") is None
    assert _edits("PLEASE COME AGAIN 38.00", "pleese come again 38.00 thank") == 1
    assert textmatch.near_pattern(textmatch.tokens("red car")) is None  # two words
    assert textmatch.near_pattern(textmatch.tokens("a b 10 2024")) is None  # few letters


def test_near_candidates_fewest_edits_first_and_exact_ones_left_out() -> None:
    bodies = {"two": "thank you please cone agan", "exact": "thank you please come again",
              "one": "thank you pleasecome agan", "none": "thank you", "far": "thunk yuo plaese cmoe agian"}
    ids = ["two", "exact", "one", "none", "far"]
    assert near_phrase("thank you please come again", ids, bodies, {"exact"}) == ["one", "two"]
    assert near_phrase("red car", ids, bodies, set()) == []


def test_near_hits_come_right_after_exact_ones() -> None:
    keyword = ModeList(["a", "b", "c"], [3.0, 2.0, 1.0])
    keyword.exact, keyword.near = ["c"], ["b"]
    order = [("x", 0.9, {"visual"}), ("a", 0.5, {"keyword"}), ("b", 0.4, {"keyword"}), ("c", 0.3, {"keyword"})]
    assert [p for p, _, _ in phrase_first(order, keyword)] == ["c", "b", "x", "a"]
    keyword.exact = []
    assert [p for p, _, _ in phrase_first(order, keyword)] == ["b", "x", "a", "c"]
