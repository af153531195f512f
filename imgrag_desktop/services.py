"""The engine's services, built lazily from an AppConfig and shared by the CLI and the window.

Nothing heavy is imported until a service is first used, so the window can appear before
torch is loaded. Pass a Services into whatever needs the engine; there are no singletons.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import TYPE_CHECKING, Any, Callable

from imgrag_desktop.config import AppConfig
from imgrag_desktop.types import ImgragError, ModelUnavailable

if TYPE_CHECKING:  # pragma: no cover
    from imgrag_desktop.indexing.pipeline import Indexer
    from imgrag_desktop.models.clip import ClipEncoder
    from imgrag_desktop.search import Searcher
    from imgrag_desktop.store import Store
    from imgrag_desktop.types import Progress

log = logging.getLogger(__name__)


class Services:
    def __init__(self, cfg: AppConfig) -> None:
        self.cfg = cfg
        self._lock = threading.RLock()
        self._store: Store | None = None
        self._clip: ClipEncoder | None = None
        self._clip_next: ClipEncoder | None = None  # the model being switched to (indexing/reembed.py)
        self._text: Any = None
        self._searcher: Searcher | None = None
        self._vlm: Any = None
        self.scan_fs: Any = None  # the scanner's file-system calls (scanner.Fs); a test injects a hung share
        self._faces: tuple[Any, Any] | None = None
        self._ocr: tuple[Any, Any] | None = None  # (the settings it was made from, the OCR engine)
        self._indexers: "weakref.WeakSet[Indexer]" = weakref.WeakSet()  # given the new model after a switch
        self._serving_stamp: Any = None  # visual_model.json's mtime when last read (follow_switch)

    @classmethod
    def from_args(cls, data_dir: str | None = None, profile: str | None = None) -> "Services":
        return cls(AppConfig.load(data_dir, profile))

    @property
    def store(self) -> "Store":
        with self._lock:
            if self._store is None:
                from imgrag_desktop.store import Store

                self.cfg.ensure_dirs()
                self._store = Store(self.cfg.db_dir)
            return self._store

    @property
    def clip(self) -> "ClipEncoder":
        """The CLIP model whose vectors the index holds: queries are encoded with it. While the
        settings name another one, that one is `clip_next` (re-embedding in the background)."""
        with self._lock:
            if self._clip is None:
                from imgrag_desktop.indexing.reembed import choose_encoders
                from imgrag_desktop.models.clip import encoder_from_config

                def make(spec: Any) -> "ClipEncoder":
                    return encoder_from_config(self.cfg, (spec.model, spec.pretrained, spec.checkpoint))

                self._clip, self._clip_next = choose_encoders(self.cfg, self.store, encoder_from_config(self.cfg), make)
            return self._clip

    def use_clip(self, encoder: "ClipEncoder") -> None:
        """Encode queries with `encoder` (a benchmark's model with random weights, whose
        vectors its synthetic index holds), instead of the one the settings name."""
        with self._lock:
            self._clip, self._clip_next, self._searcher = encoder, None, None

    @property
    def clip_next(self) -> "ClipEncoder | None":
        """The model the settings chose while the old one still serves (None: no switch under way)."""
        with self._lock:
            _ = self.clip
            return self._clip_next

    def visual_switched(self) -> None:
        """The index now holds the new model's vectors: the searcher and every indexer made
        here (a watcher's, held for its whole run) use the new model from now on."""
        self.reset_models()
        for ix in list(self._indexers):
            ix.encoder = self.clip

    def follow_switch(self) -> bool:
        """Whether another process (an `imgrag index`, another window) committed a CLIP switch
        since this one loaded its serving model; if so, take the settings' model choice from
        disk again and reload (`visual_switched`), so this process neither writes the old
        model's vectors into the new model's rows nor encodes queries with the old model.
        Cheap when nothing changed: one stat of visual_model.json (indexing/reembed.py)."""
        from imgrag_desktop.indexing.reembed import recorded_serving, state_path

        with self._lock:
            if self._clip is None:
                return False  # nothing loaded yet: the next use reads the index as it is
            try:
                stamp: Any = state_path(self.cfg).stat().st_mtime_ns
            except OSError:
                stamp = None
            if stamp == self._serving_stamp:
                return False
            self._serving_stamp = stamp
            rec = recorded_serving(self.cfg)
            try:
                current = str(self._clip.model_id)
            except ModelUnavailable:
                return False
            if rec is None or rec.id == current:
                return False
            try:
                fresh = AppConfig.load(self.cfg.data_dir, self.cfg.profile).settings
            except ImgragError as exc:  # a damaged settings file: keep serving, say why
                log.warning("another process switched the CLIP model, but %s", exc)
                return False
            for name in ("clip_model", "clip_pretrained", "clip_checkpoint"):
                setattr(self.cfg.settings, name, getattr(fresh, name))
            log.info("another process switched visual search to %s: reloading", rec.id)
            self.store.refresh()  # this handle's snapshot predates the switch's commit
            self.visual_switched()
            return True

    @property
    def text(self) -> Any:
        """The sentence embedder for OCR/caption text (None until that model module exists)."""
        with self._lock:
            if self._text is None:
                try:
                    from imgrag_desktop.models.text import encoder_from_config as text_from_config
                except ImportError:
                    return None
                self._text = text_from_config(self.cfg)
            return self._text

    @property
    def searcher(self) -> "Searcher":
        """The searcher of the serving model (a switch another process committed is followed)."""
        with self._lock:
            self.follow_switch()
            if self._searcher is None:
                from imgrag_desktop.search import Searcher
                from imgrag_desktop.search.calibration import CalibrationBook

                s = self.cfg.settings
                self._searcher = Searcher(self.store, self.clip, text_encoder_factory=lambda: self.text,
                                          calibration=CalibrationBook(self.cfg.data_dir), settings=s,
                                          default_weights=lambda: {"visual": s.weight_visual,
                                                                   "textual": s.weight_textual,
                                                                   "keyword": s.weight_keyword})
            return self._searcher

    def engine_modules(self, modules: tuple[str, ...]) -> tuple[str, ...]:
        """`modules` less torch and open_clip when CLIP's queries run on its ONNX export
        (models/onnx_clip.py): the window's warm-up then imports neither."""
        try:
            onnx = self.clip.serves_on_onnx()
        except Exception:  # the model is missing or broken: its load says why, later
            onnx = False
        return tuple(m for m in modules if not (onnx and m in ("torch", "open_clip", "torchvision")))

    def text_on_onnx(self) -> bool:
        """Whether the text model's queries run on its ONNX export (no sentence-transformers)."""
        text = self.text
        return bool(text is not None and text.serves_on_onnx())

    @property
    def vlm(self) -> Any:
        """The one local-VLM slot (captions and Ask share the weights in memory)."""
        with self._lock:
            if self._vlm is None:
                from imgrag_desktop.models.registry import VlmSlot

                self._vlm = VlmSlot(self.cfg)
            return self._vlm

    def idle_unloader(self) -> Any:
        """An IdleUnloader (models/idle.py) of this engine's CLIP and text models, per the
        `models_idle_unload_s` setting; the caller starts and stops it (the window, `imgrag watch`)."""
        from imgrag_desktop.models.idle import IdleUnloader

        return IdleUnloader(lambda: (self._clip, self._text), self.cfg.settings.models_idle_unload_s)

    def ocr_engine(self) -> Any:
        """The OCR engine of the settings (models/ocr.ocr_from_config), kept while they stay the
        same: the watcher's and the window's runs reuse its RapidOCR child instead of starting
        one each time (it ends by itself after a while without reading)."""
        from imgrag_desktop.models.ocr import ocr_from_config

        s = self.cfg.settings
        key = (s.ocr_engine, s.ocr_languages, s.ocr_timeout_s, s.ocr_workers)
        with self._lock:
            old = self._ocr
            if old is None or old[0] != key:
                engine = ocr_from_config(self.cfg)
                self._ocr = (key, engine)
            else:
                engine = old[1]
        if old is not None and old[1] is not engine and hasattr(old[1], "close"):
            old[1].close()
        return engine

    def close_ocr(self) -> None:
        """End the OCR engine's child processes now (a benchmark counts their CPU time)."""
        with self._lock:
            old, self._ocr = self._ocr, None
        if old is not None and hasattr(old[1], "close"):
            old[1].close()

    def close_faces(self) -> None:
        """End the face engine's child processes now (they start again on the next picture)."""
        with self._lock:
            old = self._faces
        if old is not None and hasattr(old[1], "close"):
            old[1].close()

    def faces_engine(self) -> Any:
        """The face engine (models/faces.py), kept while its settings stay the same: the watcher's
        batches do not load the face models again each time."""
        from imgrag_desktop.models.faces_child import engine_from_settings

        s = self.cfg.settings
        key = (s.faces_detector, s.faces_max_side, s.faces_timeout_s)
        with self._lock:
            old = self._faces
            if old is None or old[0] != key:
                engine = engine_from_settings(s)
                self._faces = (key, engine)
            else:
                engine = old[1]
        if old is not None and old[1] is not engine and hasattr(old[1], "close"):
            old[1].close()  # its children end now, not when idle
        return engine

    def read_context(self, **more: Any) -> Any:
        """The context of search/understand's readers with this library's people (their names
        and photos), so "Alice at the beach" reads Alice as a person filter. Every front end that
        reads a query (CLI search and ask, the window's search bar and Ask) should pass it."""
        from imgrag_desktop.search.filters import Filters
        from imgrag_desktop.search.people import read_context
        from imgrag_desktop.search.understand import known_places

        more.setdefault("places", lambda: known_places(self.store))  # the towns and countries it holds
        more.setdefault("has_tag", lambda tag: self._holds(Filters(tag=tag)))
        more.setdefault("has_media", lambda media: self._holds(Filters(media=media)))
        more.setdefault("has_ratings", lambda: self._holds(Filters(rating=1)))
        return read_context(self.store, self.cfg.settings, **more)

    def _holds(self, filters: Any) -> bool:
        """Whether any row of the library passes `filters` (asked by the query readers)."""
        store = self.store
        if store.images is None:
            return False
        try:
            return bool(store.count(filters.where()))
        except (ValueError, RuntimeError, OSError):  # an index from before the column existed: nothing to filter on
            return False

    def answerer(self, where: str | None = None, reading: Any = None, **kwargs: Any) -> Any:
        """An Answerer that retrieves with this instance's searcher (hybrid when available).
        `reading`: the question as search/understand already read it (the CLI prints it first),
        so it is not read twice."""
        from imgrag_desktop.answer import Answerer
        from imgrag_desktop.search.filters import and_where

        def retrieve(question: str, k: int) -> list[Any]:
            from imgrag_desktop.search.query import literal, read_terms

            # Questions get the best images even when they are weak matches: the model says when
            # the images do not hold the answer. The question is read as a search is
            # (search/understand.py): "the screenshot from Tuesday" looks at Tuesday's screenshots.
            from imgrag_desktop.search.understand import understand
            from imgrag_desktop.search.understood import by_date

            def searchable(text: str) -> str:  # a question is never refused for its wording
                return text if read_terms(text).positives else literal(text)

            read_as = reading if reading is not None and reading.original == question else None
            if read_as is None:
                read_as = understand(question, context=self.read_context())
            read = read_as.filters.where()
            both = and_where(where, read)
            if read_as.only_filters:
                hits = by_date(self.store, both, k)
            else:
                hits = self.searcher.search(searchable(read_as.text or question), k=k, where=both, min_score="off")
            if hits or not read:
                return hits
            # What was read from the question leaves no picture: the words were about the
            # pictures' contents ("the total at Unihakka on 09 Jun 2018" is the receipt's date,
            # not the photo's), so the whole question is searched without them.
            return self.searcher.search(searchable(question), k=k, where=where, min_score="off")

        return Answerer(self.store, self.vlm.get(), retrieve, **kwargs)

    def indexer(self, on_progress: "Callable[[Progress], None] | None" = None) -> "Indexer":
        from imgrag_desktop.indexing.pipeline import Indexer

        ix = Indexer(self.cfg, self.store, self.clip, on_progress=on_progress)
        ix.follow_switch = self.follow_switch
        if self.scan_fs is not None:
            ix.fs = self.scan_fs
        self._indexers.add(ix)
        return ix

    def reset_models(self) -> None:
        """Forget loaded models (after the user changed model settings)."""
        with self._lock:
            for enc in (self._clip, self._clip_next):
                if enc is not None:
                    enc.unload()
            if self._vlm is not None:
                self._vlm.unload()
            self._clip = self._clip_next = None
            self._searcher = None

    def close(self) -> None:
        """Free every model and end every child process now, not when the garbage collector
        gets round to this object's cycles: a process that runs several commands in turn (a
        test session, a script calling `cli.main`) would otherwise hold each command's ONNX
        sessions and torch weights (~160 MB and two threads a search) until a full collection.
        The services stay usable: what is used again loads again."""
        self.reset_models()
        with self._lock:
            text, self._text = self._text, None
        if text is not None:
            text.unload()
        self.close_ocr()
        self.close_faces()
        with self._lock:
            self._faces = None

    def reopen_store(self) -> None:
        """Forget the open tables (after `imgrag repair` changed them under us): the next use
        opens them afresh."""
        with self._lock:
            self._store = None
            self._searcher = None
