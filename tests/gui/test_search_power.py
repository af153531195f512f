"""Search power features in the window: the tile region framed in the preview, the relevance
cut-off control (persisted, with a friendly empty state), the filter bar (applied inside
LanceDB, checked against the files themselves) and image + text queries."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw
from PySide6.QtGui import QColor

from tests.conftest import SCREENSHOTS
from tests.gui.conftest import copy_images, index_folder


def size_of(path: str) -> tuple[int, int]:
    with Image.open(path) as im:
        return im.size


def wait_kind(qtbot: Any, w: Any, kind: str, action: Any, count: int | None = None) -> dict[str, Any]:
    def ok(info: dict[str, Any]) -> bool:
        return info.get("kind") == kind and (count is None or info.get("count") == count)

    with qtbot.waitSignal(w.resultsShown, timeout=30_000, check_params_cb=ok) as blocker:
        action()
    return blocker.args[0]


# The region of a tile match ----------------------------------------------------------------------
CANVAS = 2400
OBJ_BOX = (920, 1290, 1480, 1710)


@pytest.fixture(scope="module")
def canvas_lib(tmp_path_factory: pytest.TempPathFactory, coco_jpegs: list[Path]) -> tuple[Path, Path, Path]:
    """A large plan-like canvas with a COCO photo pasted small into it, among a few photos."""
    base = tmp_path_factory.mktemp("tiles")
    lib = copy_images(coco_jpegs[:6], base / "lib")
    img = Image.new("RGB", (CANVAS, CANVAS), "white")
    d = ImageDraw.Draw(img)
    for v in range(0, CANVAS, 120):
        d.line([(v, 0), (v, CANVAS)], fill=(200, 200, 230), width=2)
        d.line([(0, v), (CANVAS, v)], fill=(200, 200, 230), width=2)
    rng = np.random.default_rng(1)
    for _ in range(60):
        x, y = (int(v) for v in rng.integers(0, CANVAS - 300, 2))
        d.rectangle([x, y, x + int(rng.integers(80, 300)), y + int(rng.integers(60, 200))], outline=(30, 30, 30), width=4)
    target = Image.open(coco_jpegs[100]).convert("RGB")
    img.paste(target.resize((OBJ_BOX[2] - OBJ_BOX[0], OBJ_BOX[3] - OBJ_BOX[1])), OBJ_BOX[:2])
    canvas = lib / "plan_with_photo.png"
    img.save(canvas)
    query = base / "query.jpg"  # not indexed: found only inside the canvas
    target.save(query, quality=95)
    report = index_folder(lib, base / "data")
    assert report.extra["tiled_images"] == 1  # type: ignore[attr-defined]
    return base / "data", canvas, query


def test_the_matching_region_of_a_large_image_is_framed_in_the_preview(qtbot: Any, make_window: Any,
                                                                       canvas_lib: Any) -> None:
    from imgrag_desktop.gui.preview import REGION_EDGE

    data, canvas, query = canvas_lib
    w = make_window(data)
    wait_kind(qtbot, w, "similar", lambda: w.find_similar(str(query)))
    top = w.model.item(0).hit
    assert top.path == str(canvas) and top.region is not None and "tile" in top.reasons
    assert w.preview.current_path() == str(canvas)
    c = w.preview.canvas
    assert c.region == [float(v) for v in top.region]
    qtbot.waitUntil(lambda: not c.region_rect().isEmpty(), timeout=30_000)  # once the image is shown
    img, r = c.image_rect(), c.region_rect()
    x0, y0, x1, y1 = top.region
    assert r.left() == pytest.approx(img.left() + x0 / CANVAS * img.width(), abs=1)
    assert r.bottom() == pytest.approx(img.top() + y1 / CANVAS * img.height(), abs=1)
    assert img.contains(r)
    assert "framed part" in w.preview.facts["why"].text()
    # Drawn: the frame's colour on its left edge, and the outside dimmed.
    framed = c.grab().toImage()
    edge = QColor(framed.pixel(int(r.left() + 1.5), int(r.center().y())))
    assert abs(edge.red() - REGION_EDGE.red()) < 40 and abs(edge.blue() - REGION_EDGE.blue()) < 40
    outside = (int(img.left() + 3), int(img.top() + 3))
    c.set_region(None)
    plain = c.grab().toImage()
    assert QColor(framed.pixel(*outside)).lightness() < QColor(plain.pixel(*outside)).lightness() - 15
    # Browsing shows no frame (it is a property of a match).
    wait_kind(qtbot, w, "browse", w.clear_search)
    w._select(w.model.index(w.model.row_of(str(canvas))))
    assert w.preview.canvas.region is None


# The relevance cut-off ------------------------------------------------------------------------------
def test_the_cut_off_hides_weak_results_with_a_friendly_empty_state(qtbot: Any, make_window: Any, indexed_dir: Path,
                                                                   tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(indexed_dir, data)  # the setting is saved: keep the shared data dir as it is
    w = make_window(data)
    bar = w.filter_bar
    assert bar.cutoff.currentText() == "Auto" and not bar.cutoff_value.isEnabled()
    assert wait_kind(qtbot, w, "text", lambda: w.search("a red bus"))["count"] == 20
    w.filters_button.click()
    assert bar.isVisible()
    bar.cutoff.setCurrentIndex(bar.cutoff.findData("fixed"))  # "At least" with its default value
    assert bar.cutoff_value.isEnabled()
    info = wait_kind(qtbot, w, "text", lambda: bar.cutoff_value.setValue(0.99), count=0)
    assert info["hidden_by_cutoff"]
    assert w.stack.currentWidget() is w.no_match
    assert w.no_match_title.text() == "No good matches" and "0.99" in w.no_match_text.text()
    assert w.show_weaker_button.isVisibleTo(w) and not w.clear_filters_button.isVisibleTo(w)
    assert w.cfg.settings.min_score == pytest.approx(0.99)
    assert json.loads((data / "settings.json").read_text())["min_score"] == pytest.approx(0.99)
    # "Show weaker matches" runs this search once without the cut-off; the setting stays.
    assert wait_kind(qtbot, w, "text", w.show_weaker_button.click)["count"] == 20
    assert w.stack.currentWidget() is w.view and w.cfg.settings.min_score == pytest.approx(0.99)
    # Off shows everything and is remembered as -1; Auto goes back to None.
    assert wait_kind(qtbot, w, "text", lambda: bar.cutoff.setCurrentIndex(bar.cutoff.findData("off")))["count"] == 20
    assert json.loads((data / "settings.json").read_text())["min_score"] == -1
    wait_kind(qtbot, w, "text", lambda: w.set_min_score(0.99), count=0)
    w.close()
    w2 = make_window(data)  # remembered across a restart
    assert w2.filter_bar.cutoff.currentText() == "At least"
    assert w2.filter_bar.cutoff_value.value() == pytest.approx(0.99)
    w2.filter_bar.cutoff.setCurrentIndex(0)  # Auto
    assert w2.cfg.settings.min_score is None
    assert json.loads((data / "settings.json").read_text())["min_score"] is None


# Filters --------------------------------------------------------------------------------------------
def _with_exif(src: Path, dest: Path, make: str, model: str) -> Path:
    with Image.open(src) as im:
        img = im.convert("RGB")
    exif = Image.Exif()
    exif[0x010F] = make
    exif[0x0110] = model
    img.save(dest, "JPEG", quality=90, exif=exif)
    return dest


@pytest.fixture(scope="module")
def mixed_lib(tmp_path_factory: pytest.TempPathFactory, coco_jpegs: list[Path]) -> tuple[Path, Path]:
    """Landscape and portrait photos, a camera photo, one photo changed today, and screenshots."""
    shots = sorted(SCREENSHOTS.glob("*.png"))
    if len(shots) < 4:
        pytest.fail(f"the screenshots are not available in {SCREENSHOTS}")
    base = tmp_path_factory.mktemp("mixed")
    lib = base / "lib"
    portrait = [p for p in coco_jpegs if size_of(str(p))[1] > size_of(str(p))[0]][:3]
    landscape = [p for p in coco_jpegs if size_of(str(p))[0] > size_of(str(p))[1]][:4]
    copy_images(portrait + landscape, lib)
    _with_exif(landscape[0], lib / "canon.jpg", "Canon", "Canon EOS 80D")
    for s in (shots[1], shots[5], shots[12], shots[14], shots[9]):  # four screenshots and a document
        shutil.copy2(s, lib / s.name)
    # Explicit times: the shared data's own may be today's (a fresh checkout), so every file gets an
    # old time and exactly one photo is changed today.
    old = datetime(2021, 6, 1, 12, 0).timestamp()
    for f in lib.iterdir():
        os.utime(f, (old, old))
    os.utime(lib / landscape[1].name, None)
    assert index_folder(lib, base / "data").added == 13
    return base / "data", lib


def test_filters_change_what_is_shown(qtbot: Any, make_window: Any, mixed_lib: Any, tmp_path: Path) -> None:
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.services import Services

    data, lib = mixed_lib
    kinds = {r["path"]: r["kind"] for r in Services(AppConfig.load(data, "test")).store.query(None, ["path", "kind"]).to_pylist()}
    shots = {p for p, k in kinds.items() if k == "screenshot"}
    assert len(shots) == 4 and all(p.endswith(".png") for p in shots)  # the engine's kind detection
    w = make_window(data)
    qtbot.waitUntil(lambda: w.model.rowCount() == 13, timeout=30_000)
    w.filters_button.click()

    wait_kind(qtbot, w, "browse", lambda: w.set_filters(kind="screenshot"))
    assert set(w.model.paths()) == shots
    assert w.filters_button.text() == "Filters (1)" and w.filter_bar.clear_button.isEnabled()
    wait_kind(qtbot, w, "browse", lambda: w.set_filters(kind="document"))
    docs = {p for p, k in kinds.items() if k == "document"}
    assert set(w.model.paths()) == docs and str(lib / "09_two_columns.png") in docs

    wait_kind(qtbot, w, "browse", lambda: w.set_filters(orientation="portrait"))
    shown = w.model.paths()
    assert shown and all(size_of(p)[1] > size_of(p)[0] for p in shown)
    assert {p for p in kinds if size_of(p)[1] > size_of(p)[0]} == set(shown)  # checked against the files

    wait_kind(qtbot, w, "browse", lambda: w.set_filters(min_size=500))
    assert set(w.model.paths()) == {p for p in kinds if min(size_of(p)) >= 500}

    wait_kind(qtbot, w, "browse", lambda: w.set_filters(camera="eos"))
    assert w.model.paths() == [str(lib / "canon.jpg")]

    wait_kind(qtbot, w, "browse", lambda: w.set_filters(when="today"))
    today = {p for p in kinds if datetime.fromtimestamp(os.path.getmtime(p)).date() == datetime.now().date()}
    assert set(w.model.paths()) == today and 1 <= len(today) < 13

    # A text search honours the filters too, and nothing passing them is said plainly.
    w.set_filters(kind="photo", orientation="landscape")
    info = wait_kind(qtbot, w, "text", lambda: w.search("a dog on a beach"))
    assert info["count"] > 0 and all(kinds[p] == "photo" and size_of(p)[0] > size_of(p)[1] for p in w.model.paths())
    assert w.filters_button.text() == "Filters (2)"
    info = wait_kind(qtbot, w, "text", lambda: w.set_filters(kind="document", orientation="portrait"), count=0)
    assert info["filtered"] and w.stack.currentWidget() is w.no_match
    assert w.no_match_title.text() == "Nothing passes the filters" and w.clear_filters_button.isVisibleTo(w)
    unfiltered = Services(AppConfig.load(data, "test")).searcher.search("a dog on a beach", k=500)
    assert wait_kind(qtbot, w, "text", w.clear_filters_button.click)["count"] == len(unfiltered)
    assert w.model.paths() == [h.path for h in unfiltered]  # canon.jpg is folded into its original
    assert w.filters_button.text() == "Filters" and not w.filter_bar.clear_button.isEnabled()


def test_words_typed_while_looking_alike_steer_the_lookalikes(qtbot: Any, make_window: Any, mixed_lib: Any) -> None:
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.services import Services

    data, lib = mixed_lib
    photo = str(sorted(lib.glob("*.jpg"))[2])
    w = make_window(data)
    wait_kind(qtbot, w, "similar", lambda: w.find_similar(photo))
    assert w.model.item(0).hit.path == photo
    assert "Refine with words" in w.search_edit.placeholderText()
    info = wait_kind(qtbot, w, "similar", lambda: qtbot.keyClicks(w.search_edit, "at night -people"))
    assert info["label"] == f"images like {Path(photo).name} + “at night -people”"
    assert w.similar_chip.isVisible()  # the image stays part of the query
    engine = Services(AppConfig.load(data, "test")).searcher.similar(photo, k=500, text="at night -people")
    assert w.model.paths() == [h.path for h in engine]
    assert all("combined" in w.model.item(i).hit.reasons for i in range(w.model.rowCount()))
    # Clearing the words goes back to the plain look-alikes; Esc drops the image too.
    w.search_edit.clear()
    info = wait_kind(qtbot, w, "similar", w.search_now)
    assert info["label"] == f"images like {Path(photo).name}" and w.model.item(0).hit.path == photo
    wait_kind(qtbot, w, "browse", w.clear_search)
    assert not w.similar_chip.isVisible() and "Refine" not in w.search_edit.placeholderText()
