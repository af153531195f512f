"""`imgrag eval`'s measures: metrics, character error rate, phrase picking, query files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imgrag_desktop import evaluation as ev
from imgrag_desktop.types import ImgragError


def test_metrics_and_ranks() -> None:
    assert ev.rank_of(["a", "b", "c"], {"c"}) == 3 and ev.rank_of(["a"], {"z"}) is None
    m = ev.metrics([1, 2, None, 6])
    assert m == {"queries": 4, "recall@1": 0.25, "recall@5": 0.5, "mrr": round((1 + 0.5 + 1 / 6) / 4, 4)}


def test_levenshtein_and_cer() -> None:
    assert ev.levenshtein("kitten", "sitting") == 3
    assert ev.levenshtein("", "abc") == 3 and ev.levenshtein("abc", "") == 3
    # Free ends: the expected text inside a longer reading costs only its own errors.
    assert ev.levenshtein("To: Peter Parker <peter.parker@test.com>;", "peter.parker@test.com", True) == 0
    out = ev.cer({"a.png": "Orange, the new black!", "b.png": "xx hello"}, {"a.png": "Orange, the new black!",
                                                                          "b.png": "hello"})
    assert out["files"]["a.png"]["cer"] == 0 and out["files"]["b.png"]["cer"] == 0.6
    assert out["cer"] == round(3 / 27, 4) and out["cer_contained"] == 0


def test_distinctive_phrase_prefers_rare_words() -> None:
    corpus = ["the cat sat on the mat today", "the dog sat on the mat", "the cat and the zebra quartet played"]
    assert ev.distinctive_phrase(corpus[2], corpus, words=3) == "zebra quartet played"
    assert ev.distinctive_phrase("short one", corpus) == "short one"
    qs = ev.exact_queries({"a.png": "hello world", "b.png": "well, hello world again and more words here"})
    assert qs[0]["expected"] == ["a.png", "b.png"]  # every image whose text holds the phrase answers it


def test_paraphrases_are_package_data_with_twenty_queries() -> None:
    qs = ev.paraphrase_queries()
    assert len(qs) == 20 and len({q["source"] for q in qs}) == 20
    assert all(q["set"] == "paraphrase" and len(q["query"].split()) >= 5 for q in qs)


def test_query_files(tmp_path: Path) -> None:
    f = tmp_path / "q.jsonl"
    f.write_text(json.dumps({"query": "red bus", "expected": "bus.jpg"}) + "\n\n" +
                 json.dumps({"query": "cat", "expected": ["a.jpg", "b.jpg"], "set": "pets"}) + "\n")
    qs = ev.load_query_file(f)
    assert qs == [{"query": "red bus", "expected": ["bus.jpg"], "set": "queries"},
                  {"query": "cat", "expected": ["a.jpg", "b.jpg"], "set": "pets"}]
    bad = tmp_path / "bad.json"
    bad.write_text('[{"query": "x"}]')
    with pytest.raises(ImgragError, match="no 'expected'"):
        ev.load_query_file(bad)
    with pytest.raises(ImgragError, match="cannot read"):
        ev.load_query_file(tmp_path / "missing.json")


def test_cer_reads_what_was_read_not_the_notes() -> None:
    words = json.dumps([{"text": "tel:+1 555", "x": 0, "y": 0, "w": 9, "h": 9, "code": True,
                         "note": "QR code with a phone number to call: +1 555"}])
    text = "Call me\ntel:+1 555\nQR code with a phone number to call: +1 555"
    assert ev.read_text(text, words) == "Call me\ntel:+1 555"
    assert ev.read_text("plain", None) == "plain" and ev.read_text(None, "[]") == ""
