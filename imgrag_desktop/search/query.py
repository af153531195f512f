"""Combined queries: several texts and images, weighted, some to avoid, as one CLIP vector.

Syntax of a text query (the window's search box and `imgrag search` read the same):
    beach -people           look for "beach", avoid "people"
    sunset:2 beach          "sunset" counts twice as much as "beach"
    (red car)^2 street      a parenthesised phrase with a weight is one term
    "SUN-THU:1000 HRS"      quotes: a literal phrase, nothing inside is an operator
    -"blurry photo":0.5     avoid, with half the usual weight
    dog on a beach          plain words stay together as one phrase (CLIP reads phrases best)
Any text is a valid query: an operator applies only in its unambiguous form (_operator says
which), and everything else is searched as typed: times (10:30), ranges (SUN-THU:1000),
negative numbers and codes (-404), `a - b`, URLs with ports, e-mails, paths, code, receipt
lines (QTY:2), hyphenated and non-Latin words. Only a blank query, or one that only says what
to avoid, is an error. `ParsedQuery.reading()` says in one line how a query was read (the
window shows it under the box, `imgrag search` on stderr). An image can join any query
(`imgrag search TEXT --like IMAGE`, `imgrag similar IMAGE --text TEXT`).

How the terms combine: each term's cosine scores over the library are put on a common
footing by dividing by their spread (standard deviation) over the library, then added with
their weights (negative terms subtracted, weight 1 unless given). Since every score is a dot
product, this is one vector,
    Q = Σ ± wᵢ · qᵢ / σᵢ,
searched like any other (normalised, so the score stays a cosine). Dividing by the spread
matters for image + text: image-to-image cosines spread several times wider than
text-to-image ones, and a plain sum would let the image drown the text.

The relevance cut-off follows from the same algebra: a hit is kept when its weighted
standardised margins over each positive term's calibrated threshold θᵢ, minus the negative
terms' excess over their library mean μⱼ, add up to at least zero, i.e.
    x·Q ≥ Σ₊ wᵢ θᵢ / σᵢ − Σ₋ wⱼ μⱼ / σⱼ,
which for a single term is exactly "score ≥ θ".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from imgrag_desktop.types import ImgragError

if TYPE_CHECKING:  # numpy is imported where vectors are combined: reading a query needs none of it,
    import numpy as np  # and `imgrag search` asking a running watcher must start fast

NEGATIVE_WEIGHT = 1.0
MAX_WEIGHT = 10.0
SPREAD_SAMPLE = 20_000  # library rows used to measure a term's spread

# The operators, each only in a form ordinary text does not take (see _operator). A piece of
# the query that does not match one of these whole, up to the next space, is text.
_WORD = r"[^\W\d_]+(?:['’-][^\W\d_]+)*"  # letters, maybe hyphenated: sunset, t-shirt, l'été, 猫
_NEG_WORD = r"[^\W\d_][^\W_]*(?:['’-][^\W_]+)*"  # the same, digits allowed after the first letter
_WEIGHT = r"(?:\d(?:\.\d)?|10|\.\d)"  # 0.5, 2, 1.5, 10: a small number, one decimal at most
_END = r"(?=\s|$)"
_PHRASE = re.compile(r'(?P<neg>-)?(?P<open>["“„])(?P<text>[^"“”„]*)(?P<close>["”“])'
                     rf"(?:[:^](?P<weight>{_WEIGHT}))?" + _END)
_GROUP = re.compile(rf"(?P<neg>-)?\((?P<text>[^()]*)\)(?:[:^](?P<weight>{_WEIGHT}))?" + _END)
_WEIGHTED = re.compile(rf"(?P<text>{_WORD})[:^](?P<weight>{_WEIGHT})" + _END)
_NEGATIVE = re.compile(rf"-(?P<text>{_NEG_WORD})(?:[:^](?P<weight>{_WEIGHT}))?" + _END)


@dataclass
class Part:
    kind: str  # text | image
    text: str = ""
    image: Any = None  # a path or a PIL image, for image parts
    weight: float = 1.0
    negative: bool = False
    source: str = ""  # the piece of the query it was read from ("" for the plain text and images)
    literal: bool = False  # a "quoted" phrase: searched as written

    def label(self) -> str:
        what = self.text if self.kind == "text" else f"image {getattr(self.image, 'filename', None) or self.image}"
        sign = "-" if self.negative else ""
        return f"{sign}{what}" + (f" ×{self.weight:g}" if self.weight != 1 else "")

    @property
    def is_operator(self) -> bool:
        """Read from operator syntax (a weight, a minus, quotes), not plain words."""
        return bool(self.source)

    def reading(self) -> str:
        """How this term was read, in words: 'avoid “people”', '“sunset” ×2', 'phrase “red car”'."""
        what = f"“{self.text}”" if self.kind == "text" else self.label()
        if self.negative:
            out = f"avoid {what}"
        elif self.literal:
            out = f"phrase {what}"
        else:
            out = what
        return out + (f" ×{self.weight:g}" if self.weight != (NEGATIVE_WEIGHT if self.negative else 1.0) else "")


@dataclass
class ParsedQuery:
    parts: list[Part] = field(default_factory=list)

    @property
    def positives(self) -> list[Part]:
        return [p for p in self.parts if not p.negative]

    @property
    def negatives(self) -> list[Part]:
        return [p for p in self.parts if p.negative]

    @property
    def operators(self) -> list[Part]:
        """The terms read from operator syntax (what the reading shows)."""
        return [p for p in self.parts if p.is_operator]

    @property
    def simple_text(self) -> str | None:
        """The text when the query is one plain phrase (searched exactly as before)."""
        if len(self.parts) == 1 and self.parts[0].kind == "text" and not self.parts[0].negative:
            return self.parts[0].text
        return None

    def with_image(self, image: Any, weight: float = 1.0) -> "ParsedQuery":
        return ParsedQuery([Part("image", image=image, weight=weight), *self.parts])

    def describe(self) -> str:
        return " + ".join(p.label() for p in self.positives) + "".join(f" - {p.label()[1:]}" for p in self.negatives)

    def reading(self) -> str:
        """One line saying how the operators were read ('' when the query is all plain text):
        'searched for “beach”, avoid “people”, “sunset” ×2'. The window shows it under the
        search box and `imgrag search` prints it on stderr."""
        if not self.operators:
            return ""
        plain = [p for p in self.parts if p.kind == "text" and not p.is_operator]
        pieces = [f"text “{p.text}”" for p in plain] + [p.reading() for p in self.operators]
        return "read as: " + ", ".join(pieces)


def _long_enough(word: str, n: int) -> bool:
    """ASCII words of at least n letters; any word in other scripts (one CJK letter is a word)."""
    return len(word) >= n or not word.isascii()


def _capitals(word: str) -> bool:
    """A word in capitals (QTY, TAX, ENOENT): receipts and error codes write these, not people
    typing an operator."""
    return sum(ch.isupper() for ch in word) >= 2 and word.isupper()


def _operator(text: str, pos: int) -> tuple[Part, int] | None:
    """The operator starting at `pos` (the start of the query or just after a space), if the
    piece there is one whole and unambiguous: a "quoted phrase" (maybe -"avoided", maybe
    "weighted":2), -(a group) or (a group)^2, word:2 or word^2 (letters, at least two of
    them, not in capitals: QTY:2 on a receipt is text), -word (a letter first, at least three
    of them and not in capitals: `ls -la` and "-TAX INVOICE-" are text). Anything else is
    text: 10:30, -404, SUN-THU:1000, a - b, localhost:8080, print("hi"), (555) 123-4567."""
    m = _PHRASE.match(text, pos)
    if m:
        term = " ".join(m.group("text").split())
        if term:
            return _part(m, term, literal=True), m.end()
    m = _GROUP.match(text, pos)
    if m and (m.group("neg") or m.group("weight")):
        term = " ".join(m.group("text").split())
        if re.search(r"[^\W\d_]", term):
            return _part(m, term), m.end()
    m = _WEIGHTED.match(text, pos)
    if m and _long_enough(m.group("text"), 2) and not (_capitals(m.group("text")) and m.group(0)[len(m.group("text"))] == ":"):
        return _part(m, m.group("text")), m.end()
    m = _NEGATIVE.match(text, pos)
    if m and _long_enough(m.group("text"), 3) and not _capitals(m.group("text")):
        return _part(m, m.group("text"), negative=True), m.end()
    return None


def _part(m: re.Match[str], term: str, negative: bool = False, literal: bool = False) -> Part:
    neg = negative or bool(m.groupdict().get("neg"))
    weight = m.group("weight")
    w = float(weight) if weight is not None else (NEGATIVE_WEIGHT if neg else 1.0)
    return Part("text", term, weight=w, negative=neg, source=m.group(0), literal=literal)


def as_text(piece: str) -> str:
    """An operator's piece of a query written so that it reads as text: '-people' becomes
    '"-people"' (a literal phrase); a quoted phrase gives its words back plain."""
    m = _PHRASE.fullmatch(piece)
    if m is not None:
        return " ".join(m.group("text").split())
    return f'"{piece}"' if '"' not in piece else piece.replace('"', " ")


def literal(text: str | None) -> str:
    """`text` with every operator piece written as text (as_text): what a question that only
    avoids is searched for, since a question is never refused for its wording."""
    q = read_terms(text)
    out = text or ""
    for p in q.operators:
        out = out.replace(p.source, as_text(p.source), 1)
    return out


def read_terms(text: str | None) -> ParsedQuery:
    """The terms of a query string; never fails. Plain text (everything that is not an
    operator, see _operator) stays together, as typed, in one phrase that comes first."""
    text = text or ""
    plain: list[str] = []
    parts: list[Part] = []
    pos = 0
    n = len(text)
    while pos < n:
        if text[pos].isspace():
            pos += 1
            continue
        found = _operator(text, pos)
        if found is not None and found[0].weight > 0 and found[0].weight <= MAX_WEIGHT:
            parts.append(found[0])
            pos = found[1]
            continue
        end = pos
        while end < n and not text[end].isspace():
            end += 1
        plain.append(text[pos:end])
        pos = end
    main = " ".join(plain)
    if main:
        parts.insert(0, Part("text", main))
    return ParsedQuery(parts)


def parse(text: str | None, allow_empty: bool = False) -> ParsedQuery:
    """Terms of a query string (read_terms). Raises ImgragError (one line) only on a query with
    nothing to find: blank, or only things to avoid."""
    q = read_terms(text)
    if not q.positives and not allow_empty:
        if q.negatives:
            raise ImgragError("the query only says what to avoid: add something to look for (e.g. 'beach -people')")
        raise ImgragError("empty query: type some words to search for")
    return q


@dataclass
class Combined:
    vector: np.ndarray  # unit length
    threshold: float | None  # automatic cut-off on this vector's cosine, when every positive term has one
    spreads: list[float]


def combine(vectors: np.ndarray, parts: Sequence[Part], library: np.ndarray,
            thresholds: Sequence[float | None] | None = None) -> Combined:
    """One search vector from the terms' unit vectors (rows of `vectors`, in `parts` order)."""
    import numpy as np

    vectors = np.asarray(vectors, np.float32)
    if len(parts) == 1 and not parts[0].negative:
        th = thresholds[0] if thresholds else None
        return Combined(vectors[0] / max(float(np.linalg.norm(vectors[0])), 1e-12), th, [1.0])
    lib = library
    if len(lib) > SPREAD_SAMPLE:
        lib = lib[np.linspace(0, len(lib) - 1, SPREAD_SAMPLE).astype(np.int64)]
    if len(lib) >= 2:
        scores = lib @ vectors.T
        sigma = np.maximum(scores.std(axis=0), 1e-4)
        mu = scores.mean(axis=0)
    else:
        sigma = np.ones(len(parts), np.float32)
        mu = np.zeros(len(parts), np.float32)
    q = np.zeros(vectors.shape[1], np.float64)
    t = 0.0
    known = True
    for i, p in enumerate(parts):
        coef = p.weight / float(sigma[i])
        if p.negative:
            q -= coef * vectors[i]
            t -= coef * float(mu[i])
        else:
            q += coef * vectors[i]
            th = thresholds[i] if thresholds else None
            if th is None:
                known = False
            else:
                t += coef * th
    norm = float(np.linalg.norm(q))
    if norm < 1e-9:
        raise ImgragError("the terms of this query cancel each other out: change a weight or a term")
    return Combined((q / norm).astype(np.float32), (t / norm) if known else None, [float(s) for s in sigma])
