"""docs/commands.md stays the command reference: every command has a section, and every help
block in it is what the parser prints now."""

from __future__ import annotations

from tests.support.commands_doc import PAGE, missing_sections, regenerate


def test_every_command_has_a_section():
    assert missing_sections(PAGE.read_text("utf-8")) == []


def test_help_blocks_match_the_parser():
    page = PAGE.read_text("utf-8")
    assert regenerate(page) == page, "docs/commands.md is out of date: run python -m tests.support.commands_doc"
