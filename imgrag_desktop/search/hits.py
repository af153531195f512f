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
    light = snapshot.table.take([snapshot.row_of[p] for p in known]).to_pylist() if known else []
    text = store.hit_rows(paths, columns, row_ids(light))
    out = {p: {**row, **text[p]} for p, row in zip(known, light) if p in text}
    for row in out.values():
        row.pop(ROWID, None)
    others = [p for p in text if p not in out]  # no vector in this snapshot (another model): read it all
    if others:
        out.update(store.rows(others, HIT_COLUMNS))
    return {p: out[p] for p in paths if p in out}


def row_ids(light: list[dict[str, Any]]) -> dict[str, int]:
    """path → LanceDB row id of snapshot rows (loaded with the vectors; an old start cache's
    rows may lack it): the hits' text columns are then taken by id (store/rowids.py)."""
    return {r["path"]: r[ROWID] for r in light if r.get(ROWID) is not None}


def snapshot_hits(store: Store, snapshot: LoadedVectors, idx: np.ndarray, scores: np.ndarray,
                  reason: str = "visual", with_text: bool = True,
                  rows: dict[str, dict[str, Any]] | None = None) -> list[Hit]:
    """Hits for snapshot rows `idx` with their scores, in that order; `rows` receives their
    rows as `hit_rows` gives them (what folding reads next, without a second look-up)."""
    if len(idx) == 0:
        return []
    sub = snapshot.table.take(idx.tolist()).to_pylist()
    extra = store.hit_rows([r["path"] for r in sub], HIT_SHOW_COLUMNS, row_ids(sub)) if with_text else {}
    merged = [{**r, **extra.get(r["path"], {})} for r in sub]
    if rows is not None:
        rows.update({m["path"]: m for m in merged if m["path"] in extra})
        for m in rows.values():
            m.pop(ROWID, None)
    return [Hit.from_row(m, s, [reason]) for m, s in zip(merged, scores.tolist())]
