"""Plain data shared by every layer. No heavy imports here: the GUI imports this at start-up."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

KINDS = ("photo", "screenshot", "document")


class ImgragError(Exception):
    """An error whose message is meant for the user, as one line, with what to do."""


class ModelUnavailable(ImgragError):
    """A model's weights are not present and cannot be fetched (offline, no cache)."""


class DecodeError(ImgragError):
    """A file that cannot be read as an image; the message is the reason shown to the user."""


class DiskFull(ImgragError):
    """The data dir's disk (or quota) is full: the run stops, nothing committed is lost, and the
    same command resumes once there is space. Never a per-file failure: the files are fine."""

    def __init__(self, where: object = "") -> None:
        at = f" holding {where}" if where else ""
        super().__init__(
            f"no space left on the disk{at}: free some space and run the same command again "
            "(everything committed so far is kept; indexing resumes where it stopped)"
        )


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC/EDQUOT, whether as an OSError or wrapped in a storage engine's own error text."""
    import errno

    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc).lower()
    return "no space left on device" in text or "os error 28" in text or "disk quota exceeded" in text


@dataclass
class Hit:
    """One search result. `score` is higher-is-better; its scale depends on the mode."""

    path: str
    score: float
    size: int = 0
    width: int = 0
    height: int = 0
    mtime: float = 0.0
    taken_at: float | None = None
    kind: str = ""
    ocr_text: str = ""
    caption: str = ""
    reasons: list[str] = field(default_factory=list)
    matched_words: list[dict[str, Any]] = field(default_factory=list)
    region: list[float] | None = None
    group_size: int = 1
    group: list[str] = field(default_factory=list)  # paths of the near-identical copies folded into this hit
    media: str = "photo"  # photo | raw | video | live
    files: list[str] = field(default_factory=list)  # every file of the item (RAW+JPEG pair, Live Photo's clip)
    time_s: float | None = None  # a video: the moment that matched
    duration_s: float | None = None
    tags: list[str] = field(default_factory=list)  # keywords people wrote (XMP/IPTC)
    title: str = ""
    description: str = ""
    rating: int | None = None
    label: str = ""

    @classmethod
    def from_row(cls, row: Mapping[str, Any], score: float = 0.0, reasons: Iterable[str] = (), **more: Any) -> "Hit":
        """A hit from an index row (store columns: `mtime_ns`, nulls as zeros and empty text);
        every search path and the browse grid build theirs here, so a hit reads a row one way."""
        return cls(
            path=row["path"], score=float(score), size=int(row.get("size") or 0), width=int(row.get("width") or 0),
            height=int(row.get("height") or 0), mtime=(row.get("mtime_ns") or 0) / 1e9, taken_at=row.get("taken_at"),
            kind=row.get("kind") or "", ocr_text=row.get("ocr_text") or "", caption=row.get("caption") or "",
            reasons=list(reasons), **{**_media_fields(row), **more},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "score": round(float(self.score), 6),
            "size": self.size,
            "width": self.width,
            "height": self.height,
            "mtime": self.mtime,
            "taken_at": self.taken_at,
            "kind": self.kind,
            "reasons": self.reasons,
            "ocr_text": self.ocr_text,
            "caption": self.caption,
            "matched_words": self.matched_words,
            "region": self.region,
            "group_size": self.group_size,
            "group": self.group,
            "media": self.media,
            "files": self.files or [self.path],
            "time_s": self.time_s,
            "duration_s": self.duration_s,
            "tags": self.tags,
            "title": self.title,
            "description": self.description,
            "rating": self.rating,
            "label": self.label,
        }


def _media_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """The media and metadata columns of a row (absent in rows read with fewer columns)."""
    import json

    try:
        files = [str(f) for f in json.loads(row.get("files") or "[]")]
    except (TypeError, ValueError):
        files = []
    path = row["path"]
    return {
        "media": row.get("media") or "photo",
        "files": [path, *[f for f in files if f != path]],
        "time_s": row.get("time_s"),
        "duration_s": row.get("duration_s"),
        "tags": [t for t in (row.get("tags") or "").split("|") if t],
        "title": row.get("title") or "",
        "description": row.get("description") or "",
        "rating": row.get("rating"),
        "label": row.get("label") or "",
    }


@dataclass
class Progress:
    """A progress report from a long job; `total` is 0 while still unknown."""

    stage: str
    done: int = 0
    total: int = 0
    current: str = ""
    rate: float = 0.0
    failed: int = 0
    skipped: int = 0
    reused: int = 0


def tell(listener: "Callable[[Progress], None] | None", report: Progress) -> None:
    """Give a progress listener its report: a broken listener (a closed window, a bad callback)
    is logged and never stops the work it watches."""
    if listener is None:
        return
    try:
        listener(report)
    except Exception:
        logging.getLogger(__name__).exception("progress listener failed")


@dataclass
class Failure:
    """A file that could not be indexed, with the reason the user sees."""

    path: str
    reason: str
    stage: str = "decode"


@dataclass
class IndexReport:
    """What one indexing run did."""

    scanned: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    reused: int = 0
    embedded: int = 0
    removed: int = 0
    failed: int = 0
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0
    cancelled: bool = False
    offline: dict[str, str] = field(default_factory=dict)  # roots kept as they were: root → reason
    offline_images: dict[str, int] = field(default_factory=dict)  # rows kept below each offline root
    held: dict[str, tuple[int, int]] = field(default_factory=dict)  # mass removals not done: root → (gone, of)

    def to_json(self) -> dict[str, Any]:
        return {
            "scanned": self.scanned,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "reused": self.reused,
            "embedded": self.embedded,
            "removed": self.removed,
            "failed": self.failed,
            "failures": [{"path": f.path, "reason": f.reason, "stage": f.stage} for f in self.failures],
            "seconds": round(self.seconds, 3),
            "cancelled": self.cancelled,
            "offline": [{"root": r, "reason": why, "images": self.offline_images.get(r, 0)}
                        for r, why in self.offline.items()],
            "held": [{"root": r, "gone": g, "of": n} for r, (g, n) in self.held.items()],
        }


@dataclass
class Answer:
    """An answer from the local model, with the images it was given (citations are paths)."""

    text: str
    citations: list[str] = field(default_factory=list)
    model: str = ""
    looked_at_images: bool = False
    sources: list[Hit] = field(default_factory=list)
    # Checking it (answer.py, evidence.py): "supported" (the model's answer is in an evidence
    # line), "extracted" (the model's was not; the value was read from the evidence),
    # "unknown" (nothing supports an answer: the text says so), "unchecked" (cancelled).
    status: str = "unchecked"
    model_text: str = ""  # what the model said, before the check
    extracted: str = ""  # the value read from the evidence, when the question asks for one
    quote: dict[str, Any] | None = None  # the evidence line that holds the answer: {path, text, box}
    evidence: list[dict[str, Any]] = field(default_factory=list)  # ranked lines: {path, text, box, source, ...}
