"""While a search runs the grid says so (gui/search_wait.py), and only the newest query's
answer is shown: an older one still in flight is dropped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QListView, QWidget

from imgrag_desktop.gui.search_wait import GRACE_MS, SearchWait


def test_the_wait_shows_only_past_the_grace_and_greys_the_old_answer(qtbot: Any) -> None:
    host = QWidget()
    qtbot.addWidget(host)
    host.resize(640, 480)
    view = QListView(host)
    view.setGeometry(0, 0, 640, 480)
    wait = SearchWait(view)
    host.show()
    wait.start("“quick”")
    wait.stop()  # answered within the grace: nothing flickers
    qtbot.wait(GRACE_MS + 100)
    assert wait.isHidden() and view.isEnabled()

    wait.start("“slow”")
    assert wait.waiting and wait.isHidden()
    qtbot.waitUntil(wait.isVisible, timeout=2000)
    assert not view.isEnabled() and wait.isEnabled()  # the old grid greyed, the strip not
    assert wait.label.text() == "Searching “slow”…" and wait.busy.maximum() == 0
    assert wait.geometry().width() > 600 and wait.geometry().top() >= 0
    wait.stop()
    assert wait.isHidden() and view.isEnabled() and not wait.waiting


def test_a_new_query_replaces_the_one_in_flight(qtbot: Any, make_window: Any, indexed_dir: Path) -> None:
    w = make_window(indexed_dir)
    page = w.search_page
    shown: list[dict[str, Any]] = []
    w.resultsShown.connect(shown.append)
    w.search("a red square")
    first = page.pending_id
    w.search("blue circle")  # sent before the first is answered
    assert page.pending_id > first and page.wait.waiting
    qtbot.waitUntil(lambda: any(i.get("label") == "“blue circle”" for i in shown), timeout=60_000)
    qtbot.wait(300)  # time for a late answer of the first query to arrive (and be dropped)
    texts = [i.get("label") for i in shown if i.get("kind") == "text"]
    assert texts[-1] == "“blue circle”" and "“a red square”" not in texts  # never shown: it was stale
    assert not page.wait.waiting and page.view.isEnabled()


def test_results_stream_in_first_screen_first(qtbot: Any, make_window: Any, indexed_dir: Path, monkeypatch: Any) -> None:
    from imgrag_desktop.gui.workers import QueryWorker

    monkeypatch.setattr(QueryWorker, "STREAM_MIN_ROWS", 0)  # this library counts as a large one
    monkeypatch.setattr(QueryWorker, "FIRST_SCREEN", 3)
    w = make_window(indexed_dir)
    page = w.search_page
    order: list[tuple[str, int]] = []
    page.firstResultsShown.connect(lambda info: order.append(("first", info["count"])))
    w.resultsShown.connect(lambda info: order.append(("full", info["count"])) if info.get("kind") == "text" else None)
    w.search("a photo")
    qtbot.waitUntil(lambda: any(k == "full" for k, _ in order), timeout=60_000)
    assert order[0][0] == "first" and 0 < order[0][1] <= 3  # the first screenful, shown first
    assert order[-1][0] == "full" and order[-1][1] > order[0][1]  # then the whole answer
    assert w.model.rowCount() == order[-1][1] and not page.wait.waiting


def test_the_mode_box_is_never_blank_and_the_size_slider_is_labelled(qtbot: Any, make_window: Any,
                                                                     indexed_dir: Path) -> None:
    w = make_window(indexed_dir, wait_ready=False)
    bar = w.search_page.bar
    assert bar.size_label.text() == "Size" and bar.size_label.buddy() is bar.size_slider
    if bar.mode_combo.count() == 0:  # the engine has not said its modes yet
        assert bar.mode_combo.placeholderText() == "Starting…"
    qtbot.waitUntil(lambda: bar.mode_combo.count() > 0, timeout=120_000)
    assert bar.mode_combo.currentText()
    bar.model_failed()  # what the window does when no model could start
    assert bar.mode_combo.count() == 0 and bar.mode_combo.placeholderText() == "No search model"
    assert not bar.mode_combo.isEnabled()


def test_an_empty_search_says_what_was_searched_in_each_model_state(qtbot: Any, make_window: Any,
                                                                     indexed_dir: Path) -> None:
    """With the image model, nothing found is "No images match"; without it (the state the engine
    reports as waiting), only text was searched and the grid says so and where to get the model."""
    from tests.gui.conftest import wait_results

    w = make_window(indexed_dir)
    page = w.search_page
    assert page.clip_waiting == ""  # the test profile's tiny CLIP loaded
    w.cfg.settings.search_mode = "keyword"
    page.set_modes(["keyword", "hybrid"])  # what a window without CLIP offers (workers.warm_up)
    assert page.mode_combo.currentData() == "keyword"
    for waiting, expect in (("", "No images match"), ("no CLIP model installed", "needs the image model")):
        page.clip_waiting = waiting
        w.search("qqzxv wrrtk")
        wait_results(qtbot, w, kind="text")
        assert w.model.rowCount() == 0 and expect in w.view.empty_text, w.view.empty_text
        assert w.stack.currentWidget() is w.view


def test_a_search_sent_while_the_model_loads_says_it_waits_for_the_model(qtbot: Any, make_window: Any,
                                                                          indexed_dir: Path) -> None:
    from tests.gui.conftest import wait_results

    w = make_window(indexed_dir, wait_ready=False)
    page = w.search_page
    assert not page.ready  # the engine's "ready" has not been delivered yet
    w.search("a red square")
    assert page.wait.label.text() == "Loading the image model, then searching “a red square”…"
    wait_results(qtbot, w, kind="text")
    assert not page.wait.waiting
    qtbot.waitUntil(lambda: page.ready, timeout=60_000)
    w.search("a blue circle")
    assert page.wait.label.text() == "Searching “a blue circle”…"  # loaded: just searching
    wait_results(qtbot, w, kind="text")


def test_folders_without_pictures_are_not_called_nothing_added(qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    from tests.gui.test_indexing import fresh_data

    empty = tmp_path / "notes"
    empty.mkdir()
    (empty / "readme.txt").write_text("no pictures here")
    w = make_window(fresh_data(tmp_path, folders=[str(empty)]))
    qtbot.waitUntil(lambda: "No pictures found in your folders" in w.view.empty_text, timeout=60_000)
    assert w.stack.currentWidget() is w.view and w.model.rowCount() == 0
