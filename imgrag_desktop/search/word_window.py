"""A phrase whose words are all on an image, close together, but not as typed.

A line copied from a receipt of two columns ("TAX(RM) 0.00 THANK YOU": a column's label, its
value on the row below, the footer under that), a label and its value typed the other way round
("total 20.00" for "20.00 TOTAL"), a phrase whose words a price or a line break splits, an
amount whose decimal point OCR lost ("1.20" read "120"): neither the exact phrase nor the near
one (textmatch) holds it, and BM25 ranks every text holding the words anywhere alike. This tier
finds, among the keyword list's candidates, the texts holding every word of the query inside a
small window, of words (at most WINDOW_SLACK other words among them) or of neighbouring lines
(at most WINDOW_LINES rows of the text, which is the OCR's reading order: a row of a receipt is
one line), and orders them by how tight the window is: fewest other words, then fewest lines.

Words are matched as the near phrase matches them: numbers exactly (38.00 is not 3.00), a word
with one edit per NEAR_CHARS_PER_EDIT letters, or by its stem (textmatch.stem). An amount with
cents ("1.20") is one number, found written 1.20, 1 20 or 120 (a decimal point is the character
OCR loses most on a receipt). Each word of the query needs a word of its own in the text (a
query saying 1.20 twice needs two). Written here: it is a small window search over the texts
the keyword index already returned; comparing two words with edits is `regex`'s (in C).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

from imgrag_desktop.search import textmatch

WINDOW_MIN_WORDS = 3  # query words; two words near each other is what BM25 already ranks
WINDOW_MAX_WORDS = 12  # a longer query is a description, not a phrase read off an image
WINDOW_MIN_CHARS = 6  # letters and digits of the query, all words together
WINDOW_SLACK = 3  # other words a window may hold among the query's, on any number of lines ...
WINDOW_LINES = 3  # ... or, within this many neighbouring lines,
WINDOW_LINE_SLACK = 12  # up to this many
# Words a query needs before a picture holding them this way makes it a phrase to search as
# typed, not read for filters (understood.pasted_phrase): "museum in spring" stays a season.
LITERAL_MIN_WORDS = 4

# An amount with cents, standing alone: 1.20, 20,00 (not a date 12.02.2018, not 4.00SR).
_AMOUNT = re.compile(r"(?<![\w.,])(\d+)[.,](\d\d)(?![\w]|[.,]\d)")

Unit = tuple[str, ...]  # one word, or an amount's two parts (whole, cents)


@dataclass(frozen=True)
class WindowQuery:
    units: tuple[Unit, ...]  # the query's distinct words and amounts
    need: tuple[int, ...]  # how many times each occurs in the query
    stems: tuple[str | None, ...]  # a word's stem (None for a number or an amount)
    fuzzy: tuple[Any, ...]  # a compiled `regex` allowing a word's edits, or None


@dataclass(frozen=True)
class Window:
    extra: int  # other words inside the window
    lines: int  # lines the window spans
    start: int  # token positions of its first and last word
    end: int


def query_units(text: str) -> list[Unit]:
    """The query's words (textmatch.tokens) in order, each amount with cents as one unit."""
    folded = textmatch.fold(text or "")
    out: list[Unit] = []
    pos = 0
    for m in _AMOUNT.finditer(folded):
        out += [(t,) for t in textmatch.tokens(folded[pos:m.start()])]
        out.append((m.group(1), m.group(2)))
        pos = m.end()
    return out + [(t,) for t in textmatch.tokens(folded[pos:])]


def window_query(text: str) -> WindowQuery | None:
    """The words of a query to find in any order, or None when it is too short (or too long)
    to be matched that way."""
    units = query_units(text)
    if not WINDOW_MIN_WORDS <= len(units) <= WINDOW_MAX_WORDS or sum(len("".join(u)) for u in units) < WINDOW_MIN_CHARS:
        return None
    import regex

    distinct: list[Unit] = []
    need: list[int] = []
    for u in units:
        if u in distinct:
            need[distinct.index(u)] += 1
        else:
            distinct.append(u)
            need.append(1)
    stems: list[str | None] = []
    fuzzy: list[Any] = []
    for u in distinct:
        word = u[0] if len(u) == 1 and not any(ch.isdigit() for ch in u[0]) else None
        stems.append(textmatch.stem(word) if word else None)
        edits = min(textmatch.NEAR_MAX_EDITS, len(word) // textmatch.NEAR_CHARS_PER_EDIT) if word else 0
        fuzzy.append(regex.compile(f"(?:{regex.escape(word)}){{e<={edits}}}") if word and edits else None)
    return WindowQuery(tuple(distinct), tuple(need), tuple(stems), tuple(fuzzy))


def _lookup(q: WindowQuery, words: set[str]) -> dict[str, int] | None:
    """Each of a text's distinct `words` that stands for a query unit (itself, an amount's
    digits written together, a word of the same stem or with a few edits) → that unit; None
    when some unit is not among them at all (most candidates lack one: no window to look for).
    Numbers are checked first, being exact and cheap."""
    out: dict[str, int] = {}
    for i, u in enumerate(q.units):
        if q.stems[i] is not None:
            continue
        whole = "".join(u)
        if whole in words:
            out[whole] = i
        elif len(u) == 1 or not (u[0] in words and u[1] in words):  # an amount may be 1 and 20, found in place
            return None
    for i, u in enumerate(q.units):
        s = q.stems[i]
        if s is None:
            continue
        word = u[0]
        found = word in words
        if found:
            out[word] = i
        pat = q.fuzzy[i]
        for w in words:
            # a stem keeps a word's first three letters
            if w not in out and ((w[:3] == s[:3] and textmatch.stem(w) == s)
                                 or (pat is not None and abs(len(w) - len(word)) <= 2 and pat.fullmatch(w))):
                out[w] = i
                found = True
        if not found:
            return None
    return out


def tightest_window(q: WindowQuery, text: str) -> Window | None:
    """The tightest window of `text` holding every word of `q` (Window), or None when no
    window small enough holds them all (see the module doc)."""
    unit_of = _lookup(q, set(textmatch.tokens(text or "")))
    if unit_of is None:
        return None
    split = {(u[0], u[1]): i for i, u in enumerate(q.units) if len(u) == 2}
    hits: list[tuple[int, int, int, int]] = []  # (first token position, words taken, line, query unit)
    seen = [0] * len(q.units)
    pos = 0
    for line_no, line in enumerate((text or "").splitlines()):
        toks = textmatch.tokens(line)
        j = 0
        while j < len(toks):
            i = split.get((toks[j], toks[j + 1]), -1) if split and j + 1 < len(toks) else -1
            width = 2 if i >= 0 else 1
            if i < 0:
                i = unit_of.get(toks[j], -1)
            if i >= 0:
                hits.append((pos + j, width, line_no, i))
                seen[i] += 1
            j += width
        pos += len(toks)
    if any(s < n for s, n in zip(seen, q.need)):
        return None
    best: Window | None = None
    have = [0] * len(q.units)
    short = len(q.units)  # query units not yet held as often as needed
    taken = 0  # words the hits of the window take
    left = 0
    for right, (_, width, _, i) in enumerate(hits):
        have[i] += 1
        taken += width
        if have[i] == q.need[i]:
            short -= 1
        while short == 0:
            start, first_width, first_line, j = hits[left]
            end, last_width, last_line, _ = hits[right]
            end += last_width - 1
            w = Window(extra=end - start + 1 - taken, lines=last_line - first_line + 1, start=start, end=end)
            near = w.extra <= WINDOW_SLACK or (w.lines <= WINDOW_LINES and w.extra <= WINDOW_LINE_SLACK)
            if near and (best is None or (w.extra, w.lines) < (best.extra, best.lines)):
                best = w
            have[j] -= 1
            taken -= first_width
            if have[j] < q.need[j]:
                short += 1
            left += 1
    return best


def words_near(text: str, ids: Sequence[str], body_of: dict[str, str | None], skip: set[str]) -> list[str]:
    """The candidates (not in `skip`: those holding the phrase exactly or nearly) whose text
    holds every word of the query in a small window, tightest first, ties in their order."""
    q = window_query(text)
    if q is None:
        return []

    def size(path: str) -> tuple[int, int] | None:
        w = tightest_window(q, body_of.get(path) or "")
        return None if w is None else (w.extra, w.lines)

    return textmatch.ranked_by(ids, skip, size)
