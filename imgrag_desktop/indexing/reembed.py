"""Switching CLIP models: the new model's vectors are made in the background while the old
model's keep serving searches, then the index switches in one commit.

The design (docs/models.md#switching-the-clip-model):

* The settings name the model the user chose (the *target*). The index says which model made
  its vectors (`clip_model`); that model keeps *serving*: Services.clip is the serving encoder,
  so queries are encoded with the model that made the vectors they are compared with, the
  Indexer gives new files vectors of that model too (they stay searchable at once), and the
  scanner sees nothing to re-read: OCR text, captions and text vectors are never touched.
* The target's vectors go into two extra, nullable columns of the images table,
  `visual_next` (sized for the target model) and `clip_model_next`, written in batches by the
  "reembed" stage. The rows still to do are those whose `clip_model_next` is not the target's
  id: a new or changed file (written with nulls there) joins the to-do list by itself, a copy
  of known content takes its vector, and a run cut short (a kill, a quit, a cancel) resumes
  where it stopped.
* When every row has its target vector, one `alter_columns` commit renames `visual` →
  `visual_prev`, `clip_model` → `clip_model_prev`, `visual_next` → `visual` and
  `clip_model_next` → `clip_model`: a reader sees either the old vectors or the new ones, never
  a mix (the two models' vectors are never compared). The `_prev` columns are then dropped and
  the new model is recorded as serving.

The serving model's spec (architecture, pretrained tag, checkpoint path) is recorded in
`visual_model.json` beside the tables, because a row only holds the model's id, and an id
made from a checkpoint's hash does not say where the file is.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from imgrag_desktop import imaging
from imgrag_desktop.store import sql_str
from imgrag_desktop.types import ImgragError, ModelUnavailable, Progress

log = logging.getLogger(__name__)

STATE_FILE = "visual_model.json"
NEXT_VECTOR, NEXT_MODEL = "visual_next", "clip_model_next"
PREV_VECTOR, PREV_MODEL = "visual_prev", "clip_model_prev"
STAGE = "reembed"  # the Progress stage name (the window's label says it in words)


@dataclass(frozen=True)
class ClipSpec:
    """What it takes to build a ClipEncoder again, and the id its vectors carry."""

    model: str
    pretrained: str
    checkpoint: str
    id: str

    @classmethod
    def of(cls, encoder: Any) -> "ClipSpec":
        return cls(encoder.model_name, encoder.pretrained, encoder.checkpoint, str(encoder.model_id))


def state_path(cfg: Any) -> Path:
    return Path(cfg.db_dir) / STATE_FILE


def recorded_serving(cfg: Any) -> ClipSpec | None:
    try:
        raw = json.loads(state_path(cfg).read_text(encoding="utf-8"))
        return ClipSpec(**{k: str(raw["serving"][k]) for k in ("model", "pretrained", "checkpoint", "id")})
    except (OSError, ValueError, KeyError, TypeError):
        return None


def record_serving(cfg: Any, spec: ClipSpec) -> None:
    """Write (atomically) which model made the index's vectors; a read-only data dir is not an error."""
    if recorded_serving(cfg) == spec:
        return
    from imgrag_desktop.atomic import write_json

    try:
        write_json(state_path(cfg), {"serving": asdict(spec)})
    except OSError as exc:
        log.debug("cannot record the serving CLIP model: %s", exc)


def _spec_from_id(model_id: str) -> ClipSpec | None:
    """A named model's id is "architecture/pretrained"; a checkpoint's id names no file."""
    model, sep, pretrained = model_id.partition("/")
    if not sep or pretrained.startswith("ckpt-"):
        return None
    return ClipSpec(model, pretrained, "", model_id)


def _usable(cfg: Any, spec: ClipSpec) -> bool:
    """Whether the old model can still encode queries (its weights are on this computer)."""
    if spec.checkpoint:
        return os.path.isfile(spec.checkpoint)
    from imgrag_desktop.models.clip import cached_weights, hub_caches

    try:
        return cached_weights(spec.model, spec.pretrained, hub_caches(cfg)) is not None
    except Exception:  # an architecture open_clip does not know any more
        return False


def model_counts(store: Any) -> collections.Counter[str]:
    if store.images is None:
        return collections.Counter()
    return collections.Counter(store.query(None, ["clip_model"]).column("clip_model").to_pylist())


def choose_encoders(cfg: Any, store: Any, target: Any, make: Callable[[ClipSpec], Any]) -> tuple[Any, Any]:
    """(serving encoder, target encoder or None): the old model serves while a switch is under way.

    A switch is under way when the index holds vectors of another model than the settings name
    and that model's weights are still here; otherwise the target serves (a first index, or the
    old weights are gone: then the index is re-embedded in the foreground, as before)."""
    try:
        target_id = str(target.model_id)
    except ModelUnavailable:  # a checkpoint that is not there: the engine says so where it is used
        return target, None
    counts = model_counts(store)
    others = [(n, m) for m, n in counts.items() if m and m != target_id]
    if not others:  # the target makes (or will make) every vector: it is the one to remember
        record_serving(cfg, ClipSpec.of(target))
        return target, None
    old_id = max(others)[1]
    recorded = recorded_serving(cfg)
    old = recorded if recorded is not None and recorded.id == old_id else _spec_from_id(old_id)
    if old is None or not _usable(cfg, old):
        log.info("the CLIP model that made the index (%s) is not here: the new one serves", old_id)
        return target, None
    return make(old), target


# --- the re-embed ---------------------------------------------------------------------------------
def _todo_where(target_id: str) -> str:
    return f"({NEXT_MODEL} IS NULL OR {NEXT_MODEL} != {sql_str(target_id)})"


def remaining(store: Any, target_id: str) -> int:
    """Rows still without the target model's vector (0 when no switch is under way)."""
    t = store.images
    if t is None or NEXT_MODEL not in t.schema.names:
        return 0
    return int(store.count(_todo_where(target_id)))


def _prepare_columns(store: Any, target_id: str, dim: int) -> None:
    """The `_next` columns, sized for the target model; those of an earlier, abandoned target
    (another model, another size) are dropped first. Leftover `_prev` columns of a switch cut
    short after its commit go too."""
    t = store.images
    names = set(t.schema.names)
    stale = [c for c in (PREV_VECTOR, PREV_MODEL) if c in names]
    if NEXT_VECTOR in names:
        made = set(store.query(f"{NEXT_MODEL} IS NOT NULL", [NEXT_MODEL]).column(NEXT_MODEL).to_pylist())
        if t.schema.field(NEXT_VECTOR).type.list_size != dim or made - {target_id}:
            stale += [NEXT_VECTOR, NEXT_MODEL]
    if stale:
        with store._lock, store._writing():
            t.drop_columns(stale)
    if NEXT_VECTOR not in set(t.schema.names):
        import pyarrow as pa

        with store._lock, store._writing():
            t.add_columns([pa.field(NEXT_VECTOR, pa.list_(pa.float32(), dim)), pa.field(NEXT_MODEL, pa.string())])


def abandon(store: Any) -> bool:
    """Drop a switch's `_next`/`_prev` columns (the user went back to the serving model)."""
    t = store.images
    if t is None:
        return False
    cols = [c for c in (NEXT_VECTOR, NEXT_MODEL, PREV_VECTOR, PREV_MODEL) if c in t.schema.names]
    if cols:
        with store._lock, store._writing():
            if t.count_rows("clip_model IS NULL"):  # a switch cut short between its two commits
                t.update(where="clip_model IS NULL", values={"clip_model": ""})
            t.drop_columns(cols)
            store.writes += 1
    return bool(cols)


def reembed(store: Any, target: Any, cancel: threading.Event,
            on_progress: Callable[[Progress], None] | None = None, batch: int = 32) -> dict[str, Any]:
    """Give every row the target model's vector in `visual_next`, in batches; resumable."""
    target.load_for_images()
    target_id = str(target.model_id)
    _prepare_columns(store, target_id, int(target.dim))
    todo = store.query(_todo_where(target_id), ["path", "content_hash"])
    items = list(zip(todo.column("path").to_pylist(), todo.column("content_hash").to_pylist()))
    total = len(items)
    max_side = max(int(target.image_size) * 2, 256)
    done = embedded = reused = failed = 0
    made: dict[str, Any] = {}  # content hash → vector: copies cost nothing
    for i in range(0, total, batch):
        if cancel.is_set():
            break
        chunk = items[i: i + batch]
        changes: dict[str, dict[str, Any]] = {}
        tensors, owners = [], []
        for path, chash in chunk:
            if chash and chash in made:
                changes[path] = {NEXT_VECTOR: made[chash], NEXT_MODEL: target_id}
                reused += 1
                continue
            try:
                dec = imaging.decode_bytes(imaging.read_file(path), max_side=max_side, name=os.path.basename(path))
                tensors.append(target.preprocess(dec.image))
                owners.append((path, chash))
            except Exception:  # gone or unreadable since: it keeps no vector (see _switch)
                failed += 1
        if tensors:
            vecs = target.encode_tensors(target.stack(tensors))
            for (path, chash), v in zip(owners, vecs):
                changes[path] = {NEXT_VECTOR: v, NEXT_MODEL: target_id}
                if chash:
                    made[chash] = v
                embedded += 1
        if changes:
            store.update_rows(changes)
        done += len(chunk)
        if on_progress is not None:
            on_progress(Progress(STAGE, done, total, current=chunk[-1][0]))
    return {"model": target_id, "embedded": embedded, "reused": reused, "failed": failed,
            "remaining": remaining(store, target_id)}


def switch(store: Any) -> bool:
    """The atomic switch: one commit renames the `_next` columns into place; True when it happened.

    The caller has given every readable row its target vector; a row whose file could not be
    read again comes out with no visual vector and model "" (waiting: the "visual" stage fills
    it when the file is back)."""
    t = store.images
    if t is None or NEXT_MODEL not in t.schema.names:
        return False
    with store._lock, store._writing():
        t.alter_columns({"path": "visual", "rename": PREV_VECTOR}, {"path": "clip_model", "rename": PREV_MODEL},
                        {"path": NEXT_VECTOR, "rename": "visual"}, {"path": NEXT_MODEL, "rename": "clip_model"})
        store.writes += 1
    with store._lock, store._writing():
        if t.count_rows("clip_model IS NULL"):
            t.update(where="clip_model IS NULL", values={"clip_model": ""})
        t.drop_columns([PREV_VECTOR, PREV_MODEL])
        store.writes += 1
    return True


def run_switch(cfg: Any, store: Any, serving: Any, target: Any, cancel: threading.Event,
               on_progress: Callable[[Progress], None] | None = None,
               on_switched: Callable[[], None] | None = None) -> dict[str, Any] | None:
    """The "reembed" stage: continue a switch to `target` (None: no switch under way)."""
    if store.images is None:
        return None
    if target is None:
        return {"abandoned": True} if abandon(store) else None
    try:
        target_id = str(target.model_id)
        out = reembed(store, target, cancel, on_progress, batch=int(cfg.settings.batch_size or 32))
    except ModelUnavailable as exc:
        return {"waiting": remaining(store, str(getattr(target, "model_id", ""))), "reason": str(exc)}
    # A whole pass that leaves only unreadable files (out["failed"]) behind completes the switch.
    if cancel.is_set() or out["remaining"] > out["failed"]:
        return out
    try:
        switched = switch(store)
    except Exception as exc:  # a commit that failed leaves the old columns serving
        raise ImgragError(f"switching the index to {target_id} failed ({exc}); the previous model still serves") from exc
    out["switched"] = switched
    if switched:
        record_serving(cfg, ClipSpec.of(target))
        log.info("visual search now uses %s (was %s)", target_id, getattr(serving, "model_id", "?"))
        if on_switched is not None:
            on_switched()
    return out


def status(store: Any, serving: Any, target: Any) -> dict[str, Any]:
    """`imgrag status`: which model serves, which one is coming, and how many rows it still needs."""
    out: dict[str, Any] = {}
    try:
        out["visual_model"] = str(serving.model_id)
    except ModelUnavailable:
        out["visual_model"] = None
    if target is not None:
        tid = str(target.model_id)
        out["visual_model_next"] = tid
        out["reembed_remaining"] = remaining(store, tid) if NEXT_MODEL in store.images.schema.names \
            else int(store.count())
    else:
        out["visual_model_next"] = None
        out["reembed_remaining"] = 0
    return out
