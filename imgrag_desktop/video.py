"""Videos (MP4, MOV, MKV, WebM, AVI, M4V …) through PyAV (FFmpeg in the wheel): facts and frames.

A video is searched by a few of its frames: candidates spread over the clip (at most one per
MIN_GAP_S, at most MAX_CANDIDATES in all, so a 2-hour clip costs as many seeks as a
4-minute one), of which those that differ from the last kept frame (a scene change, by a small
grey signature) are kept, at most FRAMES_PER_MINUTE per minute (at least MIN_FRAMES for a
short clip) and never more than MAX_FRAMES, within a time budget (TIME_BUDGET_S): a damaged or
huge file cannot stall indexing. Files are only read.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image

from imgrag_desktop.types import DecodeError

VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".3gp", ".mts", ".m2ts", ".wmv",
                              ".mpg", ".mpeg"})
FRAMES_PER_MINUTE = 6
MIN_FRAMES = 4
MAX_FRAMES = 48
MAX_CANDIDATES = 160
MIN_GAP_S = 0.5
SCENE_CHANGE = 0.08  # mean absolute difference of 16×16 grey signatures (0..1) that counts as a new scene
MAX_GAP_S = 30.0  # a frame at least this often (or duration / the frame limit, if longer) even without a scene change
TIME_BUDGET_S = 30.0
SEQUENTIAL_UP_TO_S = 20.0  # shorter clips are decoded frame by frame (seeking costs more there)
HASH_SPAN = 1 << 20


def is_video_name(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


@dataclass
class VideoInfo:
    duration_s: float | None
    width: int
    height: int
    created: float | None  # epoch seconds, from the container's creation time
    codec: str = ""


@dataclass
class Frame:
    time_s: float
    image: Image.Image


@dataclass
class Extracted:
    info: VideoInfo
    frames: list[Frame] = field(default_factory=list)
    candidates: int = 0
    seconds: float = 0.0
    stopped_early: bool = False  # the time budget ran out


def video_hash(path: str | os.PathLike[str]) -> str:
    """The content hash of a video: its size and its first and last MiB (a whole read of a
    10 GB clip per scan would cost minutes; a change anywhere but the middle changes this)."""
    try:
        size = os.path.getsize(path)
        h = hashlib.blake2b(str(size).encode(), digest_size=16)
        with open(path, "rb") as fh:  # read only
            h.update(fh.read(HASH_SPAN))
            if size > 2 * HASH_SPAN:
                fh.seek(size - HASH_SPAN)
                h.update(fh.read(HASH_SPAN))
    except OSError as exc:
        raise DecodeError(f"cannot read video: {exc.strerror or exc}") from exc
    return h.hexdigest()


def _open(path: "str | io.BytesIO") -> object:
    import av

    try:
        return av.open(path if isinstance(path, io.BytesIO) else str(path), metadata_errors="ignore")
    except FileNotFoundError as exc:
        raise DecodeError("file vanished before it could be read") from exc
    except PermissionError as exc:
        raise DecodeError("permission denied") from exc
    except Exception as exc:  # av.error.InvalidDataError (truncated: no moov atom) and others
        raise DecodeError(f"damaged or truncated video ({type(exc).__name__}: {str(exc)[:160]})") from exc


def _created(meta: dict[str, str]) -> float | None:
    for key in ("com.apple.quicktime.creationdate", "creation_time", "date"):
        raw = (meta.get(key) or "").strip()
        if not raw:
            continue
        try:
            dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            continue
        if dt.year < 1971:
            continue  # QuickTime's zero date
        return dt.timestamp()
    return None


def _info(container: object) -> VideoInfo:
    c: object = container
    streams = c.streams.video  # type: ignore[attr-defined]
    if not streams:
        raise DecodeError("no video stream (an audio-only or empty file)")
    s = streams[0]
    duration = None
    if c.duration:  # type: ignore[attr-defined]
        duration = float(c.duration) / 1_000_000  # type: ignore[attr-defined]
    elif s.duration and s.time_base:
        duration = float(s.duration * s.time_base)
    meta = {**dict(c.metadata or {}), **dict(s.metadata or {})}  # type: ignore[attr-defined]
    return VideoInfo(duration_s=duration, width=int(s.codec_context.width or 0), height=int(s.codec_context.height or 0),
                     created=_created(meta), codec=str(s.codec_context.name or ""))


def probe(path: str | os.PathLike[str]) -> VideoInfo | None:
    """Duration, size and creation time; None when the file cannot be read as a video."""
    try:
        c = _open(str(path))
    except DecodeError:
        return None
    try:
        return _info(c)
    except DecodeError:
        return None
    finally:
        c.close()  # type: ignore[attr-defined]


def content_identifier(path: str | os.PathLike[str]) -> str:
    """Apple's Live Photo pairing key of a clip (QuickTime `com.apple.quicktime.content.identifier`), or ""."""
    try:
        c = _open(str(path))
    except DecodeError:
        return ""
    try:
        meta = dict(c.metadata or {})  # type: ignore[attr-defined]
        return str(meta.get("com.apple.quicktime.content.identifier") or "").strip()
    finally:
        c.close()  # type: ignore[attr-defined]


def frame_limit(duration_s: float | None) -> int:
    minutes = (duration_s or 0.0) / 60.0
    return max(MIN_FRAMES, min(MAX_FRAMES, math.ceil(minutes * FRAMES_PER_MINUTE)))


def _signature(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("L").resize((16, 16), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0


def _small(frame: object, max_side: int) -> Image.Image:
    f: object = frame
    w, h = int(f.width), int(f.height)  # type: ignore[attr-defined]
    scale = min(1.0, max_side / max(w, h, 1))
    w2, h2 = max(2, int(w * scale) // 2 * 2), max(2, int(h * scale) // 2 * 2)
    return f.to_image(width=w2, height=h2).convert("RGB")  # type: ignore[attr-defined, no-any-return]


def extract(path: "str | os.PathLike[str] | io.BytesIO", max_side: int = 512, budget_s: float = TIME_BUDGET_S,
            max_frames: int | None = None) -> Extracted:
    """The frames a video is searched by (see the module's docstring). DecodeError when the file
    is not a readable video (truncated, no video stream, no frame decodes)."""
    t0 = time.monotonic()
    c = _open(path if isinstance(path, io.BytesIO) else str(path))
    try:
        info = _info(c)
        stream = c.streams.video[0]  # type: ignore[attr-defined]
        stream.thread_type = "AUTO"
        duration = info.duration_s or 0.0
        limit = max_frames or frame_limit(duration)
        n = max(1, min(MAX_CANDIDATES, int(duration / MIN_GAP_S) if duration else 1))
        step = duration / n if duration else 0.0
        targets = [(i + 0.5) * step for i in range(n)] if duration else [0.0]
        out = Extracted(info)
        picks: list[tuple[float, float, Image.Image]] = []  # (difference to the last kept, time, image)
        last: np.ndarray | None = None
        last_t = 0.0
        max_gap = max(duration / limit, MAX_GAP_S) if duration else MAX_GAP_S  # a static scene still gets spread frames

        def consider(t: float, img: Image.Image) -> None:
            nonlocal last, last_t
            sig = _signature(img)
            diff = 1.0 if last is None else float(np.abs(sig - last).mean())
            out.candidates += 1
            if last is None or diff >= SCENE_CHANGE or t - last_t >= max_gap:
                picks.append((diff, t, img))
                last, last_t = sig, t

        try:
            if duration <= SEQUENTIAL_UP_TO_S:  # short, or of unknown length (a recording): frame by frame
                gap = step if duration else 1.0
                next_t = 0.0
                for frame in c.decode(stream):  # type: ignore[attr-defined]
                    if time.monotonic() - t0 > budget_s:
                        out.stopped_early = True
                        break
                    if out.candidates >= MAX_CANDIDATES:
                        break
                    t = float(frame.time or 0.0)
                    if t + 1e-6 >= next_t:
                        consider(t, _small(frame, max_side))
                        next_t = t + gap
            else:
                tb = stream.time_base
                for target in targets:
                    if time.monotonic() - t0 > budget_s:
                        out.stopped_early = True
                        break
                    c.seek(int(target / tb), stream=stream, backward=True, any_frame=False)  # type: ignore[attr-defined]
                    for k, frame in enumerate(c.decode(stream)):  # type: ignore[attr-defined]
                        t = float(frame.time or 0.0)
                        if t + 1e-6 >= target - step / 2 or k >= 120:  # at most 120 frames after a keyframe
                            consider(t, _small(frame, max_side))
                            break
        except DecodeError:
            raise
        except Exception as exc:  # a damaged packet mid-file: keep the frames read so far
            if not picks:
                raise DecodeError(f"damaged video data ({type(exc).__name__}: {str(exc)[:160]})") from exc
        if not picks:
            raise DecodeError("no frame of the video could be decoded (damaged or truncated)")
        if not duration:
            limit = max_frames or frame_limit(picks[-1][1])  # the length is known now
        if len(picks) > limit:  # keep the first frame and the strongest scene changes
            first, rest = picks[0], sorted(picks[1:], key=lambda p: -p[0])[: limit - 1]
            picks = [first, *sorted(rest, key=lambda p: p[1])]
        out.frames = [Frame(round(t, 3), img) for _, t, img in picks]
        out.seconds = time.monotonic() - t0
        return out
    finally:
        c.close()  # type: ignore[attr-defined]


def frame_at(path: str | os.PathLike[str], time_s: float, max_side: int = 1024) -> Image.Image:
    """The frame shown at `time_s` (the preview of a video hit's moment). DecodeError if none."""
    c = _open(str(path))
    try:
        _info(c)
        stream = c.streams.video[0]  # type: ignore[attr-defined]
        if time_s > 0:
            c.seek(int(time_s / stream.time_base), stream=stream, backward=True, any_frame=False)  # type: ignore[attr-defined]
        last = None
        for k, frame in enumerate(c.decode(stream)):  # type: ignore[attr-defined]
            last = frame
            if float(frame.time or 0.0) + 0.05 >= time_s or k >= 600:
                break
        if last is None:
            raise DecodeError("no frame of the video could be decoded (damaged or truncated)")
        return _small(last, max_side)
    except DecodeError:
        raise
    except Exception as exc:
        raise DecodeError(f"damaged video data ({type(exc).__name__}: {str(exc)[:160]})") from exc
    finally:
        c.close()  # type: ignore[attr-defined]


def contact_sheet(frames: list[Frame], max_side: int) -> Image.Image:
    """The kept frames in one picture (what OCR, captions and faces read of a video), top to bottom
    in time order, at most about `max_side` wide."""
    if len(frames) == 1:
        return frames[0].image
    cols = math.ceil(math.sqrt(len(frames)))
    rows = math.ceil(len(frames) / cols)
    w, h = frames[0].image.size
    sheet = Image.new("RGB", (cols * w, rows * h), (0, 0, 0))
    for i, f in enumerate(frames):
        sheet.paste(f.image.resize((w, h)), ((i % cols) * w, (i // cols) * h))
    return sheet
