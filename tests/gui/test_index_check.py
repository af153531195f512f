"""Settings › Storage › Check the index: the check runs off the GUI thread and says what it found,
on a healthy index (through the real dialog) and on one with a truncated data file."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any


def test_the_settings_button_checks_the_index(qtbot: Any, make_window: Any, indexed_dir: Path) -> None:
    w = make_window(indexed_dir)
    dlg = w.open_settings()
    row = dlg.index_check
    with qtbot.waitSignal(row.finished, timeout=60_000) as blocker:
        row.button.click()
        assert not row.button.isEnabled() and row.result.text() == "Checking…"  # the dialog did not wait
    assert blocker.args[0]["ok"] and row.result.text().startswith("Index OK: 20 images")
    dlg.reject()


def test_the_check_row_reports_a_damaged_table(qtbot: Any, indexed_dir: Path, tmp_path: Path) -> None:
    import lance

    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.gui.index_check import IndexCheckRow

    data = tmp_path / "data"
    shutil.copytree(indexed_dir, data)
    uri = data / "index.lancedb" / "images.lance"
    victim = uri / "data" / lance.dataset(str(uri)).get_fragments()[0].data_files()[0].path
    with open(victim, "r+b") as fh:
        fh.truncate(victim.stat().st_size // 2)
    row = IndexCheckRow(AppConfig.load(data, "test"))
    qtbot.addWidget(row)
    with qtbot.waitSignal(row.finished, timeout=60_000):
        row.start()
    assert row.result.text().startswith("Problems: table 'images'") and "imgrag repair" in row.result.text()
