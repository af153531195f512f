"""People: faces grouped into persons, incrementally, with the user's corrections kept.

How faces become people (`cluster_faces`, run by the "faces" stage after each batch):

1. A face that waits (no person yet, good enough quality, not taken out by the user) joins an
   existing person only when both its nearest assigned face belongs to that person and the
   person's centre is within the threshold: one close look-alike alone is not enough.
2. The faces still waiting are grouped among themselves by average linkage (a group's faces
   are close on average, so a chain of weak links does not join two people), cut at the
   threshold. A group with at least `min_faces` faces from different photos becomes a new
   person; smaller ones wait until more similar faces arrive (as Immich does).
3. Two existing people are never merged automatically: only the user merges.

Corrections live in the faces and people tables (store/faces.py), keyed by content hash, so
they survive re-indexing and moves; a change of face model maps the new faces back onto the
old ones by their boxes (stage `indexing/faces_stage.py`). A face the user placed (or took out)
is never moved by clustering, and never rejoins a person it was taken out of.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from imgrag_desktop.store.faces import NO_FACE, FaceTables
from imgrag_desktop.store.sql import sql_str
from imgrag_desktop.types import ImgragError

LINK_BATCH = 3000  # waiting faces grouped at once (the pairwise distances of a batch in memory)


@dataclass(frozen=True)
class ClusterParams:
    threshold: float = 0.6
    min_faces: int = 2
    min_quality: float = 0.3

    @classmethod
    def from_settings(cls, s: Any) -> "ClusterParams":
        return cls(float(s.people_threshold), max(1, int(s.people_min_faces)), float(s.faces_min_quality))


def _rejected(row: dict[str, Any]) -> set[str]:
    return {p for p in (row.get("rejected") or "").split(",") if p}


class People:
    """The engine side of people: clustering, look-ups and corrections over `FaceTables`."""

    def __init__(self, tables: FaceTables, live: Callable[[], dict[str, list[str]]] | None = None) -> None:
        self.tables = tables
        # content hash -> the paths that hold it (the images table); None: every hash counts
        self._live = live

    # --- resolution ---------------------------------------------------------------------------
    def _people(self) -> dict[str, dict[str, Any]]:
        return self.tables.people_rows()

    @staticmethod
    def _root(pid: str, people: dict[str, dict[str, Any]]) -> str:
        seen = set()
        while pid in people and people[pid].get("merged_into") and pid not in seen:
            seen.add(pid)
            pid = people[pid]["merged_into"]
        return pid

    def resolve(self, ident: str | int) -> str:
        """A person id from an id or a name (any case)."""
        people = self._people()
        key = str(ident).strip()
        if key in people:
            return self._root(key, people)
        named = [pid for pid, r in people.items() if not r.get("merged_into") and (r.get("name") or "").lower() == key.lower()]
        if named:
            return named[0]
        raise ImgragError(f"no person {key!r}: see `imgrag people list`")

    def _faces(self, columns: Sequence[str] | None = None) -> list[dict[str, Any]]:
        return [r for r in self.tables.face_rows(None, columns) if r["idx"] != NO_FACE]

    # --- clustering -----------------------------------------------------------------------------
    def cluster(self, params: ClusterParams, cancel: Callable[[], bool] | None = None,
                model: str | None = None) -> dict[str, int]:
        """Place the waiting faces (only `model`'s descriptors are compared, when given)."""
        rows = self._faces()
        people = self._people()
        good = [r for r in rows if r["descriptor"] is not None and not r.get("not_face")
                and (model is None or r.get("model") == model)]
        waiting = [r for r in good if not r.get("person") and not r.get("by_user") and (r["quality"] or 0) >= params.min_quality]
        if not waiting:
            return {"joined": 0, "new_people": 0, "waiting": 0}
        # "not a person" groups keep their look-alikes too, so those never form a new person
        assigned = [r for r in good if r.get("person")]
        vecs = [np.asarray(r["descriptor"], dtype=np.float32) for r in assigned]
        owners = [self._root(r["person"], people) for r in assigned]
        changes: list[dict[str, Any]] = []
        joined = new_people = 0
        next_id = _next_id(people)
        queue = waiting
        for _round in range(4):  # faces left alone in one batch meet again in the next round
            leftovers: list[dict[str, Any]] = []
            for start in range(0, len(queue), LINK_BATCH):
                if cancel and cancel():
                    leftovers.extend(queue[start:])
                    break
                batch = queue[start:start + LINK_BATCH]
                still = _join(batch, vecs, owners, params.threshold) if vecs else batch
                for r in batch:
                    if r.get("person"):
                        changes.append(r)
                        joined += 1
                for group in _groups(still, params.threshold):
                    members = _one_per_photo(group)
                    if len({m["content_hash"] for m in members}) < params.min_faces:
                        leftovers.extend(group)
                        continue
                    pid = str(next_id)
                    next_id += 1
                    self.tables.update_people([_new_person(pid)])
                    for m in members:
                        m["person"] = pid
                        changes.append(m)
                        vecs.append(np.asarray(m["descriptor"], dtype=np.float32))
                        owners.append(pid)
                    leftovers.extend(m for m in group if not m.get("person"))
                    new_people += 1
            done_all = len(queue) <= LINK_BATCH or len(leftovers) == len(queue) or (cancel and cancel())
            queue = leftovers
            if done_all or len(queue) < 2:
                break
        left = len(queue)
        self.tables.update_faces(changes)
        return {"joined": joined, "new_people": new_people, "waiting": left}

    # --- look-ups -------------------------------------------------------------------------------
    def _live_paths(self) -> dict[str, list[str]] | None:
        return self._live() if self._live else None

    def members(self) -> dict[str, list[dict[str, Any]]]:
        """Person id -> its faces (merged people folded into the one they were merged into)."""
        people = self._people()
        out: dict[str, list[dict[str, Any]]] = {}
        cols = ["face_id", "content_hash", "idx", "person", "left", "top", "right", "bottom", "quality", "size",
                "img_width", "img_height", "not_face"]
        for r in self._faces(cols):
            if r.get("person") and not r.get("not_face"):
                out.setdefault(self._root(r["person"], people), []).append(r)
        return out

    def listing(self, include_hidden: bool = False) -> list[dict[str, Any]]:
        """Every person with a photo in the index: id, name, count (photos; copies of one photo
        count once), faces, cover; most photos first."""
        people = self._people()
        live = self._live_paths()
        result: list[dict[str, Any]] = []
        for pid, faces in self.members().items():
            row = people.get(pid, {})
            if (row.get("hidden") or row.get("not_person")) and not include_hidden:
                continue
            hashes = {f["content_hash"] for f in faces}
            if live is not None:
                hashes = {h for h in hashes if live.get(h)}
            if not hashes:
                continue
            cover = max(faces, key=lambda f: (f["quality"] or 0) * (f["size"] or 0))
            result.append({"id": int(pid) if pid.isdigit() else pid, "name": row.get("name") or "",
                           "count": len(hashes), "faces": len(faces), "hidden": bool(row.get("hidden")),
                           "not_person": bool(row.get("not_person")),
                           "cover": {"path": _present((live or {}).get(cover["content_hash"]) or []),
                                     "content_hash": cover["content_hash"], "face_id": cover["face_id"],
                                     "box": [cover["left"], cover["top"], cover["right"], cover["bottom"]]}})
        result.sort(key=lambda p: (-p["count"], str(p["name"]).lower() or "~", str(p["id"])))
        return result

    def hashes_of(self, ident: str | int) -> set[str]:
        pid = self.resolve(ident)
        return {f["content_hash"] for f in self.members().get(pid, [])}

    def faces_in(self, content_hash: str) -> list[dict[str, Any]]:
        """The faces of one picture with their person's id and name (the preview's boxes)."""
        people = self._people()
        out = []
        for r in self.tables.faces_of([content_hash]):
            if r["idx"] == NO_FACE or r.get("not_face"):
                continue
            pid = self._root(r["person"], people) if r.get("person") else None
            out.append({"face_id": r["face_id"], "box": [r["left"], r["top"], r["right"], r["bottom"]],
                        "quality": r["quality"], "person": int(pid) if pid and pid.isdigit() else pid,
                        "name": (people.get(pid or "", {}).get("name") or "")})
        return out

    def names(self) -> list[str]:
        """The names of the visible people (what the query reader knows)."""
        return sorted({r["name"] for r in self._people().values()
                       if r.get("name") and not r.get("merged_into") and not r.get("hidden") and not r.get("not_person")})

    # --- corrections --------------------------------------------------------------------------
    def name(self, ident: str | int, name: str) -> dict[str, Any]:
        name = " ".join((name or "").split())
        pid = self.resolve(ident)
        people = self._people()
        for other, r in people.items():
            if other != pid and not r.get("merged_into") and name and (r.get("name") or "").lower() == name.lower():
                raise ImgragError(f"person {other} is already called {name!r}: merge them with "
                                  f"`imgrag people merge {other} {pid}`")
        row = dict(people.get(pid) or _new_person(pid))
        row["name"] = name or None
        self.tables.update_people([row])
        return {"id": _out_id(pid), "name": name}

    def merge(self, into: str | int, other: str | int) -> dict[str, Any]:
        a, b = self.resolve(into), self.resolve(other)
        if a == b:
            raise ImgragError("that is the same person")
        people = self._people()
        ra, rb = dict(people.get(a) or _new_person(a)), dict(people.get(b) or _new_person(b))
        if not ra.get("name") and rb.get("name"):
            ra["name"] = rb["name"]
        rb["merged_into"] = a
        rb["name"] = None
        self.tables.update_people([ra, rb])
        return {"id": _out_id(a), "merged": _out_id(b), "name": ra.get("name") or ""}

    def set_flag(self, ident: str | int, flag: str, value: bool = True) -> dict[str, Any]:
        if flag not in ("hidden", "not_person"):
            raise ValueError(flag)
        pid = self.resolve(ident)
        row = dict(self._people().get(pid) or _new_person(pid))
        row[flag] = bool(value)
        self.tables.update_people([row])
        return {"id": _out_id(pid), flag: bool(value)}

    def move_face(self, face_id: str, to: str | int | None = None) -> dict[str, Any]:
        """Take a face out of its person (to nobody, or to `to`); clustering leaves it there."""
        rows = self.tables.face_rows(f"face_id = {sql_str(face_id)}")
        if not rows or rows[0]["idx"] == NO_FACE:
            raise ImgragError(f"no face {face_id!r}")
        row = rows[0]
        people = self._people()
        old = self._root(row["person"], people) if row.get("person") else None
        target = self.resolve(to) if to is not None else None
        if old:
            row["rejected"] = ",".join(sorted(_rejected(row) | {old}))
        row["person"] = target
        row["by_user"] = True
        self.tables.update_faces([row])
        return {"face_id": face_id, "from": _out_id(old) if old else None, "to": _out_id(target) if target else None}

    def not_a_face(self, face_id: str) -> dict[str, Any]:
        rows = self.tables.face_rows(f"face_id = {sql_str(face_id)}")
        if not rows or rows[0]["idx"] == NO_FACE:
            raise ImgragError(f"no face {face_id!r}")
        row = rows[0]
        row["not_face"] = True
        row["by_user"] = True
        self.tables.update_faces([row])
        return {"face_id": face_id, "not_face": True}


def live_paths(store: Any) -> dict[str, list[str]]:
    """Content hash -> the indexed paths that hold it."""
    t = store.query(None, ["path", "content_hash"])
    out: dict[str, list[str]] = {}
    for p, h in zip(t.column("path").to_pylist(), t.column("content_hash").to_pylist()):
        if h:
            out.setdefault(h, []).append(p)
    return out


def people_of(store: Any) -> People:
    """The people of one index (a Store)."""
    return People(FaceTables(store.db_dir), lambda: live_paths(store))


def read_context(store: Any, settings: Any, **more: Any) -> Any:
    """The query readers' context with the names of this library's people (none when faces are
    switched off or none were found yet)."""
    from imgrag_desktop.search.understand import ReadContext

    tables = FaceTables(store.db_dir)
    if not settings.faces_enabled or tables.people.table is None:
        return ReadContext(**more)
    people = People(tables, lambda: live_paths(store))
    return ReadContext(people=people.names, person_photos=people.hashes_of, **more)


def _present(paths: Sequence[str]) -> str | None:
    """One of the paths that holds a photo, an existing file first (an offline copy else)."""
    import os

    for p in sorted(paths):
        if os.path.exists(p):
            return p
    return sorted(paths)[0] if paths else None


def _new_person(pid: str) -> dict[str, Any]:
    return {"person_id": pid, "name": None, "hidden": False, "not_person": False, "merged_into": None,
            "created": time.time()}


def _out_id(pid: str | None) -> int | str | None:
    return int(pid) if pid and pid.isdigit() else pid


def _next_id(people: dict[str, Any]) -> int:
    nums = [int(p) for p in people if p.isdigit()]
    return max(nums, default=0) + 1


def _join(rows: list[dict[str, Any]], vecs: list[np.ndarray], owners: list[str],
          threshold: float) -> list[dict[str, Any]]:
    """Give each row the person of its nearest assigned face when that person's centre is
    within the threshold too (a face the user took out of a person never goes back to it).
    Returns the rows still waiting."""
    a_vecs = np.stack(vecs)
    a_pid = np.asarray(owners)
    pids = sorted(set(owners))
    index = {p: i for i, p in enumerate(pids)}
    centres = np.stack([a_vecs[a_pid == p].mean(axis=0) for p in pids])
    w_vecs = np.asarray([r["descriptor"] for r in rows], dtype=np.float32)
    still: list[dict[str, Any]] = []
    for start in range(0, len(rows), 1024):
        block = w_vecs[start:start + 1024]
        d_face = _distances(block, a_vecs)
        d_centre = _distances(block, centres)
        for i, row in enumerate(rows[start:start + 1024]):
            pid = None
            for j in np.argsort(d_face[i])[:8]:  # the nearest faces, skipping people it was taken out of
                if d_face[i, j] > threshold:
                    break
                if a_pid[j] not in _rejected(row):
                    pid = str(a_pid[j])
                    break
            if pid is not None and d_centre[i, index[pid]] <= threshold:
                row["person"] = pid
            else:
                still.append(row)
    return still


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    aa = (a * a).sum(axis=1)[:, None]
    bb = (b * b).sum(axis=1)[None, :]
    return np.sqrt(np.maximum(aa + bb - 2.0 * a @ b.T, 0.0))


def _groups(rows: Sequence[dict[str, Any]], threshold: float) -> Iterable[list[dict[str, Any]]]:
    """Average-linkage groups of `rows` cut at `threshold` (scipy)."""
    if len(rows) < 2:
        yield from ([list(rows)] if rows else [])
        return
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    vecs = np.asarray([r["descriptor"] for r in rows], dtype=np.float64)
    labels = fcluster(linkage(pdist(vecs), method="average"), t=threshold, criterion="distance")
    by: dict[int, list[dict[str, Any]]] = {}
    for row, lab in zip(rows, labels):
        by.setdefault(int(lab), []).append(row)
    yield from by.values()


def _one_per_photo(group: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two faces of one photo are two people: keep the one nearest the group's centre."""
    if len(group) < 2:
        return group
    centre = np.mean([r["descriptor"] for r in group], axis=0)
    best: dict[str, tuple[float, dict[str, Any]]] = {}
    for r in group:
        d = float(np.linalg.norm(np.asarray(r["descriptor"]) - centre))
        if r["content_hash"] not in best or d < best[r["content_hash"]][0]:
            best[r["content_hash"]] = (d, r)
    return [r for _, r in best.values()]


def carry_over(old: Sequence[dict[str, Any]], new: list[dict[str, Any]], min_iou: float = 0.4) -> int:
    """A picture scanned again by another face model: each new face takes the person and the
    corrections of the old face whose box it overlaps most. Returns how many were carried."""
    carried = 0
    for n in new:
        if n["idx"] == NO_FACE:
            continue
        best, score = None, min_iou
        for o in old:
            if o["idx"] == NO_FACE:
                continue
            s = _iou((n["left"], n["top"], n["right"], n["bottom"]), (o["left"], o["top"], o["right"], o["bottom"]))
            if s >= score:
                best, score = o, s
        if best is not None:
            for k in ("person", "by_user", "not_face", "rejected"):
                n[k] = best.get(k)
            carried += 1
    return carried


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
