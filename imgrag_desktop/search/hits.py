"""Hits from ranked rows: the light columns come from the snapshot in RAM, the text ones
(OCR, captions, word boxes) from LanceDB, read only for the rows shown."""

from __future__ import annotations

from typing import Any

import numpy as np

from imgrag_desktop.search.snapshot import LoadedVectors
from imgrag_desktop.store import HIT_COLUMNS, HIT_SHOW_COLUMNS, HIT_TEXT_COLUMNS, ROWID, Store
from imgrag_desktop.types import Hit


def hit_rows(store: Store, snapshot: LoadedVectors, paths: list[str],
             columns: "list[str]" = HIT_TEXT_COLUMNS) -> dict[str, dict[str, Any]]:
    """The rows of these hits: the light columns from the snapshot (memory), `columns` from
    LanceDB (cached per query; see Store.hit_rows): all of HIT_COLUMNS by default, or with
    HIT_SHOW_COLUMNS what a visual hit shows and folding compares (fewer columns to read)."""
    known = [p for p in dict.fromkeys(paths) if p in snapshot.row_of]
    light, ids = light_rows(snapshot, [snapshot.row_of[p] for p in known])
    text = store.hit_rows(paths, columns, ids)
    out = {p: {**row, **text[p]} for p, row in zip(known, light) if p in text}
    others = [p for p in text if p not in out]  # no vector in this snapshot (another model): read it all
    if others:
        out.update(store.rows(others, HIT_COLUMNS))
    return {p: out[p] for p in paths if p in out}


def light_rows(snapshot: LoadedVectors, idx: list[int]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Snapshot rows `idx` without their `_rowid`, and path → that LanceDB row id (loaded with
    the vectors; an old start cache's rows may lack it): the hits' text columns are then
    taken by id (store/rowids.py)."""
    rows = snapshot.table.take(idx).to_pylist() if idx else []
    ids: dict[str, int] = {}
    for r in rows:
        rid = r.pop(ROWID, None)
        if rid is not None:
            ids[r["path"]] = rid
    return rows, ids


def snapshot_hits(store: Store, snapshot: LoadedVectors, idx: np.ndarray, scores: np.ndarray,
                  reason: str = "visual", with_text: bool = True,
                  rows: dict[str, dict[str, Any]] | None = None) -> list[Hit]:
    """Hits for snapshot rows `idx` with their scores, in that order; `rows` receives their
    rows as `hit_rows` gives them (what folding reads next, without a second look-up)."""
    if len(idx) == 0:
        return []
    sub, ids = light_rows(snapshot, idx.tolist())
    extra = store.hit_rows([r["path"] for r in sub], HIT_SHOW_COLUMNS, ids) if with_text else {}
    merged = [{**r, **extra.get(r["path"], {})} for r in sub]
    if rows is not None:
        rows.update({m["path"]: m for m in merged if m["path"] in extra})
    return [Hit.from_row(m, s, [reason]) for m, s in zip(merged, scores.tolist())]
