"""What the status bar says about an indexing job: words a user knows ("Reading text", not
"ocr"), how far the step is and about how long it has left, and the job's true duration.

The engine reports progress per stage (types.Progress: stage, done, total, rate); this module
only words it. The progress bar is the whole job (JobBar): one share from 0 to 100% across all
steps, never reset per step; the label says the step ("Reading text 3/10") and the whole job's
time left at its pace so far (shown once the job has run for MIN_PACE_S, so the first items'
warm-up does not mislead). JobClock can also tell one step's time left at the step's own pace.
"""

from __future__ import annotations

import time
from typing import Any, Callable

STEP_WORDS = {
    "scan": "Looking for images",
    "load": "Loading the image model",
    "index": "Adding pictures",
    "visual": "Reading pictures",
    "tiles": "Looking closer at large images",
    "fingerprints": "Spotting copies",
    "calibrate": "Tuning the search",
    "ocr": "Reading text",
    "faces": "Finding faces",
    "places": "Finding places",
    "captions": "Describing pictures",
    "text vectors": "Preparing text search",
    "optimize": "Compacting the index",
    "done": "Finishing",
    "reembed": "Updating visual search for the new model",
}
MIN_PACE_S = 1.0
# The longest line the label is sized for, so the controls beside it never move.
WIDEST = "Looking closer at large images 88888/88888 · about 88 min left"


def step_words(stage: str) -> str:
    return STEP_WORDS.get(stage, stage.replace("_", " ").capitalize())


def duration(seconds: float) -> str:
    """under 1 s, 9 s, 1 min 5 s, 2 h 3 min."""
    if seconds < 0.95:
        return "under 1 s"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s % 60 else f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


class JobClock:
    """The pace of the running step of one job; `line(progress)` words it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.started = clock()
        self._steps: dict[str, tuple[float, int]] = {}  # step -> (first seen, done then): two may interleave

    def elapsed(self) -> float:
        return self.clock() - self.started

    def left(self, p: Any) -> float | None:
        """Seconds the step has left at its pace so far, None before it can be told."""
        now = self.clock()
        if p.stage not in self._steps:
            self._steps[p.stage] = (now, int(p.done or 0))
            return None
        first_seen, first_done = self._steps[p.stage]
        ran = now - first_seen
        did = int(p.done or 0) - first_done
        if not p.total or did <= 0 or ran < MIN_PACE_S:
            return None
        return (int(p.total) - int(p.done)) * ran / did

    def line(self, p: Any, job: "JobBar | None" = None) -> str:
        """The step in words and count; the time left is the step's at its pace, or with `job`
        the whole job's (what the status bar says: one time, the one the user waits for)."""
        words = step_words(p.stage)
        left = self.left(p)
        if job is not None:
            left = job.left()
        if not p.total:
            return f"{words}…"
        tail = f" · about {duration(left)} left" if left is not None and p.done < p.total else ""
        return f"{words} {p.done}/{p.total}{tail}"


# The steps of one job in the order the window sees them (the worker loads CLIP, then
# indexing/pipeline.py scans, adds pictures, runs the visual-pass stages and says "done"; then
# the later stages of indexing/stages.py STAGES run), each with its rough cost per picture
# relative to adding one (decode + CLIP = 1): OCR and captions are the slow ones, metadata and
# places cheap (shared/notes). A step a job skips counts as done once a later one starts, so
# the bar may jump forward but never goes back. A step not listed here goes at the end.
STEP_COSTS: list[tuple[str, float]] = [
    ("load", 0.1), ("scan", 0.05), ("index", 1.0), ("video", 0.5), ("visual", 1.0),
    ("tiles", 0.5), ("fingerprints", 0.1), ("calibrate", 0.02), ("optimize", 0.05), ("done", 0.01),
    ("places", 0.02), ("metadata", 0.05), ("ocr", 2.0), ("captions", 3.0), ("text vectors", 0.2),
    ("reembed", 1.0), ("faces", 1.0),
]
OTHER_COST = 0.1
# Steps that run beside the others (indexing/stages.py, Stage.beside: faces beside OCR, captions
# and text vectors): each counts by its own done/total, never moving the bar past the steps it
# runs beside.
BESIDE_STEPS = ("faces",)
MIN_JOB_FRACTION = 0.02  # overall time left is told once this much of the job is done


class JobBar:
    """One overall share (0..1) of a job across all its steps: the steps before the running one
    count whole, the running one by its done/total, by STEP_COSTS. It only moves forward; a
    step reported out of order keeps the share reached. `left()` is the whole job's time left
    at its pace so far."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.started = clock()
        self.order = [name for name, _ in STEP_COSTS]
        self.costs = dict(STEP_COSTS)
        self.share = 0.0
        self._main = 0.0  # the cost done by the steps in order (all but BESIDE_STEPS)
        self._beside: dict[str, float] = {}  # a step beside the others -> its own share done

    def _position(self, stage: str) -> int:
        if stage not in self.order:  # a step added later: at the end
            self.order.append(stage)
            self.costs[stage] = OTHER_COST
        return self.order.index(stage)

    def update(self, p: Any) -> float:
        i = self._position(p.stage)
        total_cost = sum(self.costs.values())
        within = min(1.0, max(0.0, (p.done or 0) / p.total)) if p.total else 0.0
        if p.stage == "done":  # the visual pass is over (later steps follow)
            within = 1.0
        if p.stage in BESIDE_STEPS:
            self._beside[p.stage] = max(self._beside.get(p.stage, 0.0), within)
        else:
            before = sum(self.costs[s] for s in self.order[:i] if s not in BESIDE_STEPS)
            self._main = max(self._main, before + self.costs[p.stage] * within)
        side = sum(self.costs[s] * w for s, w in self._beside.items())
        self.share = max(self.share, min(1.0, (self._main + side) / total_cost))
        return self.share

    def left(self) -> float | None:
        ran = self.clock() - self.started
        if self.share < MIN_JOB_FRACTION or ran < MIN_PACE_S or self.share >= 1.0:
            return None
        return ran * (1.0 - self.share) / self.share

    def text(self) -> str:
        """What the bar shows: the job's percent ("42%"; the label beside it says the time left)."""
        return f"{int(self.share * 100)}%"
