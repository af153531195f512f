"""The two side tables of people: `faces` (one row per face found, keyed by content hash and
position) and `people` (one row per person: name, hidden, merged into another, not a person).

Faces are keyed by the content hash of their picture, so a moved or renamed file keeps its faces
and their person without any rewrite, and a re-indexed file that did not change is not scanned
again. A picture scanned without a face gets one marker row (`idx` -1), so the stage knows it is
done. Both tables live in the data dir's index folder and nowhere else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pyarrow as pa

from imgrag_desktop.store.sidetables import SideTable
from imgrag_desktop.store.sql import IN_CHUNK, sql_in, sql_str

DESCRIPTOR_DIM = 128
NO_FACE = -1  # `idx` of the marker row of a picture without faces

FACES_SCHEMA = pa.schema([
    pa.field("face_id", pa.string(), nullable=False),  # "<content hash>:<idx>"
    pa.field("content_hash", pa.string(), nullable=False),
    pa.field("idx", pa.int32()),
    pa.field("model", pa.string()),  # the face engine that found it (FaceEngine.model_id)
    pa.field("left", pa.int32()), pa.field("top", pa.int32()),
    pa.field("right", pa.int32()), pa.field("bottom", pa.int32()),
    pa.field("img_width", pa.int32()), pa.field("img_height", pa.int32()),
    pa.field("confidence", pa.float32()), pa.field("blur", pa.float32()), pa.field("pose", pa.float32()),
    pa.field("quality", pa.float32()), pa.field("size", pa.int32()),
    pa.field("descriptor", pa.list_(pa.float32(), DESCRIPTOR_DIM)),
    pa.field("person", pa.string()),  # a person_id, or null (waiting, or too poor to form one)
    pa.field("by_user", pa.bool_()),  # the user put it there (or took it out): clustering leaves it alone
    pa.field("not_face", pa.bool_()),  # the user said this is not a face / not a person
    pa.field("rejected", pa.string()),  # person ids (comma-separated) the user moved it out of
])

PEOPLE_SCHEMA = pa.schema([
    pa.field("person_id", pa.string(), nullable=False),
    pa.field("name", pa.string()),
    pa.field("hidden", pa.bool_()),
    pa.field("not_person", pa.bool_()),
    pa.field("merged_into", pa.string()),
    pa.field("created", pa.float64()),
])

# Pictures whose face search failed (a crash of the face process, its time limit), by content:
# how often, and the last reason. The faces stage records one that failed twice as failed.
TRIES_SCHEMA = pa.schema([
    pa.field("content_hash", pa.string(), nullable=False),
    pa.field("model", pa.string()),
    pa.field("tries", pa.int32()),
    pa.field("reason", pa.string()),
    pa.field("at", pa.float64()),
])

FACE_COLUMNS = [f.name for f in FACES_SCHEMA]
PEOPLE_COLUMNS = [f.name for f in PEOPLE_SCHEMA]


class FaceTables:
    """The faces and people tables of one index folder."""

    def __init__(self, db_dir: str | Path) -> None:
        self.db_dir = Path(db_dir)
        self.faces = SideTable(self.db_dir, "faces", "face_id")
        self.people = SideTable(self.db_dir, "people", "person_id")
        self.tries = SideTable(self.db_dir, "face_tries", "content_hash")

    def refresh(self) -> None:
        self.faces.refresh()
        self.people.refresh()

    # --- faces ------------------------------------------------------------------------------
    def face_rows(self, where: str | None = None, columns: Sequence[str] | None = None) -> list[dict[str, Any]]:
        return self.faces.query(where, columns or FACE_COLUMNS).to_pylist()

    def faces_of(self, hashes: Sequence[str], columns: Sequence[str] | None = None) -> list[dict[str, Any]]:
        hashes = list(dict.fromkeys(hashes))
        return [r for i in range(0, len(hashes), IN_CHUNK)
                for r in self.face_rows(sql_in("content_hash", hashes[i:i + IN_CHUNK]), columns)]

    def scanned(self, model: str) -> set[str]:
        """Content hashes whose faces this model has looked for."""
        if self.faces.table is None:
            return set()
        t = self.faces.query(f"model = {sql_str(model)}", ["content_hash", "model"])
        return {h for h, m in zip(t.column("content_hash").to_pylist(), t.column("model").to_pylist()) if m == model}

    def write_faces(self, rows: Sequence[dict[str, Any]], replace_hashes: Sequence[str] = ()) -> None:
        """Replace the rows of `replace_hashes` by `rows` (a re-scan with another model)."""
        stale = [h for h in replace_hashes]
        keep = {r["face_id"] for r in rows}
        for i in range(0, len(stale), IN_CHUNK):
            ids = {r["face_id"] for r in self.face_rows(sql_in("content_hash", stale[i:i + IN_CHUNK]), ["face_id"])}
            gone = sorted(ids - keep)
            for j in range(0, len(gone), IN_CHUNK):
                self.faces.delete_where(sql_in("face_id", gone[j:j + IN_CHUNK]))
        self.update_faces(rows)

    def update_faces(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            full = [{c: r.get(c) for c in FACE_COLUMNS} for r in rows]
            self.faces.upsert(pa.Table.from_pylist(full, schema=FACES_SCHEMA))

    def failed_tries(self, model: str) -> dict[str, int]:
        """content hash → how many times `model`'s face search failed on it (since it last worked)."""
        if self.tries.table is None:
            return {}
        t = self.tries.query(f"model = {sql_str(model)}", ["content_hash", "tries"])
        return dict(zip(t.column("content_hash").to_pylist(), t.column("tries").to_pylist()))

    def note_tries(self, model: str, tries: dict[str, tuple[int, str]], worked: Sequence[str] = ()) -> None:
        """Record `tries` (content hash → (failures so far, last reason)); forget those that `worked`."""
        import time

        if tries:
            now = time.time()
            rows = [{"content_hash": h, "model": model, "tries": n, "reason": r[:500], "at": now}
                    for h, (n, r) in tries.items()]
            self.tries.upsert(pa.Table.from_pylist(rows, schema=TRIES_SCHEMA))
        worked = list(dict.fromkeys(worked))
        if worked and self.tries.table is not None:
            for i in range(0, len(worked), IN_CHUNK):
                self.tries.delete_where(sql_in("content_hash", worked[i:i + IN_CHUNK]))

    # --- people -----------------------------------------------------------------------------
    def people_rows(self) -> dict[str, dict[str, Any]]:
        return {r["person_id"]: r for r in self.people.query(None, PEOPLE_COLUMNS).to_pylist()}

    def update_people(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            full = [{c: r.get(c) for c in PEOPLE_COLUMNS} for r in rows]
            self.people.upsert(pa.Table.from_pylist(full, schema=PEOPLE_SCHEMA))

    def drop(self) -> None:
        """Delete every face descriptor and every person (the privacy switch)."""
        for side in (self.faces, self.people, self.tries):
            side.drop()

    def exists(self) -> bool:
        return self.faces.table is not None or self.people.table is not None or self.tries.table is not None
