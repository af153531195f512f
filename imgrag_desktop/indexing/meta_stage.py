"""The metadata stage: keywords, titles, descriptions, ratings, colour labels and named face
regions that people wrote (indexing/sidecars.py), into the row, the keyword index and the
textual vector.

Rows wait with `meta_status` null (new, changed, from an older index, or one whose sidecar
changed: `requeue_changed` compares the sidecars' signature with `meta_sig`). Batches,
resumable, stops on cancel. Like the place's names, the metadata's words (`meta_words`) are put
back into search_text by `restore_meta_words` just before the text stage, since OCR, captions
and renames rewrite search_text from name, OCR text and caption only.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from imgrag_desktop.indexing.places_stage import restore_words, with_place_words
from imgrag_desktop.indexing.sidecars import read_photo_meta, sidecar_paths, signature
from imgrag_desktop.store import sql_in, sql_str
from imgrag_desktop.types import Progress, tell

BATCH = 256
PENDING = "meta_status IS NULL"


@dataclass
class MetaReport:
    read: int = 0
    with_meta: int = 0
    sidecars: int = 0
    skipped_sidecars: int = 0
    seconds: float = 0.0
    cancelled: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"read": self.read, "with_metadata": self.with_meta, "sidecars": self.sidecars,
                "sidecars_skipped": self.skipped_sidecars, "seconds": round(self.seconds, 3),
                "cancelled": self.cancelled}


def row_files(row: dict[str, Any]) -> list[str]:
    """Every file of an item: the row's path, and its RAW or video companions (`files`)."""
    files = [row["path"]]
    try:
        files.extend(json.loads(row.get("files") or "[]"))
    except (TypeError, ValueError):
        pass
    return list(dict.fromkeys(files))


def _without(search_text: str | None, words: str | None) -> str:
    text = search_text or ""
    if words and text.endswith(words):
        text = text[: -len(words)].rstrip("\n")
    return text


class MetaStage:
    def __init__(self, store: Any, on_progress: Callable[[Progress], None] | None = None,
                 on_warning: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.on_progress = on_progress
        self.on_warning = on_warning

    def _ready(self) -> bool:
        return self.store.images is not None and "meta_status" in self.store.images.schema.names

    def run(self, cancel: threading.Event | None = None) -> MetaReport:
        cancel = cancel or threading.Event()
        report = MetaReport()
        t0 = time.perf_counter()
        if not self._ready():
            return report
        todo = self.store.query(PENDING, ["path"]).column("path").to_pylist()
        if todo:
            tell(self.on_progress, Progress("metadata", 0, len(todo)))
        for i in range(0, len(todo), BATCH):
            if cancel.is_set():
                report.cancelled = True
                break
            rows = self.store.rows(todo[i:i + BATCH], ["path", "files", "search_text", "meta_words"])
            changes: dict[str, dict[str, Any]] = {}
            for path, row in rows.items():
                files = row_files(row)
                if not os.access(path, os.R_OK):
                    continue  # offline folder: read on a later run
                meta = read_photo_meta(files)
                sides = [s for f in files for s in sidecar_paths(f)]
                report.sidecars += len(sides)
                for problem in meta.problems:
                    report.skipped_sidecars += 1
                    if self.on_warning is not None:
                        self.on_warning(problem)
                cols = meta.columns()
                text = with_place_words(_without(row.get("search_text"), row.get("meta_words")), cols["meta_words"])
                change = {**cols, "meta_status": "none" if meta.empty() else "done", "meta_sig": signature(sides)}
                if text != (row.get("search_text") or ""):
                    change.update(search_text=text, textual=None)
                changes[path] = change
                report.with_meta += not meta.empty()
            self.store.update_rows(changes)
            report.read += len(changes)
            tell(self.on_progress, Progress("metadata", report.read, len(todo)))
        report.seconds = time.perf_counter() - t0
        return report


def restore_meta_words(store: Any) -> int:
    """Put the metadata's words back where a rewrite of search_text dropped them."""
    return restore_words(store, "meta_words")


def requeue_changed(store: Any, where: str | None = None, known: set[str] | None = None) -> int:
    """Queue rows whose sidecars changed (added, edited, removed) since they were read; `known`:
    the sidecars the scan saw (rows without any, and none recorded, cost no stat)."""
    if store.images is None or "meta_sig" not in store.images.schema.names:
        return 0
    cond = "meta_status IS NOT NULL" + (f" AND ({where})" if where else "")
    tbl = store.query(cond, ["path", "files", "meta_sig"])
    stale = []
    for r in tbl.to_pylist():
        sides = [s for f in row_files(r) for s in sidecar_paths(f, known)]
        if not sides and not r.get("meta_sig"):
            continue
        if signature(sides) != (r.get("meta_sig") or ""):
            stale.append(r["path"])
    for i in range(0, len(stale), 500):
        store.update_rows({p: {"meta_status": None} for p in stale[i:i + 500]})
    return len(stale)


def requeue_for_sidecars(store: Any, sidecars: Iterable[str]) -> int:
    """The watcher saw these sidecars change: the photos they describe are read again."""
    if store.images is None or "meta_status" not in store.images.schema.names:
        return 0
    owners = []
    for side in sidecars:
        base = side[:-4]  # photo.jpg.xmp → photo.jpg; photo.xmp → photo
        owners.append(base)
        folder, stem = os.path.split(base)
        try:
            names = os.listdir(folder or ".")
        except OSError:
            continue
        owners.extend(os.path.join(folder, n) for n in names
                      if os.path.splitext(n)[0] == stem and not n.lower().endswith(".xmp"))
    if not owners:
        return 0
    rows = store.query(sql_in("path", list(dict.fromkeys(owners))), ["path"]).column("path").to_pylist()
    # a RAW's sidecar describes the pair whose row is the JPEG: found through `files`
    for side in sidecars:
        stem = os.path.splitext(side[:-4])[0]
        folder = os.path.dirname(side)
        more = store.query(f"files IS NOT NULL AND starts_with(path, {sql_str(folder + os.sep)})",
                           ["path", "files"]).to_pylist()
        rows.extend(r["path"] for r in more if any(os.path.splitext(f)[0] == stem for f in row_files(r)))
    rows = list(dict.fromkeys(rows))
    if rows:
        store.update_rows({p: {"meta_status": None} for p in rows})
    return len(rows)
