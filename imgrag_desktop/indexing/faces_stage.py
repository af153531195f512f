"""The "faces" stage: faces found in the pictures that wait for it, then grouped into people.

It runs in part "library" of the later stages, so visual search never waits for it. Its state
is the faces table itself (store/faces.py): a picture is done once it has rows made by the
current face model (a marker row when it has no face), so a killed run resumes where it
stopped, a moved file is not scanned again, and a new face model scans everything again,
carrying each face's person and corrections over by its box (search/people.carry_over).
Rows are written every `BATCH` pictures; `cancel` stops it after the picture in flight.
Screenshots and documents are not scanned (faces there are rare and form no people).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable

from imgrag_desktop.models.child_proc import ChildEnded, ChildTimeout
from imgrag_desktop.search.people import ClusterParams, People, carry_over, live_paths
from imgrag_desktop.store.faces import NO_FACE, FaceTables
from imgrag_desktop.store.sql import sql_str
from imgrag_desktop.types import Failure, Progress, tell

BATCH = 16
CLUSTER_EVERY = 400  # pictures between two clustering rounds of a long run (people appear as it goes)
SKIP_KINDS = ("screenshot", "document")
TRIES = 2  # failures of one picture's content (crash, time limit) before it is recorded as failed and skipped
FAILED_STAGE = "faces"  # the failures table's stage of those pictures
WARN_FIRST = 5  # failed pictures told one by one (the rest are counted; `errors` lists 20)


def forget_faces(store: Any) -> bool:
    """Delete every face descriptor and person (faces switched off). True when there were some."""
    tables = FaceTables(store.db_dir)
    had = tables.exists()
    if had:
        tables.drop()
    return had


def _unscanned(store: Any, tables: FaceTables, model_id: str) -> tuple[dict[str, list[str]], list[str]]:
    """The library's pictures by content hash, and the hashes `model_id` has not looked at yet
    (less those recorded as failed: see `failed_hashes`)."""
    t = store.query(None, ["path", "content_hash", "kind"])
    paths: dict[str, list[str]] = {}
    for p, h, k in zip(t.column("path").to_pylist(), t.column("content_hash").to_pylist(), t.column("kind").to_pylist()):
        if h and k not in SKIP_KINDS:
            paths.setdefault(h, []).append(p)
    done_hashes = tables.scanned(model_id) | failed_hashes(store, tables, model_id, paths)
    return paths, [h for h in paths if h not in done_hashes]


def failed_hashes(store: Any, tables: FaceTables, model_id: str, paths: dict[str, list[str]]) -> set[str]:
    """Pictures skipped: `model_id` failed on them TRIES times and the failure is on record (the
    failures table, stage "faces", which `imgrag status` counts). Until the file changes (its
    row, and so its failure, is written again; new content is a new hash) or the failure is
    cleared (a retry), when it is looked at again."""
    tries = {h for h, n in tables.failed_tries(model_id).items() if n >= TRIES and h in paths}
    if not tries:
        return set()
    recorded = set(store.failure_states(f"stage = {sql_str(FAILED_STAGE)}"))
    return {h for h in tries if any(p in recorded for p in paths[h])}


def _record_failed(store: Any, path: str, reason: str) -> None:
    """The failures table's row for a picture whose faces could not be found (TRIES times)."""
    row = store.rows([path], ["path", "folder", "size", "mtime_ns"]).get(path)
    if row is not None:
        failure = Failure(path, f"face detection failed {TRIES} times: {reason}", stage=FAILED_STAGE)
        store.record_failures([(failure, row.get("folder") or "", int(row.get("size") or 0),
                                int(row.get("mtime_ns") or 0))])


def faces_to_find(store: Any, model_id: str) -> int:
    """How many pictures the faces stage would look at now (0: it needs no face model)."""
    if store.images is None:
        return 0
    return len(_unscanned(store, FaceTables(store.db_dir), model_id)[1])


def _faces_of(engine: Any, path: str, max_side: int) -> Any:
    """models/faces.FileFaces of one file: the engine decodes it (the app's engine in its child
    process); an engine with only `faces(image)` gets the picture decoded here."""
    if hasattr(engine, "faces_of_file"):
        return engine.faces_of_file(path, max_side)
    from imgrag_desktop.models.faces import faces_of_file

    return faces_of_file(engine, path, max_side)


def find_faces(store: Any, settings: Any, engine: Any, cancel: threading.Event,
               on_progress: Callable[[Progress], None] | None = None, limit: int | None = None,
               on_warning: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Faces of the pictures `engine.model_id` has not looked at; a picture that fails (cannot
    be read, runs over the time limit, crashes the face process) is counted in `failed`, its
    reason in `errors` and told to `on_warning`, and looked at again next run; after TRIES
    failures of the same content it is recorded as failed and skipped (`failed_hashes`)."""
    tables = FaceTables(store.db_dir)
    people = People(tables, lambda: live_paths(store))
    paths, todo = _unscanned(store, tables, engine.model_id)
    tries = tables.failed_tries(engine.model_id)
    tried: dict[str, tuple[int, str]] = {}  # this run's failures: hash → (failures so far, reason)
    if limit is not None:
        todo = todo[:limit]
    params = ClusterParams.from_settings(settings)
    stats: dict[str, Any] = {"model": engine.model_id, "scanned": 0, "faces": 0, "failed": 0, "carried": 0}
    tell(on_progress, Progress("faces", 0, len(todo)))
    start = time.perf_counter()
    pending: list[dict[str, Any]] = []
    pending_hashes: list[str] = []
    since_cluster = 0

    def flush() -> None:
        old = tables.faces_of(pending_hashes)
        by_hash: dict[str, list[dict[str, Any]]] = {}
        for r in old:
            by_hash.setdefault(r["content_hash"], []).append(r)
        for h in pending_hashes:
            if by_hash.get(h):
                stats["carried"] += carry_over(by_hash[h], [r for r in pending if r["content_hash"] == h])
        tables.write_faces(pending, replace_hashes=[h for h in pending_hashes if h in by_hash])
        tables.note_tries(engine.model_id, tried, worked=[h for h in pending_hashes if h in tries])
        tried.clear()
        pending.clear()
        pending_hashes.clear()

    for n, h in enumerate(todo, 1):
        if cancel.is_set():
            break
        path = next((p for p in paths[h] if os.path.exists(p)), paths[h][0])  # a copy that is online
        rows: list[dict[str, Any]] = []
        try:
            got = _faces_of(engine, path, int(settings.faces_max_side))
            sx = got.width / max(1, got.seen[0])
            sy = got.height / max(1, got.seen[1])
            for i, f in enumerate(got.faces):
                rows.append({"face_id": f"{h}:{i}", "content_hash": h, "idx": i, "model": engine.model_id,
                             "left": round(f.box[0] * sx), "top": round(f.box[1] * sy),
                             "right": round(f.box[2] * sx), "bottom": round(f.box[3] * sy),
                             "img_width": got.width, "img_height": got.height, "confidence": f.confidence,
                             "blur": f.blur, "pose": f.pose, "quality": f.quality, "size": round(f.size * sx),
                             "descriptor": [float(v) for v in f.descriptor], "person": None, "by_user": False,
                             "not_face": False, "rejected": None})
        except Exception as exc:  # unreadable now (offline, vanished), too slow, a crash: tried again next run
            # (a crash or the time limit TRIES times for the same content: recorded as failed)
            stats["failed"] += 1
            reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            line = f"{path}: {reason}"
            stats.setdefault("errors", []).append(line)
            if on_warning is not None and stats["failed"] <= WARN_FIRST:
                on_warning(f"faces: {line}")
            if isinstance(exc, (ChildEnded, ChildTimeout)):  # the picture's own doing, not a drive gone offline
                tried[h] = (tries.get(h, 0) + 1, reason)
                if tried[h][0] >= TRIES:
                    _record_failed(store, path, reason)
                    stats["recorded_failed"] = stats.get("recorded_failed", 0) + 1
            continue
        if not rows:
            rows.append({"face_id": f"{h}:none", "content_hash": h, "idx": NO_FACE, "model": engine.model_id})
        stats["scanned"] += 1
        stats["faces"] += sum(1 for r in rows if r["idx"] != NO_FACE)
        pending.extend(rows)
        pending_hashes.append(h)
        if len(pending_hashes) >= BATCH:
            flush()
        since_cluster += 1
        if since_cluster >= CLUSTER_EVERY:
            flush()
            people.cluster(params, cancel.is_set, model=engine.model_id)
            since_cluster = 0
        elapsed = time.perf_counter() - start
        tell(on_progress, Progress("faces", n, len(todo), current=path, rate=n / elapsed if elapsed > 0 else 0.0))
    if pending or tried:
        flush()
    live = set(live_paths(store))
    if live:  # faces of pictures no longer indexed (their people and names stay)
        stats["pruned"] = tables.faces.prune("content_hash", live)
        tables.tries.prune("content_hash", live)  # failures of content no longer indexed (a changed file)
    stats["people"] = people.cluster(params, model=engine.model_id)
    from imgrag_desktop.indexing.region_names import seed_names

    stats["named_from_metadata"] = seed_names(store, people)  # face regions people named in digiKam, Lightroom …
    stats["seconds"] = round(time.perf_counter() - start, 2)
    if "errors" in stats:
        stats["errors"] = stats["errors"][:20]
    return stats
