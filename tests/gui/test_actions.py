"""The shortcuts table is read from the window's actions: every key it lists does something,
and every menu command with a key is listed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtGui import QKeySequence

from imgrag_desktop.gui.actions import ACTIONS, GESTURES, shortcut_rows
from tests.gui.test_indexing import fresh_data


def test_the_shortcuts_table_is_generated_from_the_actions(qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    w = make_window(fresh_data(tmp_path))
    rows = dict((text, keys) for keys, text in shortcut_rows(w.actions_by_name))
    bound = {seq.toString(QKeySequence.SequenceFormat.NativeText)
             for act in w.actions() for seq in act.shortcuts()}
    gestures = {keys for keys, _, _ in GESTURES} | {spec.also for spec in ACTIONS if spec.also}
    for text, keys in rows.items():
        for key in keys.split(", "):
            assert key in bound or key in gestures, f"{key} ({text}) is listed but no action has it"
    for spec in ACTIONS:
        act = getattr(w, spec.name)
        if act.shortcuts():
            assert spec.help in rows, f"{spec.text} has keys but is not in the table"
    assert rows["search"].startswith("Ctrl+F") and "Ctrl+L" in rows["search"]
    assert rows["quit"] == "Ctrl+Q" and "Ctrl+K" in rows["ask a question (Enter asks, Esc cancels)"]
    w.act_filters.trigger()  # one list also drives the menus: the action still works
    assert w.filters_button.isChecked() and w.filter_bar.isVisibleTo(w)
