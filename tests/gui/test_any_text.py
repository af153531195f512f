"""The window's search path takes any text (issue 23): each text of the table runs through
the search box, the real query worker and engine (test profile, real photos) without an
error, and the chips row says how it was read (nothing for plain text)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.query_texts import QUERY_TEXTS


def test_every_text_of_the_table_searches_from_the_window(qtbot: Any, make_window: Any, indexed_dir: Path) -> None:
    w = make_window(indexed_dir)
    failed: list[str] = []
    w.searchFailed.connect(failed.append)
    reading = w.page.query_reading
    for text, expected in QUERY_TEXTS:
        with qtbot.waitSignal(w.resultsShown, timeout=60_000,
                              check_params_cb=lambda info, t=text: info.get("kind") == "text"
                              and info.get("label") == f"“{t.strip()}”"):
            w.search(text)
            typed = (reading.text(), reading.isVisible())  # as typed: the reading of the whole text
        assert failed == [], (text, failed)
        assert typed == (expected, bool(expected)), (text, typed)
        # Answered: the operators are said once in the chips row, by their chips or by the reading.
        operator_chips = [c for c in w.page.current.reading.chips if c.kind == "operator"]
        if operator_chips:
            assert reading.isHidden(), (text, reading.text())
        else:
            assert reading.text() == expected and reading.isVisible() == bool(expected), (text, reading.text())
        assert w.model.rowCount() > 0, text


def test_a_query_that_only_avoids_says_so_in_one_line(qtbot: Any, make_window: Any, indexed_dir: Path) -> None:
    w = make_window(indexed_dir)
    with qtbot.waitSignal(w.searchFailed, timeout=30_000) as blocker:
        w.search("-people -cars")
    assert "only says what to avoid" in blocker.args[0] and "\n" not in blocker.args[0]
    assert w.page.query_reading.text() == "read as: avoid “people”, avoid “cars”"
    w.clear_search()  # Esc: the line goes with the text
    assert w.page.query_reading.text() == "" and w.page.query_reading.isHidden()
    for box in list(getattr(w, "_open_boxes", {}).values()):
        box.close()
