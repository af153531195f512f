"""The "visual" stage: vectors for rows indexed while CLIP was not there yet.

Without the CLIP weights a folder is still scanned, thumbnailed, OCR'd and put in the keyword
and textual indexes; its rows carry no visual vector (`clip_model` ""). Once the model is
there (downloaded from the Models page or `imgrag models download`), this stage decodes those
files again and writes only `visual` and `clip_model`: their OCR text, captions and text
vectors are kept (the OCR is not read again). Resumable: the rows still without a vector are
the to-do list, written in batches; a cancel stops after the batch in flight.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable

from imgrag_desktop import imaging
from imgrag_desktop.types import ModelUnavailable, Progress

WAITING = "clip_model = ''"


def waiting_rows(store: Any, where: str | None = None) -> int:
    if store.images is None:
        return 0
    return int(store.count(f"{WAITING} AND ({where})" if where else WAITING))


def fill_visual(store: Any, encoder: Any, cancel: threading.Event,
                on_progress: Callable[[Progress], None] | None = None, batch: int = 32,
                where: str | None = None) -> dict[str, Any] | None:
    """Embed the rows that wait for a visual vector; None when there are none."""
    todo_n = waiting_rows(store, where)
    if not todo_n:
        return None
    try:
        encoder.load_for_images()
    except ModelUnavailable as exc:
        return {"waiting": todo_n, "reason": str(exc)}

    model_id = encoder.model_id
    cond = f"{WAITING} AND ({where})" if where else WAITING
    paths = store.query(cond, ["path", "content_hash"])
    items = list(zip(paths.column("path").to_pylist(), paths.column("content_hash").to_pylist()))
    max_side = max(encoder.image_size * 2, 256)
    done = filled = failed = reused = 0
    for i in range(0, len(items), batch):
        if cancel.is_set():
            break
        chunk = items[i: i + batch]
        # Content already embedded by this model elsewhere (a copy): take its vector.
        known = store.rows_by_hash([h for _, h in chunk if h], model_id)
        changes: dict[str, dict[str, Any]] = {}
        tensors, owners = [], []
        for path, chash in chunk:
            src = known.get(chash)
            if src is not None and src.get("visual") is not None:
                changes[path] = {"visual": src["visual"], "clip_model": model_id}
                reused += 1
                continue
            try:
                dec = imaging.decode_bytes(imaging.read_file(path), max_side=max_side, name=os.path.basename(path))
                tensors.append(encoder.preprocess(dec.image))
                owners.append(path)
            except Exception:  # gone or unreadable since: the next scan deals with the row
                failed += 1
        if tensors:
            vecs = encoder.encode_tensors(encoder.stack(tensors))
            for path, v in zip(owners, vecs):
                changes[path] = {"visual": v, "clip_model": model_id}
        filled += store.update_rows(changes) if changes else 0
        done += len(chunk)
        if on_progress is not None:
            on_progress(Progress("visual", done, len(items), current=chunk[-1][0]))
    return {"filled": filled, "reused": reused, "failed": failed, "waiting": waiting_rows(store, where),
            "model": model_id}


def clip_ready(encoder: Any) -> bool:
    """Whether CLIP is there for queries (a valid ONNX export, or the weights, loaded if
    needed); never downloads. `load_for_queries` on purpose: a watcher that finds nothing new
    must not import torch; the image batches check the weights themselves (`load_for_images`)."""
    try:
        encoder.load_for_queries()
        return True
    except ModelUnavailable:
        return False

