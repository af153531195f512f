"""The window offers the search modes of search.MODES, in its order, with their labels and
one-line descriptions, the same list the CLI's --mode takes."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from imgrag_desktop.cli import build_parser
from imgrag_desktop.search import MODES


def _cli_mode_choices() -> list[str]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return list(next(a for a in sub.choices["search"]._actions if a.dest == "mode").choices)


def test_cli_choices_gui_combo_and_modes_are_one_list(qtbot: Any, make_window: Any, indexed_dir: Path) -> None:
    w = make_window(indexed_dir)
    combo = w.mode_combo
    shown = [combo.itemData(i) for i in range(combo.count())]
    assert shown == _cli_mode_choices() == [m.name for m in MODES]
    assert [combo.itemText(i) for i in range(combo.count())] == [m.label for m in MODES]
    assert [combo.itemData(i, Qt.ItemDataRole.ToolTipRole) for i in range(combo.count())] == [
        m.description for m in MODES]
    assert combo.isEnabled()
