"""Queries → hits. Vectors are searched in RAM (see vectors.py); filters run inside LanceDB.

The matrix of visual vectors is loaded from the store once and reloaded only when the store
has changed, so a query costs one text/image encode plus one matrix product.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from imgrag_desktop.store import HIT_TEXT_COLUMNS, Store, sql_str
from imgrag_desktop.types import Hit, ImgragError
from imgrag_desktop.search.vectors import VectorIndex

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa
    from PIL import Image

    from imgrag_desktop.search.calibration import CalibrationBook, ModelCalibration
    from imgrag_desktop.config import Settings
    from imgrag_desktop.search.duplicates import DuplicateFinder
    from imgrag_desktop.models.clip import ClipEncoder
    from imgrag_desktop.search.query import ParsedQuery

AUTO = "auto"


@dataclass
class _Loaded:
    key: tuple[Any, ...]
    table: "pa.Table"  # light columns, row i ↔ matrix row i
    index: VectorIndex
    paths: list[str]
    row_of: dict[str, int]


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
        self._lock = threading.Lock()
        self._cache: dict[str, _Loaded] = {}
        self._finder: tuple[Any, Any] | None = None

    # Vector matrices ---------------------------------------------------------------------------
    def _loaded(self, column: str, model_col: str, model_id: str) -> _Loaded:
        # Visual vectors survive writes of text (OCR, captions); textual ones do not.
        key = (self.store.visual_token(), model_id) if column == "visual" else \
            (self.store.writes, self.store.version(), model_id)
        with self._lock:
            cached = self._cache.get(column)
            if cached is not None and cached.key == key:
                return cached
            table, matrix = self.store.vectors(column, f"{model_col} = {sql_str(model_id)}")
            paths = table.column("path").to_pylist() if table.num_rows else []
            # The previous index lends its clusters to the new one (no k-means at >= 250k rows).
            like = cached.index if cached is not None else None
            loaded = _Loaded(key, table, VectorIndex(matrix if len(paths) else np.zeros((0, 1), np.float32), like=like),
                             paths, {p: i for i, p in enumerate(paths)})
            self._cache[column] = loaded
            return loaded

    def visual(self) -> _Loaded:
        return self._loaded("visual", "clip_model", self.clip.model_id)

    def allowed_mask(self, loaded: _Loaded, where: str | None) -> np.ndarray | None:
        """Rows passing a LanceDB filter, as a mask over the loaded matrix."""
        if not where:
            return None
        ok = self.store.query(where, ["path"]).column("path").to_pylist()
        mask = np.zeros(len(loaded.paths), bool)
        for p in ok:
            i = loaded.row_of.get(p)
            if i is not None:
                mask[i] = True
        return mask

    # Hits --------------------------------------------------------------------------------------
    def make_hits(self, loaded: _Loaded, idx: np.ndarray, scores: np.ndarray, reason: str = "visual",
                  with_text: bool = True) -> list[Hit]:
        if len(idx) == 0:
            return []
        sub = loaded.table.take(idx.tolist()).to_pylist()
        extra = self.store.hit_rows([r["path"] for r in sub], HIT_TEXT_COLUMNS) if with_text else {}
        hits = []
        for r, s in zip(sub, scores.tolist()):
            x = extra.get(r["path"], {})
            hits.append(Hit(
                path=r["path"], score=float(s), size=int(r["size"] or 0), width=int(r["width"] or 0),
                height=int(r["height"] or 0), mtime=(r["mtime_ns"] or 0) / 1e9, taken_at=r.get("taken_at"),
                kind=r.get("kind") or "", ocr_text=x.get("ocr_text") or "", caption=x.get("caption") or "",
                reasons=[reason],
            ))
        return hits

    def hit_rows(self, paths: list[str]) -> dict[str, dict[str, Any]]:
        """Store.HIT_COLUMNS of these rows: the light ones from the loaded table (memory), the
        text ones from LanceDB (cached per query; see Store.hit_rows)."""
        from imgrag_desktop.store import HIT_COLUMNS

        text = self.store.hit_rows(paths, HIT_TEXT_COLUMNS)
        loaded = self.visual()
        known = [p for p in text if p in loaded.row_of]
        light = loaded.table.take([loaded.row_of[p] for p in known]).to_pylist() if known else []
        out = {p: {**row, **text[p]} for p, row in zip(known, light)}
        others = [p for p in text if p not in out]  # no visual vector for this model: read it all
        if others:
            out.update(self.store.rows(others, HIT_COLUMNS))
        return {p: out[p] for p in paths if p in out}

    # Queries -----------------------------------------------------------------------------------
    def visual_search(self, query_vec: np.ndarray, k: int = 10, where: str | None = None,
                      reason: str = "visual", exclude: str | None = None, min_score: float | None = None,
                      collapse: bool = True, tiles: bool = True, first: str | None = None) -> list[Hit]:
        """Top hits by cosine to `query_vec` (a large image scores by its best tile when that is
        better), hiding scores below `min_score` and folding near-duplicates together."""
        from imgrag_desktop.search.ranking import rank_visual

        loaded = self.visual()
        mask = self.allowed_mask(loaded, where)
        if exclude is not None and exclude in loaded.row_of:
            mask = np.ones(len(loaded.paths), bool) if mask is None else mask
            mask[loaded.row_of[exclude]] = False
        return rank_visual(self, loaded, query_vec, k, mask, reason, min_score, collapse, tiles, first)

    def search(self, text: str, k: int = 10, where: str | None = None, mode: str = "hybrid",
               weights: dict[str, float] | None = None, like: "str | os.PathLike[str] | Image.Image | None" = None,
               min_score: float | str | None = AUTO, collapse: bool = True, **_: Any) -> list[Hit]:
        """Text → images. Modes: visual (CLIP), textual (meaning of OCR/caption/name text),
        keyword (full-text index) and hybrid (score-aware weighted RRF of the three; see
        fusion.py). The text may combine terms ("beach -people", "sunset:2 beach"; query.py)
        and `like` adds an image: such a query is one vector in CLIP space, which is the visual
        list; the text lists read its positive words. The relevance cut-off applies to the
        visual list; near-duplicates fold into one hit."""
        from imgrag_desktop.search import hybrid
        from imgrag_desktop.search.query import parse
        from imgrag_desktop.search.ranking import collapse_hits, fetch_size

        text = (text or "").strip()
        if not text and like is None:
            raise ImgragError("empty query: type some words to search for")
        if mode not in hybrid.SEARCH_MODES:
            raise ImgragError(f"unknown search mode {mode!r}: use one of {', '.join(hybrid.SEARCH_MODES)}")
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
        visual = self.query_vector(parsed, min_score) if mode == "hybrid" else None
        hits = hybrid.search(self, words, k, where, mode, weights, visual=visual, fetch=fetch_size(k, collapse))
        if collapse:
            hits = collapse_hits(self, hits)
        return hits[:k]

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
        from imgrag_desktop.search.query import combine

        mode = self.resolve_min_score(min_score)
        texts = [p.text for p in parsed.parts if p.kind == "text"]
        tvecs = iter(self.clip.encode_texts(texts)) if texts else iter(())
        vecs = [next(tvecs) if p.kind == "text" else self.image_vector(p.image) for p in parsed.parts]
        cal = self.model_calibration() if mode == AUTO else None
        thresholds = [cal.threshold(p.kind) if cal is not None else None for p in parsed.parts]
        library = self._library_sample() if len(parsed.parts) > 1 else np.zeros((0, 1), np.float32)
        combined = combine(np.stack(vecs), parsed.parts, library, thresholds)
        threshold = combined.threshold if mode == AUTO else mode
        return combined.vector, threshold  # type: ignore[return-value]

    def _library_sample(self) -> np.ndarray:
        """Rows spread over the library (what combine() measures each term's spread on), read
        one by one: the whole matrix would be copied out of a clustered index."""
        from imgrag_desktop.search.query import SPREAD_SAMPLE

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

    def textual(self) -> _Loaded:
        enc = self.text_encoder()
        return self._loaded("textual", "text_model", enc.model_id)

    def text_encoder(self) -> Any:
        from imgrag_desktop.types import ModelUnavailable

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
            chash = imaging.content_hash(data)
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
        from imgrag_desktop.search.query import parse

        parsed = parse(text, allow_empty=True).with_image(image)
        if self.store.count() == 0:
            return []
        vec, threshold = self.query_vector(parsed, min_score)
        plain = len(parsed.parts) == 1
        first = os.path.abspath(os.fspath(image)) if plain and isinstance(image, (str, os.PathLike)) else None
        reason = "similar image" if plain else "combined"
        return self.visual_search(vec, k, where, reason=reason, min_score=threshold, collapse=collapse, first=first)


def build_filter(folder: str | None = None, kind: str | None = None, date_from: float | None = None,
                 date_to: float | None = None, min_width: int | None = None, min_height: int | None = None,
                 camera: str | None = None, orientation: str | None = None) -> str | None:
    """A LanceDB SQL filter from user-level options (None when nothing is filtered)."""
    from imgrag_desktop.store import folder_filter

    parts = []
    if folder:
        parts.append(folder_filter(str(Path(folder).expanduser().resolve())))
    if kind:
        kinds = [k.strip() for k in kind.split(",") if k.strip()]
        parts.append("kind IN (" + ", ".join(sql_str(k) for k in kinds) + ")")
    if date_from is not None:
        parts.append(f"date >= {float(date_from)}")
    if date_to is not None:
        parts.append(f"date < {float(date_to)}")
    if min_width:
        parts.append(f"width >= {int(min_width)}")
    if min_height:
        parts.append(f"height >= {int(min_height)}")
    if camera:
        parts.append(f"lower(camera) LIKE {sql_str('%' + camera.lower() + '%')}")
    if orientation == "landscape":
        parts.append("width > height")
    elif orientation == "portrait":
        parts.append("height > width")
    elif orientation == "square":
        parts.append("width = height")
    return " AND ".join(f"({p})" for p in parts) or None


def _positive_words(parsed: "ParsedQuery") -> str:
    """The words of a query's positive text terms (what the textual and keyword lists read)."""
    return " ".join(p.text for p in parsed.positives if p.kind == "text").strip()
