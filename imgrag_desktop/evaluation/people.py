"""How well faces become people, on a labelled folder (`imgrag people eval DIR`).

The folder holds photos and a `labels.json` with `people` (file -> [label]) and, optionally,
same/different `pairs` (`file_x`, `file_y`, `Decision` Yes/No), as ../shared/data/faces does.
The real face engine runs on every photo, the real clustering groups the faces (in a throw-away
faces table, names removed), and the result is scored:

* pair accuracy: the largest face of each photo of a pair, same person when closer than the
  threshold;
* B-cubed precision (purity) and recall (completeness) over the labelled photos' largest faces,
  a face that formed no person counting as a person of its own;
* mixed: people holding faces of two labels (the goal is none); right_person: the share of the
  faces of labels with several photos that sit in that label's main person;
* speed: photos/s and faces/s of the engine, and the growth of the process's peak memory.
"""

from __future__ import annotations

import json
import resource
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from imgrag_desktop.search.people import ClusterParams, People
from imgrag_desktop.store.faces import NO_FACE, FaceTables
from imgrag_desktop.types import ImgragError


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def evaluate_people(folder: str | Path, engine: Any, params: ClusterParams, max_side: int = 1024) -> dict[str, Any]:
    from imgrag_desktop.imaging import decode_path

    folder = Path(folder)
    labels_file = folder / "labels.json"
    if not labels_file.is_file():
        raise ImgragError(f"no labels.json in {folder}")
    labels = json.loads(labels_file.read_text("utf-8"))
    people_labels: dict[str, list[str]] = labels.get("people") or {}
    files = sorted({*people_labels, *(labels.get("unlabelled_groups") or {})})
    files = [f for f in files if (folder / f).is_file()]
    if not files:
        raise ImgragError(f"none of the photos of {labels_file} are in {folder}")
    mem0 = _peak_mib()
    if hasattr(engine, "load"):
        engine.load()
    rows: list[dict[str, Any]] = []
    largest: dict[str, dict[str, Any]] = {}
    n_faces = 0
    t0 = time.perf_counter()
    for f in files:
        dec, _ = decode_path(folder / f, max_side=max_side)
        faces = engine.faces(dec.image)
        n_faces += len(faces)
        for i, face in enumerate(faces):
            row = {"face_id": f"{f}:{i}", "content_hash": f, "idx": i, "model": engine.model_id,
                   "left": face.box[0], "top": face.box[1], "right": face.box[2], "bottom": face.box[3],
                   "quality": face.quality, "size": face.size, "confidence": face.confidence,
                   "descriptor": [float(v) for v in face.descriptor], "by_user": False, "not_face": False}
            rows.append(row)
            if f not in largest or face.size > largest[f]["size"]:
                largest[f] = row
        if not faces:
            rows.append({"face_id": f"{f}:none", "content_hash": f, "idx": NO_FACE, "model": engine.model_id})
    seconds = time.perf_counter() - t0
    out: dict[str, Any] = {"photos": len(files), "faces": n_faces, "seconds": round(seconds, 2),
                           "photos_per_s": round(len(files) / seconds, 2) if seconds else None,
                           "faces_per_s": round(n_faces / seconds, 2) if seconds else None,
                           "model": engine.model_id, "threshold": params.threshold,
                           "labelled_without_face": sorted(f for f in people_labels if f in files and f not in largest)}
    pairs = [p for p in labels.get("pairs") or [] if p.get("file_x") in largest and p.get("file_y") in largest]
    if pairs:
        ok = 0
        for p in pairs:
            d = float(np.linalg.norm(np.asarray(largest[p["file_x"]]["descriptor"]) -
                                     np.asarray(largest[p["file_y"]]["descriptor"])))
            ok += (d <= params.threshold) == (str(p.get("Decision", "")).lower() in ("yes", "same", "true", "1"))
        out["pairs"] = len(pairs)
        out["pair_accuracy"] = round(ok / len(pairs), 4)
    with tempfile.TemporaryDirectory(prefix="imgrag-people-eval-") as tmp:
        tables = FaceTables(tmp)
        tables.update_faces(rows)
        t1 = time.perf_counter()
        out["clustering"] = People(tables).cluster(params)
        out["cluster_seconds"] = round(time.perf_counter() - t1, 3)
        person_of = {r["face_id"]: r.get("person") for r in tables.face_rows(None, ["face_id", "person"])}
    out.update(bcubed({f: people_labels[f][0] for f in largest if people_labels.get(f)},
                      {f: person_of.get(largest[f]["face_id"]) for f in largest if people_labels.get(f)}))
    out["memory_growth_mib"] = round(_peak_mib() - mem0, 1)
    return out


def bcubed(truth: dict[str, str], found: dict[str, str | None]) -> dict[str, Any]:
    """B-cubed precision/recall of `found` (item -> cluster, None: alone) against `truth`."""
    items = sorted(truth)
    cluster = {i: found.get(i) or f"alone:{i}" for i in items}
    members: dict[str, list[str]] = {}
    for i in items:
        members.setdefault(cluster[i], []).append(i)
    size_of_label = Counter(truth[i] for i in items)
    prec = rec = 0.0
    for i in items:
        same = sum(1 for j in members[cluster[i]] if truth[j] == truth[i])
        prec += same / len(members[cluster[i]])
        rec += same / size_of_label[truth[i]]
    mixed = [c for c, ms in members.items() if len({truth[m] for m in ms}) > 1]
    several = [lab for lab, n in size_of_label.items() if n > 1]
    right = total = 0
    for lab in several:
        clusters = Counter(found.get(i) for i in items if truth[i] == lab and found.get(i))
        total += size_of_label[lab]
        right += clusters.most_common(1)[0][1] if clusters else 0
    n = len(items) or 1
    return {"labelled_faces": len(items), "bcubed_precision": round(prec / n, 4), "bcubed_recall": round(rec / n, 4),
            "mixed_people": len(mixed), "right_person": round(right / total, 4) if total else None}
