"""docs/commands.md's `--help` blocks, made from the parser itself so the page cannot drift.

Each `## \\`imgrag …\\`` section's first fenced block is that command's `--help` at 100 columns.
`python -m tests.support.commands_doc` rewrites the page in place; a test checks it is current.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "commands.md"
HEADING = re.compile(r"^## `(imgrag(?: [a-z-]+)*)`\s*$", re.M)
FENCE = re.compile(r"^```\s*$", re.M)


def help_text(words: list[str]) -> str:
    """What `imgrag WORDS --help` prints at 100 columns."""
    from imgrag_desktop.cli import build_parser

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            try:
                build_parser().parse_args([*words, "--help"])
            except SystemExit:
                pass
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old
    return out.getvalue().rstrip("\n")


def commands() -> list[list[str]]:
    """Every command and sub-command the parser knows, as the words that name it."""
    from imgrag_desktop.cli import build_parser

    found: list[list[str]] = []

    def walk(parser: argparse.ArgumentParser, words: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    found.append([*words, name])
                    walk(sub, [*words, name])

    walk(build_parser(), [])
    return found


def regenerate(text: str) -> str:
    """The page with every command section's first fenced block replaced by the current help."""
    out, pos = [], 0
    for m in HEADING.finditer(text):
        words = m.group(1).split()[1:]
        start = text.find("```\n", m.end())
        nxt = HEADING.search(text, m.end())
        if start < 0 or (nxt and start > nxt.start()):
            continue
        close = FENCE.search(text, start + 4)
        if close is None:
            continue
        out.append(text[pos:start + 4])
        out.append(help_text(words) + "\n")
        pos = close.start()
    out.append(text[pos:])
    return "".join(out)


def missing_sections(text: str) -> list[str]:
    have = {m.group(1) for m in HEADING.finditer(text)}
    return [" ".join(["imgrag", *w]) for w in commands() if " ".join(["imgrag", *w]) not in have]


if __name__ == "__main__":
    page = PAGE.read_text("utf-8")
    PAGE.write_text(regenerate(page), "utf-8")
    gaps = missing_sections(page)
    if gaps:
        print("sections to write by hand: " + ", ".join(gaps), file=sys.stderr)
