"""One list of search modes: the CLI's --mode, Searcher.search's validation and the window's
combo (tests/gui/test_search_modes.py) all read search.MODES."""

from __future__ import annotations

import argparse

import pytest

from imgrag_desktop.cli import build_parser
from imgrag_desktop.search import MODE_NAMES, MODES, mode_named
from imgrag_desktop.types import ImgragError


def _mode_action() -> argparse.Action:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return next(a for a in sub.choices["search"]._actions if a.dest == "mode")


def test_the_modes_are_the_four_with_hybrid_first() -> None:
    assert MODE_NAMES == ("hybrid", "visual", "textual", "keyword") == tuple(m.name for m in MODES)
    assert all(m.label and m.description and "\n" not in m.description for m in MODES)


def test_cli_mode_choices_and_help_come_from_the_list() -> None:
    action = _mode_action()
    assert list(action.choices) == [m.name for m in MODES]
    help_text = " ".join(action.help.split())
    for m in MODES:
        assert m.name in help_text and m.description.lower()[1:] in help_text.lower()


def test_an_unknown_mode_is_refused_in_one_line() -> None:
    assert mode_named("keyword").label == "Keyword"
    with pytest.raises(ImgragError, match=r"unknown search mode 'fuzzy': use one of hybrid, visual, textual, keyword"):
        mode_named("fuzzy")
