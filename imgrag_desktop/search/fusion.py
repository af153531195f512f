"""Fusing the ranked lists of several search modes (visual, textual, keyword) into one.

Plain weighted reciprocal-rank fusion (`rrf`) adds w / (k + rank) per list. It needs no score
calibration, but it trusts every list equally at every query: a list that knows nothing about
the query (a visual model asked for a sentence that appears in a screenshot, or the text model
asked for "a dog on a beach" among photos whose only text is a file name) still hands its
first places almost the same credit as a list that found an exact match, and with k = 60 the
credit of rank 1 and rank 2 differ by under 2 %, so such noise decides close calls.

`fuse` keeps the reciprocal-rank form and makes it score-aware in two ways, both measured
against the list's own scores over the whole collection (its "null model": what a document
that has nothing to do with the query scores):

* per document, the vote is scaled by how far its score lies above the collection mean,
  relative to the list's best score (rank 2 with a score near rank 1 keeps almost full credit,
  rank 2 with a score near the mean keeps almost none);
* per list, the weight is scaled by the list's confidence: how far its best score stands above
  the best score that chance alone would give among N documents (mean + std * sqrt(2 ln N),
  the expected maximum of N normal draws). A list whose top is no better than chance keeps
  only a small share of its weight (`floor`, 3 %), so it still breaks near ties among the
  others. The share must stay under the gaps that carry meaning: with 10 % a keyword list
  holding one everyday word of a ten-word description overturned MiniLM's choice when its
  first two were 9 % apart (the screenshot evaluation; 1-3 % measured the same, 5 % and 10 %
  lost such queries).

With a useful visual model and a photo query, the visual list stands out and the text lists do
not (no keyword matches, file-name text far from the query), so visual leads; with an exact
phrase from a screenshot, keyword and textual stand out and lead. User weights multiply both.

Keyword scores have no useful chance model (any match stands far above the zeros of all the
documents without one), so the keyword list brings its own confidence: the share of the
query's words that its best document contains, squared (hybrid.py).

One query cannot tell a visual model that knows nothing (the test profile's random CLIP) from
one that is right: random scores have heavy tails and sometimes look confident. So when a
text list is confident, the visual list's weight is halved (TEXT_FIRST): words found in an
image are more specific evidence than its look, and the visual list still orders what the
text lists leave tied. A photo query (no text evidence) leaves visual at full weight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

RRF_K = 60
CONFIDENCE_SPAN = 2.0  # standard deviations above chance for full confidence
CONFIDENCE_FLOOR = 0.03  # share of its weight a list keeps when its top is no better than chance
TEXT_FIRST = 0.5  # how much a confident text list (keyword, textual) quiets the visual list
MODES = ("visual", "textual", "keyword")


@dataclass
class ModeList:
    """One mode's candidates, best first, with the statistics of its scores over every
    document it scored (for vector modes the whole collection; for keyword search the
    documents without a match count as score 0)."""

    ids: list[str]
    scores: list[float]
    mean: float = 0.0
    std: float = 0.0
    population: int = 0
    conf: float | None = None  # a confidence the mode knows better than the chance model (keyword)
    regions: dict[str, list[float]] = field(default_factory=dict)  # visual: the tile that matched
    exact: list[str] = field(default_factory=list)  # keyword: ids whose text holds the whole query phrase
    near: list[str] = field(default_factory=list)  # keyword: ids whose text nearly holds it (fewest edits first)
    window: list[str] = field(default_factory=list)  # keyword: ids holding all its words close together (word_window)

    @classmethod
    def from_scores(cls, ids: Sequence[str], scores: Sequence[float], mean: float | None = None,
                    std: float | None = None, population: int | None = None) -> "ModeList":
        """A list whose statistics come from the given scores when not given."""
        ids, scores = list(ids), [float(s) for s in scores]
        n = len(scores)
        if mean is None or std is None:
            m = sum(scores) / n if n else 0.0
            v = sum((s - m) ** 2 for s in scores) / n if n else 0.0
            mean, std = (m if mean is None else mean), (math.sqrt(v) if std is None else std)
        return cls(ids, scores, float(mean), float(std), int(population if population is not None else n))

    def confidence(self) -> float:
        """0 when the best score is what chance gives among `population` documents, 1 when it
        is CONFIDENCE_SPAN standard deviations above that."""
        if self.conf is not None:
            return min(1.0, max(0.0, float(self.conf))) if self.scores else 0.0
        if not self.scores or self.population < 2:
            return 1.0 if self.scores else 0.0
        if self.std <= 1e-12:
            return 0.0 if self.scores[0] <= self.mean + 1e-12 else 1.0
        chance = math.sqrt(2.0 * math.log(self.population))
        peak = (self.scores[0] - self.mean) / self.std - chance
        return min(1.0, max(0.0, peak / CONFIDENCE_SPAN))

    def relative(self, score: float) -> float:
        """A score between the collection mean (0) and this list's best (1)."""
        if not self.scores:
            return 0.0
        top = self.scores[0]
        if top - self.mean <= 1e-12:
            return 1.0 if score >= top else 0.0
        return min(1.0, max(0.0, (score - self.mean) / (top - self.mean)))


@dataclass
class Fused:
    id: str
    score: float
    ranks: dict[str, int] = field(default_factory=dict)  # mode → 1-based rank in its list
    votes: dict[str, float] = field(default_factory=dict)  # mode → what it added to the score


def rrf(ranked: Mapping[str, Sequence[str]], weights: Mapping[str, float] | None = None, k: int = RRF_K) -> list[Fused]:
    """Plain weighted reciprocal-rank fusion: Σ w / (k + rank). Ties keep first-seen order."""
    out: dict[str, Fused] = {}
    for mode, ids in ranked.items():
        w = 1.0 if weights is None else float(weights.get(mode, 1.0))
        if w <= 0:
            continue
        for r, doc in enumerate(ids, 1):
            f = out.setdefault(doc, Fused(doc, 0.0))
            if mode in f.ranks:
                continue  # a duplicate within one list counts once, at its best rank
            vote = w / (k + r)
            f.ranks[mode] = r
            f.votes[mode] = vote
            f.score += vote
    return sorted(out.values(), key=lambda f: -f.score)


def list_weights(lists: Mapping[str, ModeList], weights: Mapping[str, float] | None = None,
                 floor: float = CONFIDENCE_FLOOR, text_first: float = TEXT_FIRST) -> dict[str, float]:
    """User weight × (floor + (1 - floor) × confidence) for each list; the visual list's weight
    also shrinks by `text_first` × the best text list's confidence (text found in an image
    is more specific evidence than its look; see the module doc)."""
    conf = {mode: ml.confidence() for mode, ml in lists.items()}
    text_conf = max((c for m, c in conf.items() if m != "visual"), default=0.0)
    out = {}
    for mode in lists:
        w = 1.0 if weights is None else float(weights.get(mode, 1.0))
        eff = max(0.0, w) * (floor + (1.0 - floor) * conf[mode])
        if mode == "visual":
            eff *= 1.0 - text_first * text_conf
        out[mode] = eff
    return out


def fuse(lists: Mapping[str, ModeList], weights: Mapping[str, float] | None = None, k: int = RRF_K,
         score_aware: bool = True, floor: float = CONFIDENCE_FLOOR) -> list[Fused]:
    """Score-aware weighted RRF (see the module doc); `score_aware=False` is plain RRF."""
    if not score_aware:
        return rrf({m: ml.ids for m, ml in lists.items()}, weights, k)
    eff = list_weights(lists, weights, floor)
    out: dict[str, Fused] = {}
    for mode, ml in lists.items():
        w = eff[mode]
        if w <= 0:
            continue
        for r, (doc, s) in enumerate(zip(ml.ids, ml.scores), 1):
            f = out.setdefault(doc, Fused(doc, 0.0))
            if mode in f.ranks:
                continue
            vote = w * ml.relative(s) / (k + r) * (k + 1)  # rank 1 with the best score votes w
            f.ranks[mode] = r
            f.votes[mode] = vote
            f.score += vote
    return sorted(out.values(), key=lambda f: (-f.score, min(f.ranks.values(), default=0)))
