"""Combined queries and the relevance cut-off: parsing, the vector algebra, and the search paths
on a real index (test profile, real COCO photos)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from imgrag_desktop.cli import main as cli_main
from imgrag_desktop.search.calibration import CalibrationBook, ModelCalibration
from imgrag_desktop.search.query import ParsedQuery, Part, combine, parse
from imgrag_desktop.types import ImgragError
from tests.conftest import coco_images


@pytest.mark.parametrize("text,expected", [
    ("beach -people", [("beach", 1, False), ("people", 1, True)]),
    ("sunset:2 beach", [("beach", 1, False), ("sunset", 2, False)]),
    ("(red car)^2 street", [("street", 1, False), ("red car", 2, False)]),
    ('-"blurry photo":0.5 cat', [("cat", 1, False), ("blurry photo", 0.5, True)]),
    ("dog on a beach", [("dog on a beach", 1, False)]),
    ("meet at 10:30", [("meet at 10:30", 1, False)]),
    ("red t-shirt", [("red t-shirt", 1, False)]),
    ("see http://example.com/a", [("see http://example.com/a", 1, False)]),
    ("-5 degrees", [("-5 degrees", 1, False)]),
    ('"unbalanced quote', [('"unbalanced quote', 1, False)]),  # a lone quote is text
    ("cat^1.5 dog:.5", [("cat", 1.5, False), ("dog", 0.5, False)]),
    ("x -(a  b) y", [("x y", 1, False), ("a b", 1, True)]),
    ("cat:0 dog:11", [("cat:0 dog:11", 1, False)]),  # weights out of range are text, not errors
])
def test_parse(text, expected):
    got = [(p.text, p.weight, p.negative) for p in parse(text).parts]
    assert got == [(t, float(w), n) for t, w, n in expected]


@pytest.mark.parametrize("text,message", [
    ("-people", "only says what to avoid"), ("", "empty query"), ("   ", "empty query"), ("\t\n", "empty query"),
    ("-people -cars:2", "only says what to avoid"),
])
def test_parse_errors_are_one_line(text, message):
    with pytest.raises(ImgragError, match=message) as err:
        parse(text)
    assert "\n" not in str(err.value)


def test_combination_is_the_standardised_weighted_sum():
    rng = np.random.default_rng(3)
    lib = rng.normal(size=(500, 32)).astype(np.float32)
    lib /= np.linalg.norm(lib, axis=1, keepdims=True)
    vecs = rng.normal(size=(3, 32)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    parts = [Part("text", "a", weight=2.0), Part("image", image="x"), Part("text", "n", weight=0.7, negative=True)]
    thresholds = [0.1, 0.3, None]
    c = combine(vecs, parts, lib, thresholds)
    s = lib @ vecs.T
    sd, mu = s.std(axis=0), s.mean(axis=0)
    z = 2.0 * s[:, 0] / sd[0] + s[:, 1] / sd[1] - 0.7 * s[:, 2] / sd[2]
    got = lib @ c.vector
    assert np.isclose(np.linalg.norm(c.vector), 1.0, atol=1e-5)
    assert np.allclose(got / got.std(), z / z.std(), atol=1e-4)  # same score up to scale
    # The cut-off keeps exactly the rows whose weighted standardised margins sum to ≥ 0.
    margin = 2.0 * (s[:, 0] - 0.1) / sd[0] + (s[:, 1] - 0.3) / sd[1] - 0.7 * (s[:, 2] - mu[2]) / sd[2]
    assert ((got >= c.threshold - 1e-6) == (margin >= -1e-5)).all()
    # One plain term: its own vector and threshold, unchanged.
    one = combine(vecs[:1], [Part("text", "a")], lib, [0.25])
    assert np.allclose(one.vector, vecs[0], atol=1e-6) and one.threshold == 0.25
    # A positive term without a calibrated threshold means no automatic cut-off.
    assert combine(vecs[:2], parts[:2], lib, [0.1, None]).threshold is None


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, coco_dir):
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.services import Services

    root = tmp_path_factory.mktemp("query")
    photos = root / "photos"
    photos.mkdir()
    for p in coco_images()[:30]:
        shutil.copy2(p, photos / p.name)
    svc = Services(AppConfig.load(root / "data", "test"))
    svc.indexer().index_paths([str(photos)])
    return svc, photos, root


def _oracle(svc, parts: list[Part]) -> list[str]:
    """The expected ranking, computed independently from the stored vectors."""
    loaded = svc.searcher.visual()
    m = loaded.index.matrix
    vecs = []
    for p in parts:
        if p.kind == "text":
            vecs.append(svc.clip.encode_texts([p.text])[0])
        else:
            vecs.append(m[loaded.row_of[str(p.image)]])
    s = m @ np.stack(vecs).T
    z = sum((-1 if p.negative else 1) * p.weight * s[:, i] / s[:, i].std() for i, p in enumerate(parts))
    return [loaded.paths[i] for i in np.argsort(-z, kind="stable")]


def test_negative_and_weighted_terms_rank_as_computed(indexed, capsys, monkeypatch):
    svc, photos, root = indexed
    hits = svc.searcher.search("dog -cat", k=10, min_score="off", collapse=False, mode="visual")
    assert [h.path for h in hits] == _oracle(svc, [Part("text", "dog"), Part("text", "cat", negative=True)])[:10]
    assert all(h.reasons == ["combined"] for h in hits), [h.reasons for h in hits]
    hits = svc.searcher.search("sunset:2 beach", k=8, min_score="off", collapse=False, mode="visual")
    assert [h.path for h in hits] == _oracle(svc, [Part("text", "beach"), Part("text", "sunset", weight=2)])[:8]
    # The CLI's engine encodes on torch as this one does: the ONNX export's fp32 vectors differ
    # by ~1e-3, which the per-term standardisation turns into swaps at the tail.
    monkeypatch.setenv("IMGRAG_ONNX_DIR", "off")
    code = cli_main(["--data-dir", str(root / "data"), "--profile", "test", "search", "dog -cat", "-k", "10",
                     "--min-score", "off", "--no-collapse", "--mode", "visual", "--json"])
    assert code == 0
    assert [h["path"] for h in json.loads(capsys.readouterr().out)["hits"]] == _oracle(
        svc, [Part("text", "dog"), Part("text", "cat", negative=True)])[:10]


def test_negative_image_pushes_its_look_alikes_down(indexed):
    svc, photos, _ = indexed
    a = sorted(photos.iterdir())[0]
    plain = [h.path for h in svc.searcher.similar(str(a), k=30, min_score="off", collapse=False)]
    c = plain[1]  # the closest look-alike …
    q = ParsedQuery([Part("image", image=str(a)), Part("image", image=c, negative=True)])
    vec, _ = svc.searcher.query_vector(q, min_score="off")
    avoided = [h.path for h in svc.searcher.visual_search(vec, k=30, collapse=False)]
    assert avoided.index(c) >= len(avoided) // 2  # … falls to the bottom half once it is to be avoided
    assert avoided == _oracle(svc, q.parts)


def test_image_plus_text_in_both_directions(indexed, capsys):
    svc, photos, root = indexed
    a = sorted(photos.iterdir())[4]
    expected = _oracle(svc, [Part("image", image=str(a)), Part("text", "at night")])[:6]
    by_text = svc.searcher.search("at night", k=6, like=str(a), min_score="off", collapse=False, mode="visual")
    by_image = svc.searcher.similar(str(a), k=6, text="at night", min_score="off", collapse=False)
    assert [h.path for h in by_text] == [h.path for h in by_image] == expected
    code = cli_main(["--data-dir", str(root / "data"), "--profile", "test", "similar", str(a), "--text", "at night",
                     "-k", "6", "--min-score", "off", "--no-collapse", "--json"])
    assert code == 0 and [h["path"] for h in json.loads(capsys.readouterr().out)] == expected
    code = cli_main(["--data-dir", str(root / "data"), "--profile", "test", "search", "x", "--like", str(root / "no.jpg")])
    assert code == 1 and "no such image" in capsys.readouterr().err


def test_cutoff_hides_weak_matches_and_no_match_is_an_answer(indexed, capsys):
    svc, photos, root = indexed
    searcher = svc.searcher
    model = svc.clip.model_id
    book = CalibrationBook(svc.cfg.data_dir)
    # The random test model fails its probes: no automatic cut-off, the k best are shown.
    cal = book.get(model)
    assert cal is not None and cal.source == "library"
    assert cal.threshold("text") is None and cal.threshold("image") is None
    assert len(searcher.search("a dog", k=5)) == 5
    # Scores below are CLIP cosines: visual mode. (In hybrid mode the cut-off filters the visual
    # list and keeps only relevant text matches; "no good matches" is checked there too.)
    scores = [h.score for h in searcher.search("a dog", k=30, min_score="off", collapse=False, mode="visual")]
    middle = float(np.median(scores))
    try:
        # A calibrated model (as a labelled evaluation would store) hides what falls below.
        book.put(ModelCalibration(model, source="labelled", text_threshold=middle, text_informative=True,
                                  image_threshold=0.99, image_informative=True))
        hits = searcher.search("a dog", k=30, collapse=False, mode="visual")
        assert hits and all(h.score >= middle - 1e-6 for h in hits) and len(hits) < 30
        assert len(searcher.search("a dog", k=30, min_score="off", collapse=False, mode="visual")) == 30
        book.put(ModelCalibration(model, source="labelled", text_threshold=max(scores) + 0.01, text_informative=True))
        assert searcher.search("a dog", k=10) == []
        code = cli_main(["--data-dir", str(root / "data"), "--profile", "test", "search", "a dog"])
        assert code == 0 and "no good matches" in capsys.readouterr().out
        # A fixed minimum from the user wins over the calibration, both ways.
        assert len(searcher.search("a dog", k=30, min_score=min(scores) - 0.01, collapse=False, mode="visual")) == 30
        svc.cfg.settings.min_score = -1.0  # "show everything"
        assert len(searcher.search("a dog", k=10)) == 10
        svc.cfg.settings.min_score = middle
        assert all(h.score >= middle - 1e-6 for h in searcher.search("a dog", k=30, collapse=False, mode="visual"))
    finally:
        svc.cfg.settings.min_score = None
        book.put(cal)
