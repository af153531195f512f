"""Free text on the command line: `imgrag search -TAX INVOICE-` searches that text.

argparse takes any word that starts with a dash for an option, so a query such as `-ENOENT`,
`--verbose` or `-TAX INVOICE-` (pasted without quotes, or one word that is a single shell
argument) would end in "unrecognized arguments" or "expected one argument". Before parsing,
the words of a free-text command are sorted here: the command's own options (exact, a unique
`--prefix`, `--opt=value`, a short option with its value attached such as `-k3`) and their
values stay as they are, and every other word is text, handed to argparse after `--` as one
argument, the words in the order typed. So `imgrag search beach -people -k 3` is the query "beach -people" with k = 3.
A value that starts with a dash is joined to its option (`--text -people` → `--text=-people`).
argparse has no hook for "an unknown option is a positional", which is why this is done here.
"""

from __future__ import annotations

import argparse
import re
from typing import Sequence

_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")  # argparse reads these as positionals already


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: a for a in parser._actions for s in a.option_strings}  # noqa: SLF001 (argparse has no public list)


def _takes_value(action: argparse.Action) -> bool:
    return action.nargs != 0 and not isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction,
                                                         argparse._HelpAction, argparse._VersionAction,
                                                         argparse._CountAction, argparse._StoreConstAction))


def _option_of(word: str, options: dict[str, argparse.Action]) -> tuple[argparse.Action | None, bool]:
    """The option `word` names (and whether its value is attached to it), or None: text."""
    if word in options:
        return options[word], False
    if word.startswith("--"):
        name = word.split("=", 1)[0]
        if name in options:
            return options[name], "=" in word
        hits = {options[o] for o in options if o.startswith("--") and o.startswith(name) and len(name) > 2}
        if len(hits) == 1:
            return hits.pop(), "=" in word
        return None, False
    action = options.get(word[:2])
    if action is not None and len(word) > 2 and _takes_value(action):
        value = word[2:].removeprefix("=")
        try:  # -k3 is "-k 3"; -kitchen is the word "-kitchen"
            if callable(action.type):
                action.type(value)
            if action.choices is not None and value not in action.choices:
                return None, False
        except (TypeError, ValueError, argparse.ArgumentTypeError):
            return None, False
        return action, True
    return None, False


def sort_free_text(parser: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """`argv` for a command whose positional is free text: options first, then `--` and the
    text's words joined by spaces into one argument (so `imgrag search beach party` needs no
    quotes either)."""
    options = _options(parser)
    kept: list[str] = []
    text: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            text.extend(argv[i + 1:])
            break
        action, attached = (None, False) if (len(word) < 2 or not word.startswith("-") or _NUMBER.match(word)) \
            else _option_of(word, options)
        if action is None:
            text.append(word)
            i += 1
            continue
        kept.append(word)
        i += 1
        if _takes_value(action) and not attached and i < len(argv):
            value = argv[i]
            if value.startswith("-") and value != "-" and not _NUMBER.match(value):
                kept[-1] = f"{word}={value}" if word.startswith("--") else f"{word}{value}"
            else:
                kept.append(value)
            i += 1
    return kept + (["--", " ".join(text)] if text else [])


def prepare_argv(parser: argparse.ArgumentParser, subparsers: dict[str, argparse.ArgumentParser],
                 argv: Sequence[str], free_text: Sequence[str]) -> list[str]:
    """The whole command line with the words after a free-text command sorted (sort_free_text);
    the global options before the command are read as argparse would."""
    top = _options(parser)
    i = 0
    while i < len(argv):
        word = argv[i]
        if word in subparsers:
            if word in free_text:
                return [*argv[:i + 1], *sort_free_text(subparsers[word], argv[i + 1:])]
            break
        action, attached = _option_of(word, top) if word.startswith("-") else (None, False)
        if action is None and not word.startswith("-"):
            break
        i += 2 if action is not None and _takes_value(action) and not attached else 1
    return list(argv)
