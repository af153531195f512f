"""Any text a user types or pastes is a valid search (issue 23).

The table of real-looking texts (tests/support/query_texts.py: times, prices, dates, phone
numbers, error codes, URLs, e-mails, paths, code, receipts' lines, hyphenated and non-Latin
text) is read by the parser with its expected reading, then run through `imgrag search` (the
real CLI, test profile) on a real index: real receipts and screenshots read by Tesseract,
LanceDB's full-text index, real COCO photos. A line pasted from a receipt finds that receipt.
The parser is also fed seeded random strings built from the characters that trouble it.
"""

from __future__ import annotations

import json
import random
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from imgrag_desktop.cli import main as cli_main
from imgrag_desktop.search.query import MAX_WEIGHT, as_text, parse, read_terms
from imgrag_desktop.search.understand import understand
from imgrag_desktop.types import ImgragError
from tests.conftest import SCREENSHOTS, SHARED_DATA, coco_images, run_cli
from tests.support.query_texts import PLAIN, QUERY_TEXTS

RECEIPTS = SHARED_DATA / "receipts"
RECEIPT_FILES = ["197.jpg", "522.jpg", "450.jpg", "404.jpg"]
SHOT_FILES = ["00_parse_urls.png", "05_detect_text_with_low_contrast.png", "07_parse_paragraphs_of_text.png"]


def test_the_table_is_large_and_covers_every_kind_of_text():
    assert len(QUERY_TEXTS) >= 40
    assert len({t for t, _ in QUERY_TEXTS}) == len(QUERY_TEXTS)
    assert sum(r == PLAIN for _, r in QUERY_TEXTS) >= 40  # texts that must be searched as typed


@pytest.mark.parametrize("text,reading", QUERY_TEXTS, ids=[t for t, _ in QUERY_TEXTS])
def test_each_text_reads_as_expected_and_never_fails(text: str, reading: str):
    q = parse(text)  # raises on nothing to find: none of these
    assert q.reading() == reading
    if reading == PLAIN:
        assert [(p.text, p.weight, p.negative) for p in q.parts] == [(" ".join(text.split()), 1.0, False)]
        assert q.simple_text == " ".join(text.split())
    chips = understand(text).chips
    assert [c.label for c in chips] == [p.reading() for p in q.operators]
    assert all(c.kind == "operator" and c.words in text and c.fields == {} for c in chips)


def test_removing_an_operator_chip_searches_its_piece_as_literal_text():
    r = understand("beach -people sunset:2")
    neg = next(c for c in r.chips if c.words == "-people")
    back = r.without(neg)
    assert back.text == 'beach "-people" sunset:2'
    q = read_terms(back.text)
    assert [(p.text, p.negative, p.literal) for p in q.operators] == [("-people", False, True), ("sunset", False, False)]
    assert as_text('"red car"') == "red car" and as_text("(a b)^2") == '"(a b)^2"'


@pytest.mark.parametrize("text,message", [
    ("", "empty query"), (" \t\n ", "empty query"),
    ("-people", "only says what to avoid"), ("-people -cars:2 -(blurry photo)", "only says what to avoid"),
])
def test_only_a_blank_query_or_one_only_avoiding_says_so(text: str, message: str):
    with pytest.raises(ImgragError, match=message) as err:
        parse(text)
    assert "\n" not in str(err.value)


# The characters that make the syntax ambiguous, and pieces of real text around them.
_PIECES = ['-', ':', '^', '"', '“', '”', '(', ')', ' ', ' ', ' ', '\t', '\n', '.', ',', '/', '\\', '@', '#', '*',
           '+', '=', '<', '>', "'", '_', '0', '1', '2', '9', '10', '1000', '0.5', '.5', 'a', 'x', 'beach', 'QTY',
           'people', 'SUN-THU', 'http://', 'localhost', '猫', 'é', 'мир', '%', '$', '&', '?', '!', '~', '[', ']']


def _random_text(rng: random.Random) -> str:
    return "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 14)))


def test_fuzz_random_strings_never_fail_and_keep_every_plain_character():
    rng = random.Random(23)
    for _ in range(20_000):
        text = _random_text(rng)
        q = read_terms(text)
        for p in q.parts:
            assert p.kind == "text" and p.text.strip(), (text, q.parts)
            assert 0 < p.weight <= MAX_WEIGHT, (text, q.parts)
            assert p.is_operator or p is q.parts[0], (text, q.parts)
        # What no operator took is searched as typed: the pieces, in order, spaces collapsed.
        rest = text
        for p in q.operators:
            assert p.source in rest, (text, p)
            rest = rest.replace(p.source, " ", 1)
        plain = [p.text for p in q.parts if not p.is_operator]
        assert plain == ([" ".join(rest.split())] if rest.split() else []), (text, q.parts)
        try:
            parse(text)
        except ImgragError as exc:
            assert not text.strip() or (q.negatives and not q.positives), (text, exc)
        assert isinstance(q.reading(), str) and "\n" not in q.reading()


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """Real receipts and screenshots (OCR by Tesseract, full-text index) among real photos."""
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.indexing.stages import run_later_stages
    from imgrag_desktop.services import Services

    if shutil.which("tesseract") is None:
        pytest.fail("Tesseract is not installed: the keyword search of pasted lines cannot be checked")
    missing = [f for f in RECEIPT_FILES if not (RECEIPTS / f).is_file()] + [
        f for f in SHOT_FILES if not (SCREENSHOTS / f).is_file()]
    if missing:
        pytest.fail(f"shared test data not found: {missing}")
    pics = tmp_path_factory.mktemp("pics")
    for folder, names, src in (("receipts", RECEIPT_FILES, RECEIPTS), ("screens", SHOT_FILES, SCREENSHOTS)):
        (pics / folder).mkdir()
        for name in names:
            shutil.copy2(src / name, pics / folder / name)
    (pics / "photos").mkdir()
    for p in coco_images()[:6]:
        shutil.copy2(p, pics / "photos" / p.name)
    data = tmp_path_factory.mktemp("data")
    cfg = AppConfig.load(data, "test")
    cfg.settings.ocr_photos = True  # a scanned receipt may pass for a photo: read every image
    cfg.save()
    svc = Services(cfg)
    svc.indexer().index_paths([str(pics)])
    later = run_later_stages(svc, threading.Event())
    assert later["ocr"]["read"] == len(RECEIPT_FILES) + len(SHOT_FILES) + 6
    assert later["text"]["keyword_index"] == "created"
    return svc, data


def _search(data: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    code = cli_main(["--data-dir", str(data), "--profile", "test", "search", *args, "--json"])
    out = capsys.readouterr()
    return code, json.loads(out.out)["hits"] if code == 0 else None, out.err  # search --json: {hits, understood}


def test_every_text_runs_through_imgrag_search_with_its_reading(library: tuple[Any, Path],
                                                              capsys: pytest.CaptureFixture[str]):
    _, data = library
    for text, reading in QUERY_TEXTS:
        code, hits, err = _search(data, capsys, text, "-k", "3", "--min-score", "off")
        assert code == 0, (text, err)
        assert isinstance(hits, list) and len(hits) == 3 and all(h["path"] and "score" in h for h in hits), text
        said = [line for line in err.splitlines() if line.startswith("imgrag: read as:")]
        assert said == ([f"imgrag: {reading}"] if reading else []), (text, err)


def test_a_command_frees_its_models_when_it_returns(library: tuple[Any, Path], capsys: pytest.CaptureFixture[str]):
    """In-process commands one after another (this suite, a script calling cli.main) hold no
    model of the last one: its ONNX sessions go when it returns, not at a full garbage
    collection (which a big heap rarely runs: the suite once grew by ~160 MB a search)."""
    import gc
    import os

    import onnxruntime as ort

    def sessions() -> set[int]:
        return {id(o) for o in gc.get_objects() if isinstance(o, ort.InferenceSession)}

    _, data = library
    gc.collect()
    before = sessions()  # earlier tests' (a fixture's services, say): not this test's business
    gc.disable()  # what stays alive now stays because something holds it
    try:
        threads = []
        for text in ("a dog", "Total Amount", "beach -people", "cash"):
            code, hits, err = _search(data, capsys, text, "-k", "3", "--min-score", "off")
            assert code == 0 and hits, err
            assert sessions() - before == set()
            threads.append(len(os.listdir("/proc/self/task")))
    finally:
        gc.enable()
    assert max(threads[1:]) <= threads[1], threads  # the first may start a lasting one (LanceDB's loop)


def _names(hits: list[dict[str, Any]]) -> list[str]:
    return [Path(h["path"]).name for h in hits]


@pytest.mark.parametrize("line,image", [
    ("SUN-THU:1000 HRS - 2200 HRS", "197.jpg"),  # the issue's example: an error before
    ("ROUNDING: -RM0.02", "522.jpg"),  # a minus before a code is text, not "avoid"
    ("Total Amount: RM7.72", "522.jpg"),
    ("https://en.wikipedia.org/wiki/Tesseract", "00_parse_urls.png"),
])
def test_keyword_search_finds_the_image_by_a_line_pasted_from_it(library: tuple[Any, Path],
                                                                 capsys: pytest.CaptureFixture[str], line: str,
                                                                 image: str):
    _, data = library
    for mode in ("keyword", "hybrid"):
        code, hits, err = _search(data, capsys, line, "--mode", mode, "-k", "3")
        assert code == 0, err
        assert _names(hits)[:1] == [image], (line, mode, _names(hits))


def test_avoided_words_leave_the_keyword_list_and_numbers_never_do(library: tuple[Any, Path],
                                                                   capsys: pytest.CaptureFixture[str]):
    from imgrag_desktop.search import textmatch

    svc, data = library
    texts = {Path(r["path"]).name: r.get("search_text") or "" for r in svc.store.query(None, ["path", "search_text"]).to_pylist()}
    code, plain, _ = _search(data, capsys, "cash", "--mode", "keyword", "-k", "20")
    with_fb = {n for n in _names(plain) if textmatch.holds_any(texts[n], ["facebook"])}
    assert code == 0 and "522.jpg" in with_fb and set(_names(plain)) - with_fb  # 522: "Follow Us on Facebook"
    code, hits, err = _search(data, capsys, "cash -facebook", "--mode", "keyword", "-k", "20")
    assert code == 0 and "imgrag: read as: text “cash”, avoid “facebook”" in err
    assert set(_names(hits)) == set(_names(plain)) - with_fb
    code, plain, _ = _search(data, capsys, "cash", "--mode", "textual", "-k", "20", "--min-score", "off")
    code, hits, _ = _search(data, capsys, "cash -facebook", "--mode", "textual", "-k", "20", "--min-score", "off")
    fb_all = {n for n, t in texts.items() if textmatch.holds_any(t, ["facebook"])}
    assert code == 0 and "522.jpg" in _names(plain) and set(_names(hits)) == set(_names(plain)) - fb_all
    code, hits, err = _search(data, capsys, "Amount -7.72", "--mode", "keyword", "-k", "10")
    assert code == 0 and "read as" not in err and "522.jpg" in _names(hits)


def test_the_real_command_reads_the_issue_examples(library: tuple[Any, Path]):
    _, data = library
    out = run_cli("search", "SUN-THU:1000 HRS - 2200 HRS", "--json", "-k", "2", data_dir=data)
    assert _names(json.loads(out.stdout)["hits"])[0] == "197.jpg" and "out of range" not in out.stderr
    out = run_cli("search", "beach -people", "-k", "2", data_dir=data)
    assert "imgrag: read as: text “beach”, avoid “people”" in out.stderr
    out = run_cli("search", "-TAX", "INVOICE-", "--json", "-k", "2", data_dir=data)  # unquoted, a dash first
    assert len(json.loads(out.stdout)["hits"]) == 2 and "read as" not in out.stderr
    for text in ("-people", "   "):
        bad = run_cli("search", text, data_dir=data, check=False)
        assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr


QUESTIONS = [f"what does {text} mean?" for text, _ in QUERY_TEXTS[::4]] + [
    "-people?", "-people", '-"blurry photo"', "Which receipt says SUN-THU:1000 HRS - 2200 HRS?",
    "is error -404 page on a screenshot?", "ROUNDING: -RM0.02 -- why negative?", "QTY:2 TABLE:4",
]


def test_questions_with_the_same_texts_are_answered_from_retrieved_pictures(library: tuple[Any, Path],
                                                                             capsys: pytest.CaptureFixture[str]):
    """The real answer path (retrieval, the test profile's tiny vision model, citations) for
    questions holding the table's texts; one that only avoids is searched for its words."""
    svc, data = library
    indexed = {r["path"] for r in svc.store.query(None, ["path"]).to_pylist()}
    answerer = svc.answerer(images=1, max_tokens=8)
    try:
        for question in QUESTIONS:
            answer = answerer.ask(question)
            assert isinstance(answer.text, str) and len(answer.sources) == 1, question
            assert {h.path for h in answer.sources} <= indexed, question
    finally:
        svc.vlm.unload()
    code = cli_main(["--data-dir", str(data), "--profile", "test", "ask", "-TAX", "INVOICE-", "-k", "1",
                     "--max-tokens", "8", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert set(json.loads(out.out)["citations"]) <= indexed


def test_fuzz_random_strings_through_the_searcher_in_every_mode(library: tuple[Any, Path]):
    """Seeded random strings, with control and zero-width characters, emoji and the words a
    full-text query language would read (AND, NOT, title:), searched for real: none fails."""
    svc, _ = library
    rng = random.Random(2026)
    pieces = _PIECES + ["\x00", "\u200b", "\u202e", "😀", "AND", "OR", "NOT", "NEAR", "title:", "{", "}", "|", "`"]
    for mode in ("keyword", "hybrid", "textual", "visual"):
        for _ in range(60):
            text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
            q = read_terms(text)
            try:
                hits = svc.searcher.search(text, k=3, mode=mode, min_score="off")
            except ImgragError as exc:
                assert not q.positives, (mode, text, exc)  # blank, or only avoids
                continue
            assert isinstance(hits, list) and len(hits) <= 3, (mode, text)
