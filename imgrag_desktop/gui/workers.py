"""Workers that run the engine off the GUI thread.

Two QThreads: one for queries (model warm-up, search, look-alikes, browsing, details) and one
for indexing, so a search answers while a folder is being indexed. Widgets talk to workers
only through queued signals; workers answer with signals. `imgrag_desktop.services` (and through it
torch, open_clip and lancedb) is imported on the first request, inside a worker thread.

Requests carry increasing ids; a query worker drops a request that a newer one has replaced
before it started, so typing fast never builds a queue of stale searches, and a search that is
replaced while it runs stops at its next check point (search/cancel.py) instead of running to
the end for an answer nobody will see.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtGui import QImage

from imgrag_desktop.config import AppConfig
from imgrag_desktop.gui.messages import describe_exception
from imgrag_desktop.search.cancel import SearchCancelled, cancellable
from imgrag_desktop.search.filters import Filters
from imgrag_desktop.search.modes import MODE_NAMES
from imgrag_desktop.types import Hit, ImgragError, ModelUnavailable

if TYPE_CHECKING:  # pragma: no cover
    from imgrag_desktop.services import Services

log = logging.getLogger(__name__)



@dataclass
class ResultItem:
    """One cell of the grid: a hit plus the content hash that names its cached thumbnail."""

    hit: Hit
    chash: str = ""


@dataclass
class Request:
    """A query for the results grid."""

    kind: str  # text | similar | browse
    text: str = ""
    image: Any = None  # for "similar": a path, or a QImage (pasted pixels)
    k: int = 500
    mode: str = "hybrid"
    folder: str = ""  # only images in this indexed folder ("" for all)
    label: str = ""  # how the window names this query to the user
    filters: Filters = field(default_factory=Filters)  # the filter bar's choices (the folder is `folder`)
    min_score: Any = "auto"  # "auto" (Settings.min_score, else calibrated), "off" or a number
    refresh: bool = False  # the index changed under the same query: keep the user's place
    sort: str = "score"  # score | date (newest first)
    reading: Any = None  # a search/understand Reading to use as it is (a chip was removed); None: read `text`

    def has_filters(self) -> bool:
        return self.filters.active()

    def where(self) -> str | None:
        """The folder and the filter bar's choices, as one LanceDB filter."""
        return self.filters.with_folder(self.folder).where()


@dataclass
class IndexJob:
    """One indexing (or folder removal) job; `cancel` is set from the GUI thread."""

    roots: list[str] = field(default_factory=list)
    rebuild: bool = False
    remove: str | None = None  # a folder whose rows are dropped (instead of indexing)
    keep: list[str] = field(default_factory=list)  # folders still indexed (nested ones survive a removal)
    confirm_removal: bool = False  # the user said yes to removing many vanished photos at once
    cancel: threading.Event = field(default_factory=threading.Event)
    # Set with `cancel`, and by the watcher when it needs the lock: later stages (OCR, captions) stop.
    stop_stages: threading.Event = field(default_factory=threading.Event)


class RequestGate:
    """The id of the newest request; older ones are stale."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest = 0

    def next(self) -> int:
        with self._lock:
            self._latest += 1
            return self._latest

    def stale(self, req_id: int) -> bool:
        with self._lock:
            return req_id < self._latest


class EngineHost:
    """Owns the lazily built Services shared by the workers (Services is thread-safe)."""

    def __init__(self, cfg: AppConfig, services_factory: Callable[[AppConfig], "Services"] | None = None) -> None:
        self.cfg = cfg
        self._factory = services_factory
        self._lock = threading.Lock()
        self._services: Services | None = None

    @property
    def services(self) -> "Services":
        with self._lock:
            if self._services is None:
                if self._factory is not None:
                    self._services = self._factory(self.cfg)
                else:
                    from imgrag_desktop.services import Services

                    self._services = Services(self.cfg)
            return self._services

    def close(self) -> None:
        """Free the models and end the child processes of the services, if they were built
        (the window calls it once its workers stopped; see Services.close)."""
        with self._lock:
            svc = self._services
        if svc is not None:
            svc.close()


def _calibrated_cutoffs(searcher: Any) -> dict[str, float | None]:
    """The model's calibrated relevance cut-offs (for the cut-off control's "Auto" label)."""
    try:
        cal = searcher.model_calibration()
    except Exception:
        return {}
    if cal is None:
        return {}
    return {kind: cal.threshold(kind) for kind in ("text", "image")}


def qimage_to_pil(image: QImage) -> Any:
    """Pasted pixels → a PIL image, in the worker thread (QImage is safe to read there)."""
    from PIL import Image

    img = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    data = bytes(img.constBits())[: bpl * h]
    return Image.frombuffer("RGB", (w, h), data, "raw", "RGB", bpl, 1).copy()


class QueryWorker(QObject):
    stats = Signal(object)  # {"images", "failed"}
    ready = Signal(object)  # {"model", "modes", "seconds"}: the CLIP model is loaded
    modelFailed = Signal(str, str)  # one line, details
    results = Signal(int, object, object)  # request id, list[ResultItem], info dict
    failed = Signal(int, str, str)  # request id, one line, details
    cancelled = Signal(int)  # request id: a newer request replaced it while it ran, and it stopped
    details = Signal(str, object)  # path, full row (minus vectors) for the preview
    failures = Signal(object)  # list of {"path", "reason", "stage", "at"}

    def __init__(self, host: EngineHost, gate: RequestGate) -> None:
        super().__init__()
        self.host = host
        self.gate = gate
        self._faces_timer: QTimer | None = None

    def _svc(self) -> "Services":
        return self.host.services

    @Slot()
    def warm_up(self) -> None:
        """Open the index, report what it holds, then load the model in the background."""
        t0 = time.monotonic()
        # torch, open_clip and lancedb imported so that the GUI thread can still take the GIL
        # (quiet_start.py): their native libraries loaded with the GIL released, no collection.
        from imgrag_desktop.quiet_start import ENGINE_MODULES, ONNX_MODULES, import_engine

        # The store (and imaging.py, which its helpers import); then the model's own: torch and
        # open_clip, or with an ONNX export serving the queries only onnxruntime and the
        # tokenizers (nothing of torch is loaded then, not even its native libraries).
        log.debug("engine imports: %s", import_engine(("lancedb", "imgrag_desktop.imaging")))
        modules = self._svc().engine_modules(ENGINE_MODULES)
        log.debug("engine imports: %s", import_engine(modules if "torch" in modules else modules + ONNX_MODULES))
        try:
            self._emit_stats()
        except Exception as exc:
            self.modelFailed.emit(*describe_exception(exc))
            return
        text_open = self._open_text_model_beside(self._svc())
        try:
            svc = self._svc()
            try:
                svc.clip.load_for_queries()
            except ModelUnavailable as exc:  # CLIP not downloaded yet: text searches work, indexing goes on
                self._wait_for(text_open)
                self.ready.emit({"model": "", "modes": [m for m in MODE_NAMES if m != "visual"],
                                 "seconds": time.monotonic() - t0, "cutoff": {}, "waiting": str(exc)})
                return
            self._wait_for(text_open)  # "ready": the first query, text vectors and all, waits for nothing
            coming = svc.clip_next  # another model chosen: re-embedding in the background
            self.ready.emit({"model": svc.clip.model_id, "modes": list(MODE_NAMES), "seconds": time.monotonic() - t0,
                             "cutoff": _calibrated_cutoffs(svc.searcher),
                             "next": coming.model_id if coming is not None else ""})
        except Exception as exc:
            self.modelFailed.emit(*describe_exception(exc))
            return
        self._import_text_model(svc)
        self._faces_when_idle()

    # How long "ready" waits for the text model opened beside CLIP (a slower one is still used
    # by the first text query, which then waits for the rest).
    TEXT_OPEN_WAIT_S = 30.0

    @staticmethod
    def _wants_text_model(svc: "Services") -> bool:
        """Whether the first query will need the text model: a library with text vectors whose
        search mode is not "visual"."""
        try:
            return svc.cfg.settings.search_mode != "visual" and bool(svc.store.count("text_model IS NOT NULL"))
        except Exception:  # an index from before text vectors
            return False

    @classmethod
    def _open_text_model_beside(cls, svc: "Services") -> threading.Thread | None:
        """With the text model's ONNX export present and the first query needing it, open it in a
        thread of its own while CLIP's export opens here: onnxruntime releases the GIL while it
        builds a session and runs it, so the two loads overlap (and the window keeps its GIL).
        A failure is left for the first text query to report. None: nothing to open now."""
        try:
            if not cls._wants_text_model(svc) or not svc.text_on_onnx():
                return None
        except Exception:
            return None

        def load() -> None:
            try:
                svc.text.load()
            except Exception as exc:  # noqa: BLE001 - the first text query reports it
                log.debug("text model not opened at start: %s", exc)

        thread = threading.Thread(target=load, name="imgrag-text-open", daemon=True)
        thread.start()
        return thread

    @classmethod
    def _wait_for(cls, thread: threading.Thread | None) -> None:
        if thread is not None:
            thread.join(cls.TEXT_OPEN_WAIT_S)

    @staticmethod
    def _import_text_model(svc: "Services") -> None:
        """In a library with text vectors, the first text query needs the text model: its imports
        are done now, the quiet way (quiet_start.py), rather than by that query, where they froze
        the window for up to seconds at a time."""
        from imgrag_desktop.quiet_start import TEXT_MODULES, import_engine

        try:
            if not QueryWorker._wants_text_model(svc) or svc.text_on_onnx():  # ONNX: opened beside CLIP
                return
        except Exception:  # an index from before text vectors: nothing to prepare
            return
        log.debug("text model imports: %s", import_engine(TEXT_MODULES, freeze=False))  # the image model is loaded

    # dlib runs in a child process (models/faces_child.py), whose start costs a core for ~1 s:
    # not before the first results, and not in the middle of the first indexing job either, but
    # once the user has left the query worker idle this long.
    FACES_IDLE_MS = 1500

    def _faces_when_idle(self) -> None:
        if self._faces_timer is None:
            self._faces_timer = QTimer(self)  # in the worker's thread: it fires there
            self._faces_timer.setSingleShot(True)
            self._faces_timer.setInterval(self.FACES_IDLE_MS)
            self._faces_timer.timeout.connect(self._load_face_models)
        self._faces_timer.start()

    @Slot()
    def _load_face_models(self) -> None:
        """Start the face process (it loads dlib's models) when the library has pictures the faces
        stage has not looked at (with none, the stage starts it itself if new pictures come). In
        a thread of its own: waiting for the child to start would hold up a query. A failure is
        left for the faces stage to report."""
        svc = self._svc()
        if not getattr(svc.cfg.settings, "faces_enabled", False):
            return
        threading.Thread(target=self._start_faces, args=(svc,), name="faces-start", daemon=True).start()

    @staticmethod
    def _start_faces(svc: "Services") -> None:
        try:
            from imgrag_desktop.indexing.faces_stage import faces_to_find

            engine = svc.faces_engine()
            if faces_to_find(svc.store, engine.model_id):
                engine.load()
        except Exception:
            pass

    @Slot()
    def refresh_stats(self) -> None:
        try:
            self._emit_stats()
        except Exception as exc:
            log.debug("stats failed: %s", exc)

    def _emit_stats(self) -> None:
        from imgrag_desktop.library import window_counts

        store = self._svc().store
        store.refresh()
        self.stats.emit(window_counts(store))

    @Slot()
    def reset_models(self) -> None:
        self._svc().reset_models()
        self.warm_up()

    # Results stream in: in a library of more than STREAM_MIN_ROWS pictures, a query asking
    # for more than FIRST_SCREEN results is first run for FIRST_SCREEN (its folding costs a
    # fraction) and shown, then run in full; the full answer replaces it, keeping the user's
    # place (the copies verified for the first pass are remembered, see search/duplicates.py).
    FIRST_SCREEN = 60
    STREAM_MIN_ROWS = 2000

    def _first_screen(self, req_id: int, req: Request, svc: "Services", t0: float) -> bool:
        """Run and show the first screenful; whether it was shown."""
        if req.kind not in ("text", "similar") or req.k <= self.FIRST_SCREEN or req.refresh:
            return False
        try:
            if len(svc.searcher.visual().paths) <= self.STREAM_MIN_ROWS:
                return False
            first = replace(req, k=self.FIRST_SCREEN)
            if req.kind == "text":
                hits = self._search(svc, first)
                req.reading = first.reading
            else:
                image = qimage_to_pil(req.image) if isinstance(req.image, QImage) else req.image
                req.image = image
                hits = self._similar(svc, first, image)
        except SearchCancelled:
            raise
        except Exception:  # the full pass says what went wrong
            return False
        if not hits or self.gate.stale(req_id):
            return False
        self.results.emit(req_id, self._with_hashes(svc, hits),
                              {"kind": req.kind, "label": req.label, "seconds": time.monotonic() - t0,
                               "mode": req.mode, "hidden_by_cutoff": False, "refresh": False, "partial": True,
                               "filtered": req.has_filters(), "reading": req.reading, "sort": req.sort})
        return True

    @Slot(int, object)
    def run(self, req_id: int, req: Request) -> None:
        if self._faces_timer is not None and self._faces_timer.isActive():
            self._faces_timer.start()  # the user is searching: the face models wait
        if self.gate.stale(req_id):
            return
        try:
            with cancellable(lambda: self.gate.stale(req_id)):
                self._run(req_id, req)
        except SearchCancelled:  # a newer request replaced it mid-way: it is next in the queue
            self.cancelled.emit(req_id)

    def _run(self, req_id: int, req: Request) -> None:
        t0 = time.monotonic()
        try:
            svc = self._svc()
            streamed = self._first_screen(req_id, req, svc, t0)
            if self.gate.stale(req_id):
                raise SearchCancelled("a newer search replaced this one")
            if req.kind == "browse":
                items = self._browse(svc, req)
            elif req.kind == "text":
                items = self._with_hashes(svc, self._search(svc, req))
            elif req.kind == "similar":
                image = req.image
                if isinstance(image, QImage):
                    image = qimage_to_pil(image)
                    req.image = image  # a refresh of the same query needs no second conversion
                items = self._with_hashes(svc, self._similar(svc, req, image))
            else:
                raise ImgragError(f"unknown request kind {req.kind!r}")
            hidden = False
            if not items and req.kind != "browse" and svc.searcher.resolve_min_score(req.min_score) is not None:
                # Nothing passed: say whether the cut-off hid weaker matches (one more look, k=1).
                probe = replace(req, k=1, min_score="off")
                hidden = bool(self._search(svc, probe) if req.kind == "text" else self._similar(svc, probe, req.image))
        except SearchCancelled:
            raise
        except Exception as exc:
            if not self.gate.stale(req_id):
                self.failed.emit(req_id, *describe_exception(exc))
            return
        if self.gate.stale(req_id):
            raise SearchCancelled("a newer search replaced this one")
        self.results.emit(req_id, items, {"kind": req.kind, "label": req.label, "seconds": time.monotonic() - t0,
                                          "mode": req.mode, "hidden_by_cutoff": hidden, "refresh": req.refresh,
                                          "filtered": req.has_filters(), "reading": req.reading,
                                          "sort": req.sort, "streamed": streamed})

    @staticmethod
    def _similar(svc: "Services", req: Request, image: Any) -> list[Hit]:
        return svc.searcher.similar(image, k=req.k, where=req.where(), text=req.text.strip() or None,
                                    min_score=req.min_score)

    @staticmethod
    def _search(svc: "Services", req: Request) -> list[Hit]:
        """The typed text read into filters and the rest (search/understand.py), then searched."""
        from imgrag_desktop.search.understand import understand
        from imgrag_desktop.search.understood import search_reading

        if req.reading is None:
            req.reading = understand(req.text, req.filters.with_folder(req.folder), svc.read_context())
        return search_reading(svc.searcher, req.reading, req.k, sort=req.sort, mode=req.mode, min_score=req.min_score)

    @staticmethod
    def _with_hashes(svc: "Services", hits: list[Hit]) -> list[ResultItem]:
        """Attach content hashes (they name the cached thumbnails) from the in-RAM table."""
        hashes: dict[str, str] = {}
        try:
            loaded = svc.searcher.visual()
            col = loaded.table.column("content_hash")
            for h in hits:
                i = loaded.row_of.get(h.path)
                if i is not None:
                    hashes[h.path] = col[i].as_py() or ""
        except Exception:  # hashes only speed up thumbnails; the grid works without them
            pass
        missing = [h.path for h in hits if h.path not in hashes]
        if missing:
            try:
                for p, row in svc.store.rows(missing, ["content_hash"]).items():
                    hashes[p] = row.get("content_hash") or ""
            except Exception:
                pass
        return [ResultItem(h, hashes.get(h.path, "")) for h in hits]

    @staticmethod
    def _browse(svc: "Services", req: Request) -> list[ResultItem]:
        from imgrag_desktop.library import browse

        return [ResultItem(hit, chash) for hit, chash in browse(svc.store, req.where(), req.k)]

    @Slot(str)
    def load_details(self, path: str) -> None:
        try:
            rows = self._svc().store.rows([path])
        except Exception as exc:
            log.debug("details of %s failed: %s", path, exc)
            return
        row = rows.get(path)
        if row is not None:
            row.pop("visual", None)
            row.pop("textual", None)
            row["faces"] = self._faces(row.get("content_hash"))
            self.details.emit(path, row)

    def _faces(self, chash: str | None) -> list[dict[str, Any]]:
        """The faces of one picture with their people (the preview's boxes); none when faces are off."""
        svc = self._svc()
        if not chash or not svc.cfg.settings.faces_enabled:
            return []
        try:
            from imgrag_desktop.search.people import people_of

            return [f for f in people_of(svc.store).faces_in(chash) if f.get("person") is not None]
        except Exception as exc:
            log.debug("faces of %s failed: %s", chash, exc)
            return []

    @Slot()
    def load_failures(self) -> None:
        try:
            rows = self._svc().store.list_failures()
        except Exception as exc:
            self.failures.emit([{"path": "", "reason": describe_exception(exc)[0], "stage": "store", "at": time.time()}])
            return
        rows.sort(key=lambda r: r.get("at") or 0, reverse=True)
        self.failures.emit(rows)


class IndexWorker(QObject):
    """Indexes folders while holding the data dir's writer lock, like `imgrag index`."""

    started = Signal(object)  # IndexJob
    progress = Signal(object)  # types.Progress
    finished = Signal(object, object)  # IndexJob, report dict
    failed = Signal(object, str, str, bool)  # IndexJob, one line, details, a rebuild would fix it
    stageWarning = Signal(str)  # one line: a later stage could not run (e.g. "OCR skipped: …")

    def __init__(self, host: EngineHost, min_interval_s: float = 0.05, writes: Any = None) -> None:
        super().__init__()
        self.host = host
        if writes is None:
            from imgrag_desktop.store.writers import DataDirWriter

            writes = DataDirWriter(host.cfg.lock_file)
        self.writes = writes  # the data dir's writer lock, shared with the window's folder watcher
        self.pause_event = threading.Event()  # shared with the running Indexer; set = paused
        self.min_interval_s = min_interval_s
        self._last_emit = (0.0, "")

    def _report(self, p: Any) -> None:
        """Forward progress, at most every 50 ms per stage: a stage reporting per file must
        not flood the GUI thread with signals (changes of stage and the last step always pass)."""
        now = time.monotonic()
        last_t, last_stage = self._last_emit
        if p.stage == last_stage and now - last_t < self.min_interval_s and not (p.total and p.done >= p.total):
            return
        self._last_emit = (now, p.stage)
        self.progress.emit(p)

    def set_paused(self, paused: bool) -> None:
        """Thread-safe: called from the GUI thread while a job runs."""
        if paused:
            self.pause_event.set()
        else:
            self.pause_event.clear()

    @Slot(object)
    def run(self, job: IndexJob) -> None:
        if job.cancel.is_set():
            self.finished.emit(job, {"cancelled": True, "skipped": True})
            return
        self.started.emit(job)
        from imgrag_desktop.library import VectorSizeMismatch

        try:
            svc = self.host.services
            with self.writes.writing():
                if job.remove is not None:
                    report = self._remove(svc, job)
                else:
                    report = self._index(svc, job)
            report["images"] = svc.store.count()
            report["failed_total"] = svc.store.failure_count()
        except VectorSizeMismatch as exc:
            self.failed.emit(job, str(exc), "", True)
            return
        except Exception as exc:
            self.failed.emit(job, *describe_exception(exc), False)
            return
        self.finished.emit(job, report)

    def _index(self, svc: "Services", job: IndexJob) -> dict[str, Any]:
        from imgrag_desktop.library import REBUILD_IN_WINDOW, check_vector_size

        self._report(_progress("load", current="loading the CLIP model"))
        try:
            svc.clip.load()
        except ModelUnavailable:
            pass  # not downloaded yet: the folder is indexed for text now, its vectors come later
        check_vector_size(svc, job.rebuild, remedy=REBUILD_IN_WINDOW)
        indexer = svc.indexer(on_progress=self._report)
        indexer.pause = self.pause_event
        report = indexer.index_paths(job.roots, cancel=job.cancel, confirm_removal=job.confirm_removal)
        data = report.to_json()
        data.update(getattr(report, "extra", None) or {})  # the stages of part "pass" (visual, tiles), as the CLI
        if not job.cancel.is_set():
            data.update(self._after_stages(svc, job))
        return data

    def _after_stages(self, svc: "Services", job: IndexJob) -> dict[str, Any]:
        """The later stages (OCR, captions, text vectors) `imgrag index` runs; they stop on Cancel,
        and when the folder watcher needs the lock (it runs them again afterwards). A stage that
        cannot run reaches the window as `stageWarning`."""
        from imgrag_desktop.indexing.stages import run_later_stages

        with self.writes.lock.yielding(job.stop_stages):
            return run_later_stages(svc, job.stop_stages, self._report, self.stageWarning.emit)

    @staticmethod
    def _remove(svc: "Services", job: IndexJob) -> dict[str, Any]:
        from imgrag_desktop.library import remove_folder_rows

        folder = job.remove or ""
        return {"removed_folder": folder, "removed": remove_folder_rows(svc.store, folder, job.keep)}


def _progress(stage: str, done: int = 0, total: int = 0, current: str = "") -> Any:
    from imgrag_desktop.types import Progress

    return Progress(stage, done, total, current=current)

