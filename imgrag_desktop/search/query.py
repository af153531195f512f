"""Combined queries: several texts and images, weighted, some to avoid, as one CLIP vector.

Syntax of a text query (the window's search box and `imgrag search` read the same):
    beach -people           look for "beach", avoid "people"
    sunset:2 beach          "sunset" counts twice as much as "beach"
    (red car)^2 street      a parenthesised or "quoted" phrase is one term; ^ or : sets its weight
    -"blurry photo":0.5     avoid, with half the usual weight
    dog on a beach          plain words stay together as one phrase (CLIP reads phrases best)
Times like 10:30, URLs and hyphenated words (t-shirt) are plain text. An image can join any
query (`imgrag search TEXT --like IMAGE`, `imgrag similar IMAGE --text TEXT`).

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
from typing import Any, Sequence

import numpy as np

from imgrag_desktop.types import ImgragError

NEGATIVE_WEIGHT = 1.0
MAX_WEIGHT = 10.0
SPREAD_SAMPLE = 20_000  # library rows used to measure a term's spread

_TOKEN = re.compile(
    r'(?P<neg>-)?(?:"(?P<quoted>[^"]*)"|\((?P<group>[^()]*)\)|(?P<word>[^\s"()]+?))'
    r'(?:[:^](?P<weight>\d+(?:\.\d+)?|\.\d+))?(?=\s|$|["()])'
)


@dataclass
class Part:
    kind: str  # text | image
    text: str = ""
    image: Any = None  # a path or a PIL image, for image parts
    weight: float = 1.0
    negative: bool = False

    def label(self) -> str:
        what = self.text if self.kind == "text" else f"image {getattr(self.image, 'filename', None) or self.image}"
        sign = "-" if self.negative else ""
        return f"{sign}{what}" + (f" ×{self.weight:g}" if self.weight != 1 else "")


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
    def simple_text(self) -> str | None:
        """The text when the query is one plain phrase (searched exactly as before)."""
        if len(self.parts) == 1 and self.parts[0].kind == "text" and not self.parts[0].negative:
            return self.parts[0].text
        return None

    def with_image(self, image: Any, weight: float = 1.0) -> "ParsedQuery":
        return ParsedQuery([Part("image", image=image, weight=weight), *self.parts])

    def describe(self) -> str:
        return " + ".join(p.label() for p in self.positives) + "".join(f" - {p.label()[1:]}" for p in self.negatives)


def _balanced(text: str) -> str:
    if text.count('"') % 2:
        i = text.rfind('"')
        text = text[:i] + text[i + 1:]
    if text.count("(") != text.count(")"):
        text = text.replace("(", " ").replace(")", " ")
    return text


def parse(text: str | None, allow_empty: bool = False) -> ParsedQuery:
    """Terms of a query string. Raises ImgragError (one line) on a query with nothing to find."""
    text = _balanced((text or "").strip())
    plain: list[str] = []
    parts: list[Part] = []
    pos = 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:  # a stray character: keep it as plain text
            end = pos + 1
            while end < len(text) and not text[end].isspace():
                end += 1
            plain.append(text[pos:end])
            pos = end
            continue
        pos = m.end()
        neg, weight = bool(m.group("neg")), m.group("weight")
        word, phrase = m.group("word"), m.group("quoted") if m.group("quoted") is not None else m.group("group")
        if word is not None and (word.replace(".", "").replace(",", "").isdigit() or not re.search(r"\w", word)):
            # numbers and symbols are text: "10:30", "-5", "-"
            plain.append(m.group(0))
            continue
        term = " ".join((phrase if phrase is not None else word or "").split())
        if not term:
            continue
        w = float(weight) if weight is not None else (NEGATIVE_WEIGHT if neg else 1.0)
        if w <= 0 or w > MAX_WEIGHT:
            raise ImgragError(f"weight {weight} of {term!r} is out of range: use a number above 0 and up to {MAX_WEIGHT:g}")
        if neg or weight is not None or phrase is not None:
            parts.append(Part("text", term, weight=w, negative=neg))
        else:
            plain.append(term)
    main = " ".join(plain).strip()
    if main:
        parts.insert(0, Part("text", main))
    q = ParsedQuery(parts)
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
