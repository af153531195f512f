"""Which moment of a video matched: the kept frames' vectors (side table `video_frames`, one row
per video keyed by content hash) against the query's vector.

A video is one row of `images` (one hit per video), whose visual vector is the mean of its kept
frames' vectors; its `time_s` is the frame closest to that mean. After a search, each video
hit's `time_s` is set to the frame that best matches the query.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pyarrow as pa

from imgrag_desktop.store.sidetables import SideTable
from imgrag_desktop.types import Hit

VIDEO_FRAMES = "video_frames"


def frames_schema() -> pa.Schema:
    return pa.schema([
        pa.field("content_hash", pa.string(), nullable=False),
        pa.field("clip_model", pa.string()),
        pa.field("times", pa.list_(pa.float64())),
        pa.field("dim", pa.int32()),
        pa.field("vectors", pa.binary()),  # float32, len(times) × dim, row-major
    ])


class VideoFrames:
    def __init__(self, db_dir: str | Path) -> None:
        self.side = SideTable(db_dir, VIDEO_FRAMES, "content_hash")

    def put(self, chash: str, model: str, times: Sequence[float], vectors: np.ndarray) -> None:
        vecs = np.ascontiguousarray(vectors, np.float32)
        data = pa.table({"content_hash": [chash], "clip_model": [model], "times": [list(map(float, times))],
                         "dim": [int(vecs.shape[1]) if vecs.ndim == 2 else 0], "vectors": [vecs.tobytes()]},
                        schema=frames_schema())
        self.side.upsert(data)

    def get(self, hashes: Iterable[str], model: str) -> dict[str, tuple[list[float], np.ndarray]]:
        hashes = [h for h in hashes if h]
        if not hashes or self.side.table is None:
            return {}
        out = {}
        for r in self.side.by_keys(hashes).to_pylist():
            if r["clip_model"] != model or not r["dim"]:
                continue
            vecs = np.frombuffer(r["vectors"], np.float32).reshape(-1, r["dim"])
            out[r["content_hash"]] = (list(r["times"]), vecs)
        return out


def with_moments(store: Any, hits: list[Hit], query_vec: np.ndarray | None, model: str) -> list[Hit]:
    """Set each video hit's `time_s` to its matching moment (in place; returns hits): the frame
    whose text matched (OCR reads a contact sheet of the frames, see video.contact_sheet), else
    the frame nearest the query's vector."""
    videos = [h for h in hits if h.media == "video"]
    if not videos:
        return hits
    try:
        rows = store.rows([h.path for h in videos], ["path", "content_hash"])
        frames = VideoFrames(store.db_dir).get([r.get("content_hash") or "" for r in rows.values()], model)
    except Exception:
        return hits  # the moment is a refinement: a missing side table leaves the stored one
    q = np.asarray(query_vec, np.float32).reshape(-1) if query_vec is not None else None
    for h in videos:
        got = frames.get((rows.get(h.path) or {}).get("content_hash") or "")
        if got is None:
            continue
        times, vecs = got
        if not len(times):
            continue
        idx = frame_of_words(h, len(times))
        if idx is None and q is not None and vecs.shape[1] == q.shape[0]:
            idx = int(np.argmax(vecs @ q))
        if idx is not None:
            h.time_s = float(times[idx])
    return hits


def frame_of_words(h: Hit, n: int) -> int | None:
    """The frame of the contact sheet (cols = ceil(sqrt(n)), in reading order) holding the first
    matched word; word boxes are in the video's own pixel size (OCR scales them back)."""
    import math

    words = [w for w in h.matched_words if isinstance(w, dict) and "x" in w and "y" in w]
    if not words or n < 1 or not h.width or not h.height:
        return None
    if n == 1:
        return 0
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    w = words[0]
    cx = float(w["x"]) + float(w.get("w") or 0) / 2
    cy = float(w["y"]) + float(w.get("h") or 0) / 2
    col = min(cols - 1, max(0, int(cx / (h.width / cols))))
    row = min(rows - 1, max(0, int(cy / (h.height / rows))))
    idx = row * cols + col
    return idx if idx < n else None
