"""The later stages: everything that fills in after the visual pass, in ONE ordered list.

An image is searchable by its visual vector as soon as the visual pass has written it; the
stages below add to it without blocking that. `STAGES` is the only place their order and their
conditions live, and `run_later_stages` the only way they run, so `imgrag index`, `imgrag
watch`, the window's indexing and its folder watcher, and `imgrag eval` cannot drift apart.

Two parts of the list run at two moments:

* part "pass" runs inside the Indexer, right after its visual pass, on what that pass just wrote
  (`PassScope`): tiles of large images, the prune of stale fingerprints, and the model's relevance
  calibration (full index runs only: the watcher's small batches would redo it as the library
  grows). Their summary lands in `IndexReport.extra`.
* part "library" runs after that, over whatever waits in the whole table (every row remembers its
  own state, so each stage resumes after a quit): OCR first (captions wait for a screenshot's OCR
  text), captions, then text vectors and the keyword index (they must see both texts). The faces
  stage starts in a thread of its own when OCR starts (`Stage.beside`): both do their work in
  child processes, so on two cores both are busy; it needs nothing the stages in between write,
  writes only its own side tables (one process, one writer lock, as before), and the run waits
  for it at its place at the end of the list.

A stage that cannot run at all (an ImgragError: Tesseract missing, no caption model) does not stop
the others: it gives a one-line warning through `on_warning` and an `{"error": ...}` entry under
its key. Adding a stage is one `Stage(...)` entry in `STAGES`.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

from imgrag_desktop.types import ImgragError, Progress, tell

log = logging.getLogger(__name__)

ProgressFn = Callable[[Progress], None]
WarningFn = Callable[[str], None]


class Engine(Protocol):
    """What the stages use of the engine. `services.Services` (the composition root, a layer
    above this one) is one; `PassParts` is the Indexer's own for part "pass"."""

    @property
    def cfg(self) -> Any: ...  # AppConfig (None only for a bare Indexer in part "pass")

    @property
    def store(self) -> Any: ...

    @property
    def clip(self) -> Any: ...

    @property
    def text(self) -> Any: ...  # the sentence embedder, or None

    @property
    def vlm(self) -> Any: ...  # the one local-VLM slot

    def faces_engine(self) -> Any: ...  # models/faces.FaceEngine


@dataclass(frozen=True)
class PassParts:
    """Exactly an Indexer's store and encoder (a benchmark's or a throw-away index's too): all
    that the stages of part "pass" touch."""

    cfg: Any
    store: Any
    clip: Any
    text: Any = None
    vlm: Any = None
    fingerprints: Any = None  # the Indexer's open FingerprintTable (no second connection per batch)
    decoded: Any = None  # content hash -> picture the pass decoded, for the calibration's sample

    def faces_engine(self) -> Any:
        from imgrag_desktop.models.faces_child import engine_from_settings

        return engine_from_settings(self.cfg.settings)


@dataclass(frozen=True)
class PassScope:
    """What the visual pass just did, for the stages of part "pass"."""

    where: str | None = None  # the rows it covered (None: the whole table)
    changed: bool = False  # rows were removed or replaced: side tables have stale entries
    calibrate: bool = True  # a full index run (not a watcher batch)


@dataclass
class StageRun:
    """What every stage gets: the engine, a cancel event, and where to report."""

    services: Engine
    cancel: threading.Event
    on_progress: ProgressFn
    on_warning: WarningFn
    scope: PassScope | None = None

    @functools.cached_property
    def ocr_ok(self) -> bool:
        """Whether OCR can run, asked once per run (each check starts Tesseract processes)."""
        return ocr_available(self.services)


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[StageRun], "dict[str, Any] | None"]
    part: str = "library"  # "pass" | "library"
    # An ImgragError of this stage becomes the warning "<skipped> skipped: …" and {name: {"error": …}};
    # None: it propagates (the run fails, as a failed visual pass does).
    skipped: str | None = None
    # Start this stage in a thread of its own when the stage of that name starts, and wait for it
    # at its own place in the list: for a stage whose work is in a child process and that needs
    # nothing the stages in between write (faces beside OCR: the two children keep two cores busy).
    beside: str | None = None


# --- the engine work behind the stages (also what `imgrag ocr` / `imgrag captions` run) -------
def ocr_available(services: Engine) -> bool:
    """OCR is switched on and its engine (with the configured languages) can run."""
    from imgrag_desktop.models.ocr import availability

    return bool(services.cfg.settings.ocr_enabled) and availability(services.cfg)[0]


def read_text(services: Engine, cancel: threading.Event, on_progress: ProgressFn | None = None,
              limit: int | None = None, photos_in_full: bool | None = None) -> dict[str, Any]:
    """OCR of what waits for it, after queueing rows read by an engine no longer in use (an
    upgrade re-reads the library in the background); ModelUnavailable when no engine can run."""
    from imgrag_desktop.indexing.text_stage import OcrStage
    from imgrag_desktop.models.ocr import engine_ids, ocr_from_config

    cfg = services.cfg
    shared = getattr(services, "ocr_engine", None)  # Services keeps one between runs (its children warm)
    ocr = shared() if shared is not None else ocr_from_config(cfg)
    full = cfg.settings.ocr_photos if photos_in_full is None else photos_in_full
    stage = OcrStage(services.store, ocr, workers=cfg.settings.ocr_workers, on_progress=on_progress,
                     detect_first=not full, close_engine=shared is None)
    ocr.check()
    requeued = stage.requeue_outdated(engine_ids(ocr))
    data = stage.run(cancel, limit).to_json()
    data["upgraded"] = requeued
    return data


def embed_text(services: Engine, cancel: threading.Event, on_progress: ProgressFn | None = None,
               on_warning: WarningFn | None = None, include_ocr_pending: bool = False) -> dict[str, Any]:
    """Text vectors of new text, then the keyword index (built even when no text model runs:
    keyword search needs no model)."""
    from imgrag_desktop.indexing.text_stage import EmbedStage, ensure_fts_index

    data: dict[str, Any] = {}
    try:
        enc = services.text
        if enc is None:
            raise ImgragError("no text model module")
        data = EmbedStage(services.store, enc, on_progress=on_progress).run(
            cancel, include_ocr_pending=include_ocr_pending).to_json()
    except ImgragError as exc:
        _warn(on_warning, f"text vectors skipped: {exc}")
        data = {"error": str(exc)}
    if not cancel.is_set():
        data["keyword_index"] = ensure_fts_index(services.store)
    return data


def write_captions(services: Engine, cancel: threading.Event, on_progress: ProgressFn | None = None, *,
                   limit: int | None = None, requeue: bool = False, redo: bool = False,
                   duty: float = 1.0, wait_for_ocr: bool | None = None) -> dict[str, Any]:
    """Captions of what waits for one, with the one local-VLM slot (unloaded afterwards).
    `wait_for_ocr` (default: whether OCR can run): without Tesseract, pictures waiting for OCR
    would wait for ever, so they are captioned now."""
    from imgrag_desktop.indexing.captions import CaptionQueue

    slot = services.vlm
    if wait_for_ocr is None:
        wait_for_ocr = ocr_available(services)
    queue = CaptionQueue(services.store, slot.get, duty=duty, on_progress=on_progress, wait_for_ocr=wait_for_ocr)
    requeued = 0
    if requeue or redo:
        requeued = queue.requeue(("skipped", "failed") if requeue else (),
                                 other_models_than=slot.get().model_id if redo else None)
    try:
        report = queue.run(cancel, limit)
    finally:
        slot.unload()
    data = report.to_json()
    data["requeued"] = requeued
    return data


# --- the stages ---------------------------------------------------------------------------------
def _visual(run: StageRun) -> dict[str, Any] | None:
    """Visual vectors for rows indexed before CLIP was there (indexing/visual_fill.py)."""
    from imgrag_desktop.indexing.visual_fill import fill_visual

    scope = run.scope or PassScope()
    out = fill_visual(run.services.store, run.services.clip, run.cancel, run.on_progress, where=scope.where)
    return {"visual": out} if out else None


def _tiles(run: StageRun) -> dict[str, Any] | None:
    """Tiles of large images, so a small object in a big canvas is found (search/tiles.py)."""
    from imgrag_desktop.indexing.visual_fill import clip_ready
    from imgrag_desktop.search.tiles import tile_indexer_for

    if not clip_ready(run.services.clip):
        return None  # they come with the visual vectors

    scope = run.scope or PassScope()
    tiles = tile_indexer_for(run.services, run.on_progress)
    return tiles.run(run.cancel.is_set, where=scope.where, prune=scope.changed).to_json()


def _fingerprints(run: StageRun) -> dict[str, Any] | None:
    """Forget the perceptual prints of content no row holds any more (near-duplicates)."""
    if not (run.scope and run.scope.changed):
        return None
    from imgrag_desktop.search.duplicates import FingerprintTable
    from imgrag_desktop.store.sidetables import live_hashes

    store = run.services.store
    table = run.services.fingerprints if isinstance(run.services, PassParts) else None
    table = table or FingerprintTable(store.db_dir)
    return {"fingerprints_pruned": table.side.prune("content_hash", live_hashes(store))}


def _calibration(run: StageRun) -> dict[str, Any] | None:
    """The model's relevance cut-off, measured on the library once it is big enough."""
    svc = run.services
    if not (run.scope and run.scope.calibrate) or svc.cfg is None or run.cancel.is_set():
        return None
    from imgrag_desktop.indexing.visual_fill import clip_ready
    from imgrag_desktop.search.calibration import CalibrationBook, ensure_calibrated

    if not clip_ready(svc.clip):
        return None

    run.on_progress(Progress("calibrate"))
    cal = ensure_calibrated(CalibrationBook(svc.cfg.data_dir), svc.store, svc.clip, run.cancel.is_set,
                            decoded=getattr(svc, "decoded", None))
    if cal is None:
        return None
    return {"calibration": {"text_cutoff": cal.threshold("text"), "image_cutoff": cal.threshold("image")}}


def _places(run: StageRun) -> dict[str, Any] | None:
    """GPS → town, region, country, and the photo's own local time (indexing/places_stage.py)."""
    from imgrag_desktop.indexing.places_stage import PlacesStage

    if run.cancel.is_set():
        return None
    return {"places": PlacesStage(run.services.store, run.on_progress).run(run.cancel).to_json()}


def _place_words(run: StageRun) -> dict[str, Any] | None:
    from imgrag_desktop.indexing.places_stage import restore_place_words

    restored = restore_place_words(run.services.store)
    return {"place_words_restored": restored} if restored else None


def _metadata(run: StageRun) -> dict[str, Any] | None:
    """Keywords, titles, ratings, labels and named regions people wrote (indexing/meta_stage.py)."""
    from imgrag_desktop.indexing.meta_stage import MetaStage, restore_meta_words

    if run.cancel.is_set():
        return None
    out = MetaStage(run.services.store, run.on_progress, run.on_warning).run(run.cancel)
    restore_meta_words(run.services.store)
    return {"metadata": out.to_json()} if out.read or out.cancelled else None


def _meta_words(run: StageRun) -> dict[str, Any] | None:
    from imgrag_desktop.indexing.meta_stage import restore_meta_words

    restored = restore_meta_words(run.services.store)
    return {"meta_words_restored": restored} if restored else None


def _ocr(run: StageRun) -> dict[str, Any] | None:
    if not run.services.cfg.settings.ocr_enabled or run.cancel.is_set():
        return None
    return {"ocr": read_text(run.services, run.cancel, run.on_progress)}


def _captions(run: StageRun) -> dict[str, Any] | None:
    """Only when the user switched captions on (minutes per picture on a CPU)."""
    if not run.services.cfg.settings.captions_enabled:
        return None
    return {"captions": write_captions(run.services, run.cancel, run.on_progress, wait_for_ocr=run.ocr_ok)}


def _faces(run: StageRun) -> dict[str, Any] | None:
    """Faces and people (indexing/faces_stage.py); switched off, it deletes every face and name."""
    from imgrag_desktop.indexing.faces_stage import find_faces, forget_faces

    s = run.services.cfg.settings
    if not s.faces_enabled:
        return {"faces": {"deleted": True}} if forget_faces(run.services.store) else None
    if run.cancel.is_set():
        return None
    return {"faces": find_faces(run.services.store, s, run.services.faces_engine(), run.cancel, run.on_progress,
                                on_warning=run.on_warning)}


def _text(run: StageRun) -> dict[str, Any] | None:
    if run.cancel.is_set():
        return None
    # When OCR cannot run, rows waiting for it still get a vector of their name and caption.
    return {"text": embed_text(run.services, run.cancel, run.on_progress, run.on_warning,
                               include_ocr_pending=not run.ocr_ok)}


def _reembed(run: StageRun) -> dict[str, Any] | None:
    """A CLIP model switch: the new model's vectors in the background, then one atomic switch
    (indexing/reembed.py); the old model serves searches until then."""
    from imgrag_desktop.indexing.reembed import run_switch

    svc = run.services
    if svc.cfg is None or run.cancel.is_set():
        return None
    out = run_switch(svc.cfg, svc.store, svc.clip, getattr(svc, "clip_next", None), run.cancel, run.on_progress,
                     on_switched=getattr(svc, "visual_switched", None))
    return {"reembed": out} if out else None


STAGES: tuple[Stage, ...] = (
    Stage("visual", _visual, part="pass"),  # vectors of rows indexed before CLIP arrived
    Stage("tiles", _tiles, part="pass"),
    Stage("fingerprints", _fingerprints, part="pass"),
    Stage("calibration", _calibration, part="pass"),
    Stage("places", _places),  # GPS → place, local time: cheap, before the slow ones
    Stage("metadata", _metadata),  # tags, titles, ratings people wrote (XMP sidecars, XMP/IPTC)
    Stage("ocr", _ocr, skipped="OCR"),
    Stage("captions", _captions, skipped="captions"),
    Stage("place words", _place_words),  # the place's names back into rewritten search_text
    Stage("meta words", _meta_words),  # the metadata's words back into rewritten search_text
    Stage("text", _text),  # text vectors, then the keyword index
    Stage("reembed", _reembed),  # a new CLIP model's vectors while the old ones serve
    # beside OCR, in a thread: its child detects while OCR's reads; it needs only the rows and their
    # content hashes (and metadata's named regions, done before), and writes only its side tables
    Stage("faces", _faces, skipped="faces", beside="ocr"),
)


def run_later_stages(services: Engine, cancel: threading.Event | None = None,
                     on_progress: ProgressFn | None = None, on_warning: WarningFn | None = None, *,
                     part: str = "library", scope: PassScope | None = None,
                     stages: Sequence[Stage] | None = None,
                     timings: dict[str, float] | None = None, cpu_timings: dict[str, float] | None = None,
                     release_clip: bool = False) -> dict[str, Any]:
    """Run the stages of `part` in their order; their results merged into one dict (what
    `imgrag index --json` prints). Each stage checks `cancel` itself. `timings`, when given,
    receives each stage's seconds by name, `cpu_timings` the CPU seconds of this process
    (all threads) spent in each: on a shared machine they vary far less than wall seconds.

    `release_clip` (a one-shot `imgrag index`, not the watcher): the visual pass is over, so
    CLIP's weights leave memory before the stages load theirs (OCR, text, faces); a stage
    that needs CLIP again (a model switch) loads it back. After each stage the freed heap
    is given back to the system, so the stages' models do not stack up in the peak.

    A stage with `beside` starts in a thread when that stage starts (faces beside OCR) and is
    waited for at its own place; its `cpu_timings` entry is its own thread's CPU, and the
    entries of the stages it ran beside include what it spent meanwhile."""
    from imgrag_desktop.models.idle import trim_heap

    if release_clip:
        release_visual_model(services)
    run = StageRun(services, cancel or threading.Event(), _guarded(on_progress), on_warning or _log_warning, scope)
    results: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    cpu: dict[str, float] = {}
    chosen = [st for st in (STAGES if stages is None else stages) if st.part == part]
    early: dict[str, _Beside] = {}
    try:
        for i, stage in enumerate(chosen):
            for other in chosen[i + 1:]:  # later stages that start beside this one, each in a thread
                if other.beside == stage.name and other.name not in early:
                    early[other.name] = _Beside(other, run)
            side = early.get(stage.name)
            if side is not None:  # its place in the list: wait for it there
                out, seconds[stage.name], cpu[stage.name] = side.result()
                results.update(out or {})
                continue
            t0, c0 = time.perf_counter(), time.process_time()
            out = _run_stage(stage, run)
            seconds[stage.name] = round(time.perf_counter() - t0, 3)
            results.update(out or {})
            trim_heap()
            cpu[stage.name] = round(time.process_time() - c0, 3)
    finally:
        for side in early.values():  # a stage above raised: the threads beside still end before the run
            side.join()
    if timings is not None:  # where a run's time went, stage by stage (`imgrag index --json`)
        timings.update(seconds)
    if cpu_timings is not None:
        cpu_timings.update(cpu)
    return results


def _run_stage(stage: Stage, run: StageRun) -> dict[str, Any] | None:
    try:
        return stage.run(run)
    except ImgragError as exc:
        if stage.skipped is None:
            raise
        _warn(run.on_warning, f"{stage.skipped} skipped: {exc}")
        return {stage.name: {"error": str(exc)}}


class _Beside:
    """A stage running in a thread beside the others (`Stage.beside`); `result()` waits for it:
    (its results, wall seconds, CPU seconds of its own thread), or re-raises what it raised."""

    def __init__(self, stage: Stage, run: StageRun) -> None:
        self.stage = stage
        self._out: tuple[dict[str, Any] | None, float, float] | None = None
        self._exc: BaseException | None = None
        self._thread = threading.Thread(target=self._main, args=(run,), name=f"stage-{stage.name}", daemon=True)
        self._thread.start()

    def _main(self, run: StageRun) -> None:
        from imgrag_desktop.models.idle import trim_heap

        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            out = _run_stage(self.stage, run)
            trim_heap()
            self._out = (out, round(time.perf_counter() - t0, 3), round(time.thread_time() - c0, 3))
        except BaseException as exc:  # noqa: BLE001 - handed to the runner's thread in result()
            self._exc = exc

    def join(self) -> None:
        self._thread.join()

    def result(self) -> tuple[dict[str, Any] | None, float, float]:
        self._thread.join()
        if self._exc is not None:
            raise self._exc
        assert self._out is not None
        return self._out


def release_visual_model(services: Engine) -> None:
    """Unload CLIP if it is loaded (its next encode loads it again) and give the freed heap back."""
    import gc

    from imgrag_desktop.models.idle import trim_heap

    try:
        clip = services.clip  # built by the visual pass already; not loaded by asking
    except ImgragError:
        return
    if clip is not None and getattr(clip, "loaded", False):
        clip.unload()
        gc.collect()
        trim_heap()


def _guarded(cb: ProgressFn | None) -> ProgressFn:
    return lambda p: tell(cb, p)


def _log_warning(text: str) -> None:
    log.warning("%s", text)


def _warn(cb: WarningFn | None, text: str) -> None:
    (cb or _log_warning)(text)
