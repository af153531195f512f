"""Which words of a query occur in an image's text, and where (for reasons and highlights).

The keyword index (LanceDB full-text search) ranks; it does not say which words matched nor
where they are on the image. This module answers that from the row's OCR word boxes, with a
tokenizer close to the index's (lower case, accents folded, English stop words dropped, light
suffix stripping), so a word the index matched is the word that lights up.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

STOP_WORDS = frozenset("""
a an and are as at be but by for from had has have he her his i if in into is it its me my no not of on or our
she so than that the their them then there these they this to was we were what when where which who will with
you your about after all also am any been before being both can could did do does each few more most other
some such only own same too very just should would how why here out up down over under again once
""".split())

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_SUFFIXES = ("ations", "ation", "ingly", "ings", "ing", "edly", "ies", "ied", "es", "ed", "ly", "s")


def fold(text: str) -> str:
    """Lower case without accents (the index folds them too)."""
    norm = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in norm if not unicodedata.combining(ch))


def stem(token: str) -> str:
    """A light English stem: enough to match keys/key, reading/read, parties/party."""
    for suf in _SUFFIXES:
        if len(token) > len(suf) + 2 and token.endswith(suf):
            base = token[: -len(suf)]
            return base + "y" if suf in ("ies", "ied") else base
    return token


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(fold(text or ""))


def query_terms(text: str) -> set[str]:
    """Stems of the query's words, stop words dropped (all words when only stop words)."""
    toks = tokens(text)
    kept = [t for t in toks if t not in STOP_WORDS] or toks
    return {stem(t) for t in kept}


def matching_terms(text: str, terms: set[str]) -> list[str]:
    """The words of `text` (as written, first occurrence) whose stem is a query term."""
    seen: dict[str, str] = {}
    for m in _TOKEN.finditer(text or ""):
        for tok in tokens(m.group(0)):
            s = stem(tok)
            if s in terms and s not in seen:
                seen[s] = m.group(0)
    return list(seen.values())


def contains_phrase(text: str, phrase: list[str]) -> bool:
    """Whether the folded tokens `phrase` occur in `text` one after another."""
    if not phrase:
        return False
    toks = tokens(text)
    n = len(phrase)
    first = phrase[0]
    return any(toks[i] == first and toks[i:i + n] == phrase for i in range(len(toks) - n + 1))


# A phrase "nearly" held: its letters, spaces dropped, found in a text's letters with a few
# edits. OCR misreads a letter ("populat"), joins two words ("TQFOR") or splits one; people
# mistype. One edit per NEAR_CHARS_PER_EDIT letters of its words, at most NEAR_MAX_EDITS in all;
# numbers are never edited (38.00 is not 3.00); phrases of at least NEAR_MIN_WORDS words and
# NEAR_MIN_CHARS letters only (shorter ones would match by chance).
NEAR_MIN_WORDS = 3
NEAR_MIN_CHARS = 10
NEAR_CHARS_PER_EDIT = 8
NEAR_MAX_EDITS = 2


@dataclass(frozen=True)
class NearPattern:
    pattern: Any  # a compiled `regex` pattern
    edits: int  # the most edits it allows in all


def near_pattern(phrase: list[str]) -> NearPattern | None:
    """The fuzzy pattern of the folded tokens `phrase` (runs of words fuzzy, numbers exact), or
    None when the phrase is too short to be matched with edits. `regex` (the maintained
    regular-expression module, also a dependency of dateparser) matches approximately, in C."""
    if len(phrase) < NEAR_MIN_WORDS or len("".join(t for t in phrase if not t.isdigit())) < NEAR_MIN_CHARS:
        return None
    import regex

    runs: list[tuple[bool, str]] = []  # (a number, its letters)
    for tok in phrase:
        number = tok.isdigit()
        if runs and runs[-1][0] == number:
            runs[-1] = (number, runs[-1][1] + tok)
        else:
            runs.append((number, tok))
    letters = sum(len(t) for number, t in runs if not number)
    edits = min(NEAR_MAX_EDITS, letters // NEAR_CHARS_PER_EDIT)
    parts = []
    for number, text in runs:
        allowed = 0 if number else min(edits, len(text) // NEAR_CHARS_PER_EDIT)
        parts.append(f"(?:{regex.escape(text)}){{e<={allowed}}}" if allowed else regex.escape(text))
    return NearPattern(regex.compile("".join(parts), regex.BESTMATCH), edits)


def near_edits(near: NearPattern | None, text: str) -> int | None:
    """The fewest edits (letters changed, added or left out) with which `text` holds the phrase
    of `near` (near_pattern), spaces between words not counted; None when it does not."""
    if near is None:
        return None
    m = near.pattern.search("".join(tokens(text)))
    if m is None:
        return None
    edits = int(sum(m.fuzzy_counts))
    return edits if edits <= near.edits else None


def ranked_by(ids: Sequence[str], skip: set[str], key_of: Callable[[str], Any]) -> list[str]:
    """The ids not in `skip` whose `key_of(id)` is not None, smallest key first, ties in their
    order (how the phrase tiers rank their candidates: edits, window size)."""
    found = []
    for n, path in enumerate(ids):
        if path in skip:
            continue
        key = key_of(path)
        if key is not None:
            found.append((key, n, path))
    return [p for _, _, p in sorted(found)]


def holds_any(text: str, phrases: Iterable[str]) -> bool:
    """Whether `text` holds one of `phrases`: a one-word phrase by its stem (as the keyword
    index matches), a longer one word for word."""
    toks: list[str] | None = None
    for phrase in phrases:
        want = tokens(phrase)
        if not want:
            continue
        if toks is None:
            toks = tokens(text)
        if len(want) == 1:
            s = stem(want[0])
            if any(stem(t) == s for t in toks):
                return True
        elif contains_phrase(text, want):
            return True
    return False


def parse_words(raw: Any) -> list[dict[str, Any]]:
    if isinstance(raw, list):
        return [w for w in raw if isinstance(w, dict)]
    if not raw:
        return []
    try:
        data = json.loads(raw)
    except (TypeError, ValueError):
        return []
    return [w for w in data if isinstance(w, dict)] if isinstance(data, list) else []


def matched_boxes(words: Iterable[dict[str, Any]], terms: set[str], limit: int = 200) -> list[dict[str, Any]]:
    """OCR word boxes (original pixels) containing a query term; a QR code's box also when
    its note (what the payload is, in words) holds one."""
    out: list[dict] = []
    if not terms:
        return out
    for w in words:
        text = str(w.get("text", ""))
        said = f"{text} {w.get('note') or ''}"
        if any(stem(t) in terms for t in tokens(said)):
            out.append({"text": text, "x": int(w.get("x", 0)), "y": int(w.get("y", 0)),
                        "w": int(w.get("w", 0)), "h": int(w.get("h", 0))})
            if len(out) >= limit:
                break
    return out
