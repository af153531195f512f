"""The search modes, listed once: the CLI's `--mode`, the window's mode combo and its tips, and
Searcher.search's validation all read this list, so a mode added here is offered everywhere.

Kept free of heavy imports: the window builds its combo from it at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass

from imgrag_desktop.types import ImgragError


@dataclass(frozen=True)
class Mode:
    name: str  # what the CLI, the settings and Searcher.search take
    label: str  # the window's name for it
    description: str  # one line a user reads (CLI help, the combo's tip)


MODES: tuple[Mode, ...] = (
    Mode("hybrid", "Hybrid", "Combine what the image looks like with the text read from it"),
    Mode("visual", "Visual", "Match what the image looks like (CLIP)"),
    Mode("textual", "Text in image", "Match the meaning of text read from the image (OCR, captions)"),
    Mode("keyword", "Keyword", "Match exact words in file names, OCR text and captions"),
)
MODE_NAMES: tuple[str, ...] = tuple(m.name for m in MODES)
DEFAULT_MODE = "hybrid"


def mode_named(name: str) -> Mode:
    """The mode called `name`; an unknown name is the user's error, said in one line."""
    for m in MODES:
        if m.name == name:
            return m
    raise ImgragError(f"unknown search mode {name!r}: use one of {', '.join(MODE_NAMES)}")


def modes_help() -> str:
    """The modes as the CLI's --help text lists them."""
    return "; ".join(f"{m.name}{' (default)' if m.name == DEFAULT_MODE else ''}: {m.description[0].lower()}"
                     f"{m.description[1:]}" for m in MODES)
