"""The videos' own queue: after the photos of a run are written (so a long clip never holds a
photo back), each video's kept frames (video.py) are embedded by CLIP, and the video becomes
one row: path = the video, visual = the normalised mean of its frames' vectors, `time_s` = the
frame nearest that mean, `duration_s`, `frames`, size and creation time; the frames' vectors go
to the `video_frames` side table (search/moments.py), the representative frame to the thumbnail.
OCR, captions and faces read the video through imaging.decode_path (a contact sheet of the kept
frames), so a frame's text is searchable like any picture's.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import numpy as np

from imgrag_desktop import imaging, video
from imgrag_desktop.search.moments import VideoFrames
from imgrag_desktop.types import DecodeError, DiskFull, Failure, IndexReport, Progress


def index_videos(indexer: Any, todo: list[Any], updated_paths: set[str], report: IndexReport,
                 cancel: threading.Event) -> None:
    """Index the videos of a run one by one (each written before the next starts)."""
    if not todo:
        return
    from types import SimpleNamespace

    model_id = indexer._model_id_or_empty()
    known = indexer._known_hashes(model_id, len(todo))
    frames_table = VideoFrames(indexer.store.db_dir)
    max_side = max(indexer.encoder.image_size * 2, imaging.THUMB_SIZE)
    t0 = time.monotonic()
    for n, e in enumerate(todo, 1):
        if cancel.is_set():
            break
        try:
            chash = video.video_hash(e.path)
            src = known.get(chash)
            if src is not None:
                rows = indexer.store.rows([src])
                if src in rows:
                    indexer.store.upsert([indexer._row_from_existing(rows[src], e, time.time())])
                    report.reused += 1
                    _count(report, e, updated_paths)
                    continue
            got = video.extract(e.path, max_side=max_side)
            vecs = None
            if model_id:
                tensors = indexer.encoder.stack([indexer.encoder.preprocess(f.image) for f in got.frames])
                vecs = np.asarray(indexer.encoder.encode_tensors(tensors), np.float32)
                report.embedded += len(got.frames)
            rep = 0
            mean = None
            if vecs is not None:
                mean = vecs.mean(axis=0)
                mean = mean / max(float(np.linalg.norm(mean)), 1e-12)
                rep = int(np.argmax(vecs @ mean))
            frame = got.frames[rep]
            info = got.info
            dec = imaging.Decoded(image=frame.image, width=info.width, height=info.height, format="VIDEO",
                                  taken_at=info.created, camera="", kind="photo")
            item = SimpleNamespace(entry=e, chash=chash, tensor=mean, decoded=dec, fingerprint=None,
                                   columns=None)  # Indexer._Item's fields
            row = indexer._new_row(item, e, model_id, time.time())
            row.pop("_fingerprint", None)
            row.update(media="video", duration_s=info.duration_s, time_s=frame.time_s, frames=len(got.frames))
            if indexer.make_thumbnails and indexer.thumbs_dir is not None:
                indexer._save_thumbnail(frame.image, chash)
            if vecs is not None:
                frames_table.put(chash, model_id, [f.time_s for f in got.frames], vecs)
            indexer.store.upsert([row], visual_dim=indexer._expected_dim())  # frames first: a crash leaves no row without them
            indexer.store.clear_failures([e.path])
            _count(report, e, updated_paths)
            extra = getattr(report, "extra", None) or {}
            vids = extra.setdefault("videos", {"indexed": 0, "frames": 0, "seconds": 0.0, "stopped_early": 0})
            vids["indexed"] += 1
            vids["frames"] += len(got.frames)
            vids["seconds"] = round(vids["seconds"] + got.seconds, 3)
            vids["stopped_early"] += int(got.stopped_early)
            report.extra = extra  # type: ignore[attr-defined]
        except DiskFull:
            raise
        except DecodeError as exc:
            _fail(indexer, report, Failure(e.path, str(exc), "decode"), e)
        except Exception as exc:  # one bad file never stops the run
            _fail(indexer, report, Failure(e.path, f"unexpected error: {type(exc).__name__}: {exc}", "decode"), e)
        indexer._emit(Progress("video", n, len(todo), current=e.path, rate=n / max(1e-6, time.monotonic() - t0),
                               failed=len(report.failures)))


def _count(report: IndexReport, e: Any, updated_paths: set[str]) -> None:
    if e.path in updated_paths:
        report.updated += 1
    else:
        report.added += 1


def _fail(indexer: Any, report: IndexReport, failure: Failure, e: Any) -> None:
    report.failures.append(failure)
    indexer.store.record_failures([(failure, e.folder, e.size, e.mtime_ns)])


def split(entries: list[Any]) -> tuple[list[Any], list[Any]]:
    """(photos, videos) of a list of scanner entries."""
    vids = [e for e in entries if video.is_video_name(e.path)]
    return [e for e in entries if not video.is_video_name(e.path)], vids


def is_video_path(path: str) -> bool:
    return video.is_video_name(os.fspath(path))
