"""What the status bar says about an indexing job: words a user knows ("Reading text", not
"ocr"), how far the step is and about how long it has left, and the job's true duration.

The engine reports progress per stage (types.Progress: stage, done, total, rate); this module
only words it. Time left is the step's remaining items at the pace measured in this step
(shown once the step has run for MIN_PACE_S, so the first items' warm-up does not mislead).
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
        self._step = ""
        self._step_started = self.started
        self._step_first_done = 0

    def elapsed(self) -> float:
        return self.clock() - self.started

    def left(self, p: Any) -> float | None:
        """Seconds the step has left at its pace so far, None before it can be told."""
        now = self.clock()
        if p.stage != self._step:
            self._step, self._step_started, self._step_first_done = p.stage, now, int(p.done or 0)
            return None
        ran = now - self._step_started
        did = int(p.done or 0) - self._step_first_done
        if not p.total or did <= 0 or ran < MIN_PACE_S:
            return None
        return (int(p.total) - int(p.done)) * ran / did

    def line(self, p: Any) -> str:
        words = step_words(p.stage)
        left = self.left(p)
        if not p.total:
            return f"{words}…"
        tail = f" · about {duration(left)} left" if left is not None and p.done < p.total else ""
        return f"{words} {p.done}/{p.total}{tail}"
