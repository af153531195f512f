"""The words of `imgrag search` that start with a dash are text unless they are its options."""

from __future__ import annotations

import argparse

import pytest

from imgrag_desktop.cli import FREE_TEXT, build_parser
from imgrag_desktop.cli.free_text import prepare_argv


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    return parser.parse_args(prepare_argv(parser, subs, argv, FREE_TEXT))


@pytest.mark.parametrize("argv,text,limit", [
    (["search", "-TAX", "INVOICE-"], "-TAX INVOICE-", 10),
    (["search", "--verbose"], "--verbose", 10),
    (["search", "-ENOENT", "--json"], "-ENOENT", 10),
    (["search", "beach", "-people", "-k", "3"], "beach -people", 3),
    (["search", "-k3", "-kitchen"], "-kitchen", 3),  # -k3 is k = 3; -kitchen is no number, so a word
    (["search", "-404", "page"], "-404 page", 10),
    (["search", "--lim", "5", "sunset:2", "beach"], "sunset:2 beach", 5),
    (["search", "SUN-THU:1000 HRS - 2200 HRS"], "SUN-THU:1000 HRS - 2200 HRS", 10),
    (["search", "--", "--json"], "--json", 10),
    (["--data-dir", "/tmp/x", "--profile", "test", "search", "-", "--min-score", "-1"], "-", 10),
])
def test_dash_words_are_text_and_options_stay_options(argv: list[str], text: str, limit: int):
    args = _parse(argv)
    assert args.text == text and args.limit == limit


def test_known_options_keep_their_meaning():
    args = _parse(["--profile", "test", "search", "x", "--mode", "keyword", "--min-score", "-1", "--json"])
    assert args.mode == "keyword" and args.min_score == "-1" and args.json and args.profile == "test"
    args = _parse(["similar", "a.jpg", "--text", "-people", "-k", "2"])
    assert args.image == "a.jpg" and args.text == "-people" and args.limit == 2
    args = _parse(["ask", "-ENOENT", "means", "what?", "-k", "2"])
    assert args.question == "-ENOENT means what?" and args.images == 2
    # Other commands are parsed as before: an unknown option there is still an error.
    with pytest.raises(SystemExit):
        _parse(["status", "--verbose"])
