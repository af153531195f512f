"""Fusion with known ranked lists: plain weighted RRF, and the score-aware form hybrid uses."""

from __future__ import annotations

import math
import random

import pytest

from imgrag_desktop.search.fusion import CONFIDENCE_FLOOR, ModeList, fuse, list_weights, rrf


def test_plain_rrf_known_values() -> None:
    out = rrf({"a": ["x", "y", "z"], "b": ["y", "x"]}, k=60)
    got = {f.id: f.score for f in out}
    assert got["x"] == pytest.approx(1 / 61 + 1 / 62)
    assert got["y"] == pytest.approx(1 / 62 + 1 / 61)
    assert got["z"] == pytest.approx(1 / 63)
    assert out[-1].id == "z"
    assert out[0].ranks == {"a": 1, "b": 2} and out[1].ranks == {"a": 2, "b": 1}


def test_rrf_weights_scale_and_zero_drops_a_list() -> None:
    out = rrf({"a": ["x", "y"], "b": ["y", "x"]}, {"a": 3.0, "b": 1.0}, k=1)
    assert [f.id for f in out] == ["x", "y"]
    assert out[0].score == pytest.approx(3 / 2 + 1 / 3)
    only_b = rrf({"a": ["x", "y"], "b": ["y"]}, {"a": 0.0, "b": 1.0})
    assert [f.id for f in only_b] == ["y"]


def test_duplicates_in_one_list_count_once() -> None:
    out = rrf({"a": ["x", "x", "y"]}, k=0)
    assert {f.id: f.score for f in out} == {"x": 1.0, "y": pytest.approx(1 / 3)}


def test_confidence_follows_the_chance_model() -> None:
    rng = random.Random(0)
    noise = sorted((rng.gauss(0, 1) for _ in range(1000)), reverse=True)
    flat = ModeList.from_scores([str(i) for i in range(1000)], noise)
    assert flat.confidence() < 0.35  # the best of 1000 normal draws is what chance gives
    spiked = ModeList.from_scores([str(i) for i in range(1000)], [12.0] + noise[1:])
    assert spiked.confidence() == 1.0
    assert ModeList([], []).confidence() == 0.0
    assert ModeList(["a"], [1.0], conf=0.3).confidence() == 0.3  # a mode's own confidence wins
    assert spiked.relative(12.0) == 1.0 and spiked.relative(spiked.mean - 1) == 0.0
    assert 0 < spiked.relative(6.0) < 1


def test_score_aware_fusion_is_not_led_by_a_list_of_noise() -> None:
    """Two text lists agree on the target with clear margins; a visual list of noise ranks
    a distractor first. Plain RRF lets the noise decide; score-aware fusion does not."""
    n = 300
    rng = random.Random(1)
    docs = [f"d{i}" for i in range(n)]
    text_scores = {d: rng.gauss(0.05, 0.05) for d in docs}
    text_scores["target"] = 0.8
    text_scores["near"] = 0.3
    docs += ["target", "near"]
    visual_scores = {d: rng.gauss(0.0, 0.02) for d in docs}
    visual_scores["near"] = 0.08  # noise happens to put the distractor first
    textual = ModeList.from_scores(*zip(*sorted(text_scores.items(), key=lambda x: -x[1])))
    keyword = ModeList(["target", "near"], [9.0, 1.0], mean=10 / len(docs), std=0.5, population=len(docs), conf=1.0)
    visual = ModeList.from_scores(*zip(*sorted(visual_scores.items(), key=lambda x: -x[1])))
    lists = {"visual": visual, "textual": textual, "keyword": keyword}
    assert textual.ids[:2] == ["target", "near"] and visual.ids[0] == "near"
    assert fuse(lists)[0].id == "target"
    # Plain RRF: rank 1 and rank 2 get almost the same credit, so the noise list decides.
    plain = fuse(lists, score_aware=False)
    assert plain[0].id == "near"
    # The votes say which lists made the result.
    top = fuse(lists)[0]
    assert top.votes["keyword"] == pytest.approx(list_weights(lists)["keyword"])
    assert top.votes["keyword"] > 10 * top.votes.get("visual", 0)


def test_visual_leads_when_text_lists_know_nothing() -> None:
    """A photo query: no keyword match, textual scores at chance level, visual finds one image."""
    rng = random.Random(2)
    docs = [f"p{i}" for i in range(500)]
    textual = ModeList.from_scores(*zip(*sorted(((d, rng.gauss(0.05, 0.04)) for d in docs), key=lambda x: -x[1])))
    vis = {d: rng.gauss(0.15, 0.02) for d in docs}
    vis["dog"] = 0.34
    visual = ModeList.from_scores(*zip(*sorted(vis.items(), key=lambda x: -x[1])))
    lists = {"visual": visual, "textual": textual, "keyword": ModeList([], [], population=500)}
    w = list_weights(lists)
    assert w["visual"] > 0.9 and w["textual"] < 0.5 and w["keyword"] == pytest.approx(CONFIDENCE_FLOOR)
    assert fuse(lists)[0].id == "dog"


def test_confident_text_quiets_the_visual_list() -> None:
    strong = ModeList(["a"], [5.0], mean=0.0, std=1.0, population=100, conf=1.0)
    vis = ModeList(["b"], [5.0], mean=0.0, std=1.0, population=100, conf=1.0)
    assert list_weights({"visual": vis, "keyword": strong})["visual"] == pytest.approx(0.5)
    assert list_weights({"visual": vis})["visual"] == pytest.approx(1.0)
    assert list_weights({"visual": vis, "keyword": strong}, {"visual": 2.0})["visual"] == pytest.approx(1.0)


def test_fused_scores_are_finite_and_sorted() -> None:
    rng = random.Random(3)
    lists = {m: ModeList.from_scores([f"d{rng.randrange(50)}" for _ in range(40)],
                                     sorted((rng.random() for _ in range(40)), reverse=True))
             for m in ("visual", "textual", "keyword")}
    out = fuse(lists, {"visual": 0.5, "textual": 2, "keyword": 1})
    scores = [f.score for f in out]
    assert scores == sorted(scores, reverse=True) and all(math.isfinite(s) and s >= 0 for s in scores)
    assert len({f.id for f in out}) == len(out)


def test_phrase_containment_follows_the_index_tokens() -> None:
    from imgrag_desktop.search.textmatch import contains_phrase, tokens

    text = "Visit https://dynobo.github.io/normcap/ today"
    assert contains_phrase(text, tokens("dynobo.github.io"))
    assert contains_phrase(text, tokens("HTTPS://Dynobo.GitHub.io"))
    assert not contains_phrase(text, tokens("github.com/dynobo"))
    assert not contains_phrase(text, tokens("normcap dynobo"))  # all the words, not in order
    assert not contains_phrase(text, [])


def test_a_list_that_knows_nothing_only_breaks_near_ties() -> None:
    """A paraphrase query: MiniLM is sure (its best two scores 5 % apart, far above chance);
    the keyword list found one everyday word of ten (no confidence). The floor lets the
    keyword list break a near tie but not overturn a 5 % gap."""
    rng = random.Random(4)
    docs = {f"d{i}": rng.gauss(0.15, 0.04) for i in range(300)}
    docs.update({"right": 0.60, "close": 0.57})
    textual = ModeList.from_scores(*zip(*sorted(docs.items(), key=lambda x: -x[1])))
    keyword = ModeList(["close", "d7"], [2.0, 1.0], mean=0.01, std=0.1, population=302, conf=0.01)
    assert textual.confidence() == 1.0 and keyword.confidence() == 0.01
    assert [f.id for f in fuse({"textual": textual, "keyword": keyword})[:2]] == ["right", "close"]
    tie = ModeList.from_scores(*zip(*sorted({**docs, "close": 0.599}.items(), key=lambda x: -x[1])))
    assert fuse({"textual": tie, "keyword": keyword})[0].id == "close"


def test_keyword_rescoring_by_coverage_and_phrase() -> None:
    from imgrag_desktop.search.hybrid import rescore_keyword

    ids = ["lookalike", "exact", "scattered", "one-word"]
    bm25 = [9.6, 11.3, 8.0, 12.0]
    bodies = ["https://github.com/dynobo/normcap",
              "see https://dynobo.github.io/normcap/ now",
              "normcap io github https dynobo",  # every word, not in order
              "github github github"]
    order, scores, coverage, exact = rescore_keyword("https://dynobo.github.io/normcap/", ids, bm25, bodies)
    assert order == ["exact", "scattered", "lookalike", "one-word"]
    assert scores == pytest.approx([11.3 * 2, 8.0, 9.6 * 0.8 ** 2, 12.0 * 0.2 ** 2])
    assert coverage == 1.0 and exact == ["exact"]
    # A body the simple stemmer cannot match still counts as one word (the index matched it).
    order, scores, coverage, exact = rescore_keyword("running shoes", ["a"], [3.0], ["ran"])
    assert scores == [3.0 * 0.5 ** 2] and coverage == 0.5 and exact == []
    assert rescore_keyword("the", ["a"], [1.0], ["the"])[3] == []  # one word: no phrase rule
