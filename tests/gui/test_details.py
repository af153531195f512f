"""Details of issue 21: folded-copy tooltips say where copies elsewhere live, and the Problems
panel keeps files in its File column and reasons whole."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt


def test_a_folded_copys_tooltip_names_its_folder_when_it_lives_elsewhere(qtbot: Any, tmp_path: Any) -> None:
    from imgrag_desktop.gui.result_model import ResultsModel
    from imgrag_desktop.gui.thumbnails import ImageLoader
    from imgrag_desktop.gui.workers import ResultItem
    from imgrag_desktop.types import Hit

    hit = Hit("/photos/trip/IMG_1.jpg", 0.5, group_size=3,
              group=["/photos/trip/IMG_1 (1).jpg", "/backup/2019/IMG_1.jpg"])
    loader = ImageLoader(tmp_path)
    model = ResultsModel(loader)
    model.set_items([ResultItem(hit, "")])
    tip = model.data(model.index(0), Qt.ItemDataRole.ToolTipRole)
    loader.shutdown()
    assert "+2 near-identical copies" in tip
    assert "IMG_1 (1).jpg" in tip and "/photos/trip/IMG_1 (1).jpg" not in tip  # beside it: by name
    assert "/backup/2019/IMG_1.jpg" in tip  # elsewhere: with its folder, not a bare twin name


def test_problems_panel_keeps_times_out_of_the_file_column(qtbot: Any) -> None:
    from imgrag_desktop.gui.errors_panel import ErrorsPanel
    from imgrag_desktop.gui.messages import Message

    panel = ErrorsPanel()
    qtbot.addWidget(panel)
    reason = "OCR skipped: the OCR engine could not start because its model files are missing " * 3
    panel.set_session_errors([Message("error", reason, at=datetime(2026, 12, 2, 7, 5, 9))])
    panel.set_failures([{"path": "/photos/broken.jpg", "reason": "cannot decode", "stage": "decode"}])
    assert [panel.table.item(i, 0).text() for i in range(2)] == ["", "/photos/broken.jpg"]
    assert panel.table.item(0, 2).text() == "this session, 07:05:09"
    assert panel.table.item(0, 1).text() == reason and panel.table.wordWrap()


def test_dropping_a_removed_folder_keeps_a_nested_indexed_one(qtbot: Any, tmp_path: Any) -> None:
    from imgrag_desktop.gui.result_model import ResultsModel
    from imgrag_desktop.gui.thumbnails import ImageLoader
    from imgrag_desktop.gui.workers import ResultItem
    from imgrag_desktop.types import Hit

    paths = ["/p/a.jpg", "/p/keep/b.jpg", "/p2/c.jpg", "/q/d.jpg"]
    loader = ImageLoader(tmp_path)
    model = ResultsModel(loader)
    model.set_items([ResultItem(Hit(p, 1.0), "") for p in paths])
    assert model.drop_folder("/p", keep=["/p/keep", "/q"]) == 1  # /p2 is not under /p
    assert model.paths() == ["/p/keep/b.jpg", "/p2/c.jpg", "/q/d.jpg"]
    assert model.row_of("/q/d.jpg") == 2 and model.drop_folder("/nowhere") == 0
    loader.shutdown()
