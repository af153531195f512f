"""A new query truly cancels the running one: the old search stops at its next check point
(search/cancel.py) instead of running to the end in the background, and the grid shows the
new query's answer. Real window, real index, real search; the only hook holds the first
search inside its copy folding until the user has typed the second."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from imgrag_desktop.search.duplicates import DuplicateFinder
from tests.gui.conftest import wait_results


def test_a_new_query_stops_the_running_search(qtbot: Any, make_window: Any, indexed_dir: Path,
                                              monkeypatch: Any) -> None:
    inside, release = threading.Event(), threading.Event()
    folded: list[int] = []  # folds that ran to their end
    real_proposals, real_collapse = DuplicateFinder._proposals, DuplicateFinder.collapse

    def proposals(self: DuplicateFinder, items: list[Any]) -> Any:
        if not inside.is_set():  # the first search: held here until the second is typed
            inside.set()
            assert release.wait(30)
        return real_proposals(self, items)

    def collapse(self: DuplicateFinder, hits: list[Any], *a: Any, **kw: Any) -> Any:
        out = real_collapse(self, hits, *a, **kw)
        folded.append(len(hits))
        return out

    monkeypatch.setattr(DuplicateFinder, "_proposals", proposals)
    monkeypatch.setattr(DuplicateFinder, "collapse", collapse)
    w = make_window(indexed_dir)
    page = w.search_page
    cancelled: list[int] = []
    w.query_worker.cancelled.connect(cancelled.append)
    shown: list[dict[str, Any]] = []
    w.resultsShown.connect(shown.append)

    w.search("a red square")
    first = page.pending_id
    qtbot.waitUntil(inside.is_set, timeout=60_000)  # the first search is folding its copies
    w.search("blue circle")
    release.set()
    info = wait_results(qtbot, w, "text")
    assert info["label"] == "“blue circle”" and info["count"] > 0
    # The first search stopped, it did not finish in the background (the start-up browse, when
    # it was still running as the first query was typed, was stopped the same way).
    assert first in cancelled and page.pending_id not in cancelled
    assert len(folded) == 1  # only the second search's folding ran to its end
    assert [i["label"] for i in shown if i.get("kind") == "text"] == ["“blue circle”"]
    assert w.model.rowCount() == info["count"] and not page.wait.waiting
