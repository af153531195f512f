"""RapidOCR (PP-OCRv6 from the rapidocr wheel) behind the one OCR interface, run for real."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from imgrag_desktop.evaluation.ocr_cases import _font, make_case
from imgrag_desktop.evaluation.ocr_quality import word_recall
from imgrag_desktop.models.ocr import AutoOcr, OcrPool, OcrTimeout, TesseractOcr, ocr_from_config, text_detector
from imgrag_desktop.models.ocr_detect import recognition_model
from imgrag_desktop.models.ocr_rapid import RapidOcr
from imgrag_desktop.search.textmatch import matched_boxes, query_terms
from imgrag_desktop.types import DecodeError, ModelUnavailable
from tests.support.data import COCO, SCREENSHOTS, fail_without_shared_data


def _sign(tmp_path: Path, scale: int = 1) -> tuple[Path, tuple[int, int, int, int]]:
    """A light-grey wall with one dark sign: the word's box is known."""
    img = Image.new("RGB", (1200 * scale, 800 * scale), (200, 196, 190))
    d = ImageDraw.Draw(img)
    font = _font(48 * scale)
    x, y = 300 * scale, 420 * scale
    d.rectangle((x - 30 * scale, y - 20 * scale, x + 520 * scale, y + 90 * scale), fill=(20, 60, 30))
    d.text((x, y), "PLATFORM 9", font=font, fill=(250, 250, 250))
    x0, y0, x1, y1 = d.textbbox((x, y), "PLATFORM", font=font)
    p = tmp_path / f"sign{scale}.png"
    img.save(p)
    return p, (x0, y0, x1, y1)


def _overlaps(word: dict, box: tuple[int, int, int, int]) -> bool:
    bl, bt, br, bb = box
    ix = min(br, word["x"] + word["w"]) - max(bl, word["x"])
    iy = min(bb, word["y"] + word["h"]) - max(bt, word["y"])
    return ix > 0.7 * (br - bl) and iy > 0.5 * (bb - bt)


def test_reads_words_with_boxes_in_original_pixels(tmp_path: Path) -> None:
    path, box = _sign(tmp_path)
    res = RapidOcr(isolated=False).read_path(path)
    assert "PLATFORM 9" in res.text and res.engine.startswith("rapidocr ")
    word = next(w for w in res.words if w["text"] == "PLATFORM")
    assert _overlaps(word, box) and 50 <= word["conf"] <= 100
    # A reduced copy with the original size given: boxes come back in the original's pixels.
    img = Image.open(path)
    small = RapidOcr(isolated=False).read(img.resize((600, 400)), orig_size=img.size)
    assert _overlaps(next(w for w in small.words if w["text"] == "PLATFORM"), box)
    # The preview's highlight finds the matched word's box, as with Tesseract's words.
    hits = matched_boxes(res.words, query_terms("platform"))
    assert [h["text"] for h in hits] == ["PLATFORM"] and _overlaps(hits[0], box)


def test_detector_gates_photos_without_text(tmp_path: Path) -> None:
    fail_without_shared_data()
    det = text_detector()
    sign, _ = _sign(tmp_path)
    assert det.boxes(Image.open(sign)) >= 1
    page, _ = make_case("page", 0)
    assert det.boxes(page) >= 5
    blank = Image.new("RGB", (640, 480), (90, 140, 200))
    assert det.boxes(blank) == 0
    # A text-free photo read with detect_first costs the detector alone: no recognition ran.
    photo = COCO / "val2017" / "000000000139.jpg"
    res = RapidOcr(isolated=False).read_path(photo, detect_first=True)
    assert res.detected == 0 and res.text == "" and res.words == []
    full = RapidOcr(isolated=False).read_path(sign, detect_first=True)
    assert full.detected >= 1 and "PLATFORM" in full.text


def test_turned_and_upside_down_pages_are_read_upright() -> None:
    eng = RapidOcr(isolated=False, timeout_s=0)  # no limit: a loaded machine must not skip the second reading
    for kind, turns in (("turned180", 2), ("turned90", 3)):
        img, case = make_case(kind, 1)
        res = eng.read(img)
        assert res.turns == turns, kind
        assert word_recall(res.text, case.text) >= 0.9, kind
        assert all(0 <= w["x"] < img.width and 0 <= w["y"] < img.height for w in res.words)
    upright, case = make_case("page", 1)
    res = eng.read(upright)
    assert res.turns == 0 and word_recall(res.text, case.text) >= 0.95


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="Tesseract is not installed")
def test_tesseract_reads_turned_pages_too() -> None:
    for kind in ("turned270", "turned180"):
        img, case = make_case(kind, 0)
        res = TesseractOcr(timeout_s=0).read(img)
        assert word_recall(res.text, case.text) >= 0.9, kind
        assert all(w["x"] + w["w"] <= img.width and w["y"] + w["h"] <= img.height for w in res.words)


def test_child_process_keeps_the_time_limit_and_recovers(tmp_path: Path) -> None:
    fail_without_shared_data()
    path, _ = _sign(tmp_path)
    eng = RapidOcr(timeout_s=60, workers=1)
    try:
        assert "PLATFORM" in eng.read_path(path).text  # read in a child process
        eng.timeout_s = 0.001
        with pytest.raises(OcrTimeout):
            eng.read_path(SCREENSHOTS / "09_two_columns.png")
        eng.timeout_s = 60
        assert "PLATFORM" in eng.read_path(path).text  # a fresh child replaced the killed one
        missing = tmp_path / "gone.png"
        got = dict(OcrPool(eng, workers=1).map([(str(path), "photo", True), (str(missing), "photo", True)]))
        assert "PLATFORM" in got[str(path)].text and isinstance(got[str(missing)], DecodeError)
    finally:
        eng.close()


def test_languages_map_to_one_recognition_model(services) -> None:  # noqa: ANN001
    assert recognition_model("eng") == recognition_model("deu+fra+eng") == "latin6"
    with pytest.raises(ModelUnavailable, match="one script"):
        recognition_model("eng+kor")
    with pytest.raises(ModelUnavailable, match="no recognition model"):
        RapidOcr(languages="klingon").check()
    cfg = services.cfg
    cfg.settings.ocr_engine = "rapidocr"
    assert isinstance(ocr_from_config(cfg), RapidOcr)
    cfg.settings.ocr_engine = "auto"
    auto = ocr_from_config(cfg)
    assert isinstance(auto, AutoOcr) and len(auto.engine_ids()) == (2 if shutil.which("tesseract") else 1)
    cfg.settings.ocr_engine = "abbyy"
    with pytest.raises(Exception, match="unknown OCR engine"):
        ocr_from_config(cfg)


def test_one_rapidocr_child_on_two_cores_unless_the_setting_names_more(services, monkeypatch) -> None:  # noqa: ANN001
    from imgrag_desktop.models import ocr as ocr_mod

    cfg = services.cfg
    cfg.settings.ocr_engine = "rapidocr"
    cfg.settings.ocr_workers = 0
    monkeypatch.setattr(ocr_mod.os, "cpu_count", lambda: 2)
    assert ocr_mod.rapid_children(2) == 1 and ocr_from_config(cfg).workers == 1
    monkeypatch.setattr(ocr_mod.os, "cpu_count", lambda: 8)
    assert ocr_mod.rapid_children(7) == 7 and ocr_from_config(cfg).workers == ocr_mod.default_workers()
    monkeypatch.setattr(ocr_mod.os, "cpu_count", lambda: 2)
    cfg.settings.ocr_workers = 2  # named by the user: one child per OCR thread
    assert ocr_from_config(cfg).workers == 2


def test_a_child_reads_a_turned_page_upright_within_its_limit(tmp_path: Path) -> None:
    img, case = make_case("turned180", 0)
    path = tmp_path / "turned.png"
    img.save(path)
    eng = RapidOcr(timeout_s=600, workers=1)
    try:
        assert eng.child_spec()["timeout_s"] == 600  # the child knows the limit it works under
        res = eng.read_path(path)
        assert res.turns == 2 and word_recall(res.text, case.text) >= 0.9
    finally:
        eng.close()


def test_text_in_a_photo_that_reads_poorly_is_not_read_three_more_times(tmp_path: Path) -> None:
    """Only a page is tried turned: an upside-down sign (one line) costs one reading, while an
    upside-down page is still turned upright (test above)."""
    sign, _ = _sign(tmp_path)
    upside = tmp_path / "upside.png"
    Image.open(sign).transpose(Image.Transpose.ROTATE_180).save(upside)

    class Counting(RapidOcr):
        calls: list[bool] = []

        def recognise(self, rgb: Image.Image, enlarge: bool = True):  # type: ignore[no-untyped-def]
            Counting.calls.append(enlarge)
            return super().recognise(rgb, enlarge)

    eng = Counting(isolated=False, timeout_s=0)
    res = eng.read_path(upside)
    assert len(Counting.calls) == 1 and res.turns == 0
    # A page is read at 2x when small; a photo the detector found text in, at its size.
    Counting.calls.clear()
    assert "PLATFORM" in eng.read_path(sign, detect_first=True).text
    eng.read_path(sign)
    assert Counting.calls == [False, True]
    lines, _, mean = RapidOcr(isolated=False).recognise(Image.open(upside).convert("RGB"))
    assert len(lines) < 3 and len("".join(lines)) < 40  # what makes it not a page (whatever its confidence)


def test_only_installed_recognition_models_are_offered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The wheel ships the Latin/Chinese/Japanese model only; another script is offered once its
    model file is in RapidOCR's model folder, and asking for it before says which file, where."""
    from imgrag_desktop.models import ocr_detect

    real = ocr_detect.models_dir()
    assert (real / "PP-OCRv6_rec_small.onnx").is_file()  # what the wheel ships
    offered = set(ocr_detect.languages_supported())
    assert {"eng", "deu", "chi_sim", "jpn"} <= offered
    for script in ocr_detect.installed_scripts() ^ set(ocr_detect.OTHER_SCRIPTS.values()):
        codes = {c for c, s in ocr_detect.OTHER_SCRIPTS.items() if s == script}
        assert not codes & offered, script  # not on this machine: not offered
    monkeypatch.setattr(ocr_detect, "models_dir", lambda: tmp_path)
    with pytest.raises(ModelUnavailable) as err:
        recognition_model("kor")
    msg = str(err.value)
    assert "korean_PP-OCRv5_rec_mobile.onnx" in msg and str(tmp_path) in msg and "tesseract-ocr-kor" in msg
    assert "kor" not in ocr_detect.languages_supported()
    (tmp_path / "korean_PP-OCRv5_rec_mobile.onnx").write_bytes(b"")
    assert recognition_model("kor") == "korean" and "kor" in ocr_detect.languages_supported()
    assert "rus" not in ocr_detect.languages_supported()


def test_a_shared_engine_keeps_its_child_between_runs_and_ends_it_when_idle(tmp_path: Path) -> None:
    import time

    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.services import Services

    path, _ = _sign(tmp_path)
    svc = Services(AppConfig.load(tmp_path / "data", "test"))
    eng = svc.ocr_engine()
    assert svc.ocr_engine() is eng  # the same settings: the same engine
    rapid = eng.engines["rapidocr"]
    rapid.keep_s = 1.0
    try:
        first = dict(OcrPool(eng, workers=1, close=False).map([(str(path), "photo", True)]))
        assert "PLATFORM" in first[str(path)].text
        pids = rapid.child_pids()
        assert len(pids) == 1
        second = dict(OcrPool(eng, workers=1, close=False).map([(str(path), "photo", True)]))
        assert "PLATFORM" in second[str(path)].text and rapid.child_pids() == pids  # no new child started
        deadline = time.monotonic() + 20
        while rapid.child_pids() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert rapid.child_pids() == []  # ended by itself after a second without reading
        assert "PLATFORM" in rapid.read_path(path).text  # and started again when needed
        svc.cfg.settings.ocr_timeout_s = 33.0
        assert svc.ocr_engine() is not eng and rapid.child_pids() == []  # new settings: the old one closed
    finally:
        svc.close_ocr()
        rapid.close()
