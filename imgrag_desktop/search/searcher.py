"""The Searcher: queries → hits, for the CLI, the window, questions and benchmarks.

It owns what outlives a query (the vector snapshots, the tile matcher, the duplicate finder,
the settings) and hands each mode what it reads: the modes are plain functions (hybrid.py,
ranking.py) over a snapshot, the store and the encoders. Vectors are searched in RAM (see
vectors.py); filters run inside LanceDB. The matrix of visual vectors is loaded from the
store once and reloaded only when the store has changed, so a query costs one text/image
encode plus one matrix product.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from imgrag_desktop.search import hybrid
from imgrag_desktop.search.cancel import checkpoint
from imgrag_desktop.search.hits import hit_rows, snapshot_hits
from imgrag_desktop.search.modes import mode_named
from imgrag_desktop.search.moments import with_moments
from imgrag_desktop.search.query import SPREAD_SAMPLE, combine, parse
from imgrag_desktop.search.ranking import collapse_hits, fetch_size, rank_visual
from imgrag_desktop.search.snapshot import LoadedVectors, VectorCache, allowed_mask
from imgrag_desktop.store import Store, sql_str
from imgrag_desktop.types import Hit, ImgragError, ModelUnavailable

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from imgrag_desktop.config import Settings
    from imgrag_desktop.models.clip import ClipEncoder
    from imgrag_desktop.search.calibration import CalibrationBook, ModelCalibration
    from imgrag_desktop.search.duplicates import DuplicateFinder
    from imgrag_desktop.search.query import ParsedQuery

AUTO = "auto"
TEXT_VECTORS_KEPT = 32


class Searcher:
    def __init__(self, store: Store, clip: "ClipEncoder", text_encoder_factory: Callable[[], Any] | None = None,
                 calibration: "CalibrationBook | None" = None, settings: "Settings | None" = None,
                 default_weights: Callable[[], dict[str, float]] | None = None) -> None:
        from imgrag_desktop.search.tiles import TileMatcher, TileTable

        self.store = store
        self.clip = clip
        self.text_encoder_factory = text_encoder_factory
        self.calibration = calibration  # per-model relevance thresholds (calibration.py)
        self.settings = settings  # min_score: None = calibrated cut-off, a number = fixed, -1 = none
        self.default_weights = default_weights  # the user's fusion weights (Settings), read per query
        self.tile_matcher = TileMatcher(TileTable(store.db_dir))
        self._vectors = VectorCache(store, clusters_dir=store.db_dir.parent / "search-cache")
        self._finder: tuple[Any, Any] | None = None
        self._text_cache: OrderedDict[tuple[str, tuple[str, ...]], np.ndarray] = OrderedDict()
        self._text_lock = threading.Lock()

    # Snapshots and hits ------------------------------------------------------------------------
    def visual(self) -> LoadedVectors:
        """The current snapshot of the visual vectors of this CLIP model."""
        return self._vectors.get("visual", "clip_model", self.clip.model_id)

    def _textual_side(self) -> tuple[LoadedVectors, Any]:
        """The textual snapshot with the encoder that made it (what the textual mode reads)."""
        enc = self.text_encoder()
        return self._vectors.get("textual", "text_model", enc.model_id), enc

    def make_hits(self, loaded: LoadedVectors, idx: np.ndarray, scores: np.ndarray, reason: str = "visual",
                  with_text: bool = True) -> list[Hit]:
        return snapshot_hits(self.store, loaded, idx, scores, reason, with_text)

    def hit_rows(self, paths: list[str]) -> dict[str, dict[str, Any]]:
        """Store.HIT_COLUMNS of these rows (see hits.hit_rows)."""
        return hit_rows(self.store, self.visual(), paths)

    # Queries -----------------------------------------------------------------------------------
    def visual_search(self, query_vec: np.ndarray, k: int = 10, where: str | None = None,
                      reason: str = "visual", exclude: str | None = None, min_score: float | None = None,
                      collapse: bool = True, tiles: bool = True, first: str | None = None) -> list[Hit]:
        """Top hits by cosine to `query_vec` (a large image scores by its best tile when that is
        better), hiding scores below `min_score` and folding near-duplicates together."""
        loaded = self.visual()
        mask = allowed_mask(self.store, loaded, where)
        if exclude is not None and exclude in loaded.row_of:
            mask = np.ones(len(loaded.paths), bool) if mask is None else mask
            mask[loaded.row_of[exclude]] = False
        hits = rank_visual(self.store, loaded, query_vec, k, mask, tiles=self.tile_matcher, model_id=self.clip.model_id,
                           finder=self.duplicate_finder() if collapse else None, reason=reason, min_score=min_score,
                           collapse=collapse, use_tiles=tiles, first=first)
        return with_moments(self.store, hits, query_vec, self._clip_id())  # which moment of a video matched

    def search(self, text: str, k: int = 10, where: str | None = None, mode: str = "hybrid",
               weights: dict[str, float] | None = None, like: "str | os.PathLike[str] | Image.Image | None" = None,
               min_score: float | str | None = AUTO, collapse: bool = True, **_: Any) -> list[Hit]:
        """Text → images. Modes: visual (CLIP), textual (meaning of OCR/caption/name text),
        keyword (full-text index) and hybrid (score-aware weighted RRF of the three; see
        fusion.py). The text may combine terms ("beach -people", "sunset:2 beach"; query.py)
        and `like` adds an image: such a query is one vector in CLIP space, which is the visual
        list; the text lists read its positive words. The relevance cut-off applies to the
        visual list; near-duplicates fold into one hit."""
        text = (text or "").strip()
        if not text and like is None:
            raise ImgragError("empty query: type some words to search for")
        mode_named(mode)
        parsed = parse(text, allow_empty=like is not None)
        if like is not None:
            parsed = parsed.with_image(like)
        if self.store.count() == 0:
            return []
        words = parsed.simple_text or _positive_words(parsed)
        if mode == "visual" or not words:
            vec, threshold = self.query_vector(parsed, min_score)
            reason = "visual" if parsed.simple_text is not None else "combined"
            return self.visual_search(vec, k, where, reason=reason, min_score=threshold, collapse=collapse)
        if weights is None and self.default_weights is not None:
            weights = self.default_weights()
        visual = None
        if mode == "hybrid":
            try:
                visual = self.query_vector(parsed, min_score)
            except ModelUnavailable:  # CLIP not downloaded yet: the text lists still answer
                weights = {**(weights or {}), "visual": 0.0}
        checkpoint()  # the query vector cost a text encode: a replaced search stops here
        snapshot = self.visual()
        hits = hybrid.search(self.store, snapshot, words, k, where, mode, weights, clip=self.clip, visual=visual,
                             tiles=self.tile_matcher, textual=self._textual_side, fetch=fetch_size(k, collapse),
                             avoid=[p.text for p in parsed.negatives if p.kind == "text"])
        if collapse:
            checkpoint()
            hits = collapse_hits(self.duplicate_finder(), hits, self.store, snapshot)
        return with_moments(self.store, hits[:k], visual[0] if visual is not None else None, self._clip_id())

    def _clip_id(self) -> str:
        try:
            return str(self.clip.model_id)
        except ImgragError:  # CLIP not there yet: a text search still finds videos (their moment stays)
            return ""

    # Combined queries and the relevance cut-off -------------------------------------------------
    def model_calibration(self) -> "ModelCalibration | None":
        return self.calibration.get(self.clip.model_id) if self.calibration is not None else None

    def resolve_min_score(self, min_score: float | str | None) -> float | str | None:
        """AUTO (the setting, else calibrated), None/'off' (no cut-off) or a fixed number."""
        if isinstance(min_score, str):
            low = min_score.strip().lower()
            if low == AUTO:
                setting = self.settings.min_score if self.settings is not None else None
                if setting is None:
                    return AUTO
                return None if setting <= -1 else float(setting)
            if low in ("off", "none", "all"):
                return None
            try:
                return float(low)
            except ValueError:
                raise ImgragError(f"minimum score {min_score!r}: use a number, 'auto' or 'off'") from None
        return None if min_score is None else float(min_score)

    def query_vector(self, parsed: "ParsedQuery", min_score: float | str | None = AUTO) -> tuple[np.ndarray, float | None]:
        """One search vector for all the query's terms, and the cut-off that goes with it."""
        mode = self.resolve_min_score(min_score)
        texts = [p.text for p in parsed.parts if p.kind == "text"]
        tvecs = iter(self._text_vectors(texts)) if texts else iter(())
        vecs = [next(tvecs) if p.kind == "text" else self.image_vector(p.image) for p in parsed.parts]
        cal = self.model_calibration() if mode == AUTO else None
        thresholds = [cal.threshold(p.kind) if cal is not None else None for p in parsed.parts]
        library = self._library_sample() if len(parsed.parts) > 1 else np.zeros((0, 1), np.float32)
        combined = combine(np.stack(vecs), parsed.parts, library, thresholds)
        threshold = combined.threshold if mode == AUTO else mode
        return combined.vector, threshold  # type: ignore[return-value]

    def _text_vectors(self, texts: list[str]) -> np.ndarray:
        """CLIP text vectors, the last TEXT_VECTORS_KEPT queries' remembered: the window runs a
        query twice (its first screenful, then the full answer) and a refresh runs it again;
        a ViT-B-32 text encode costs ~40 ms on a 2-core CPU, the look-up nothing."""
        key = (self._clip_id(), tuple(texts))
        with self._text_lock:
            got = self._text_cache.get(key)
            if got is not None:
                self._text_cache.move_to_end(key)
                return got
        vecs = np.asarray(self.clip.encode_texts(texts))
        with self._text_lock:
            self._text_cache[key] = vecs
            while len(self._text_cache) > TEXT_VECTORS_KEPT:
                self._text_cache.popitem(last=False)
        return vecs

    def _library_sample(self) -> np.ndarray:
        """Rows spread over the library (what combine() measures each term's spread on), read
        one by one: the whole matrix would be copied out of a clustered index."""
        index = self.visual().index
        n = len(index)
        if n == 0:
            return np.zeros((0, 1), np.float32)
        # 4,096 spread rows estimate a term's spread as well as 20,000, at a fifth of the reads.
        rows = np.unique(np.linspace(0, n - 1, min(n, SPREAD_SAMPLE, 4096)).astype(np.int64))
        return np.stack([index.vector(int(r)) for r in rows])

    def duplicate_finder(self) -> "DuplicateFinder":
        """Folds near-identical pictures in results (cached per model and calibration)."""
        from imgrag_desktop.search.duplicates import DuplicateFinder, FingerprintTable

        cal = self.model_calibration()
        key = (self.clip.model_id, cal.at if cal is not None else None)
        if self._finder is None or self._finder[0] != key:
            self._finder = (key, DuplicateFinder(self.store, FingerprintTable(self.store.db_dir), self.clip.model_id,
                                                 calibration=cal))
        return self._finder[1]

    def text_encoder(self) -> Any:
        enc = self.text_encoder_factory() if self.text_encoder_factory is not None else None
        if enc is None:
            raise ModelUnavailable("no text model is configured: textual search is unavailable")
        return enc

    def image_vector(self, image: "str | os.PathLike[str] | Image.Image") -> np.ndarray:
        """The visual vector of a query image: the stored one when this exact file is indexed."""
        from imgrag_desktop import imaging

        if isinstance(image, (str, os.PathLike)):
            path = os.path.abspath(os.fspath(image))
            try:
                dec, data = imaging.decode_path(path, max_side=max(self.clip.image_size * 2, 256))
            except imaging.DecodeError as exc:
                raise ImgragError(f"cannot read query image {path}: {exc}") from exc
            from imgrag_desktop.video import is_video_name, video_hash

            chash = video_hash(path) if is_video_name(path) else imaging.content_hash(data)  # as the indexer hashed it
            loaded = self.visual()
            row = self.store.query(
                f"content_hash = {sql_str(chash)} AND clip_model = {sql_str(self.clip.model_id)}", ["path"], limit=1
            )
            if row.num_rows:
                i = loaded.row_of.get(row.column("path")[0].as_py())
                if i is not None:
                    return loaded.index.vector(i)
            pil = dec.image
        else:
            pil = image.convert("RGB")
        return self.clip.encode_images([pil])[0]

    def similar(self, image: "str | os.PathLike[str] | Image.Image", k: int = 10, where: str | None = None,
                text: str | None = None, min_score: float | str | None = AUTO, collapse: bool = True) -> list[Hit]:
        """Image → look-alikes. The query image itself, when indexed, comes first (score 1).
        `text` steers the look-alikes ("at night", "-people"; see query.py)."""
        parsed = parse(text, allow_empty=True).with_image(image)
        if self.store.count() == 0:
            return []
        vec, threshold = self.query_vector(parsed, min_score)
        plain = len(parsed.parts) == 1
        first = os.path.abspath(os.fspath(image)) if plain and isinstance(image, (str, os.PathLike)) else None
        reason = "similar image" if plain else "combined"
        return self.visual_search(vec, k, where, reason=reason, min_score=threshold, collapse=collapse, first=first)


def _positive_words(parsed: "ParsedQuery") -> str:
    """The words of a query's positive text terms (what the textual and keyword lists read)."""
    return " ".join(p.text for p in parsed.positives if p.kind == "text").strip()
