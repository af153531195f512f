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

from imgrag_desktop.store import Store, sql_str
from imgrag_desktop.types import Hit, ImgragError
from imgrag_desktop.vectors import VectorIndex

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa
    from PIL import Image

    from imgrag_desktop.models.clip import ClipEncoder


@dataclass
class _Loaded:
    key: tuple[Any, ...]
    table: "pa.Table"  # light columns, row i ↔ matrix row i
    index: VectorIndex
    paths: list[str]
    row_of: dict[str, int]


class Searcher:
    def __init__(self, store: Store, clip: "ClipEncoder", text_encoder_factory: Callable[[], Any] | None = None) -> None:
        self.store = store
        self.clip = clip
        self.text_encoder_factory = text_encoder_factory
        self._lock = threading.Lock()
        self._cache: dict[str, _Loaded] = {}

    # Vector matrices ---------------------------------------------------------------------------
    def _loaded(self, column: str, model_col: str, model_id: str) -> _Loaded:
        key = (self.store.writes, self.store.version(), model_id)
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
        extra = self.store.rows([r["path"] for r in sub], ["ocr_text", "caption"]) if with_text else {}
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

    # Queries -----------------------------------------------------------------------------------
    def visual_search(self, query_vec: np.ndarray, k: int = 10, where: str | None = None,
                      reason: str = "visual", exclude: str | None = None) -> list[Hit]:
        loaded = self.visual()
        mask = self.allowed_mask(loaded, where)
        if exclude is not None and exclude in loaded.row_of:
            mask = np.ones(len(loaded.paths), bool) if mask is None else mask
            mask[loaded.row_of[exclude]] = False
        idx, scores = loaded.index.search(query_vec, k, mask)
        return self.make_hits(loaded, idx, scores, reason)

    def search(self, text: str, k: int = 10, where: str | None = None, **_: Any) -> list[Hit]:
        """Text → images by CLIP similarity."""
        text = (text or "").strip()
        if not text:
            raise ImgragError("empty query: type some words to search for")
        if self.store.count() == 0:
            return []
        q = self.clip.encode_texts([text])[0]
        return self.visual_search(q, k, where)

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

    def similar(self, image: "str | os.PathLike[str] | Image.Image", k: int = 10, where: str | None = None) -> list[Hit]:
        """Image → look-alikes. The query image itself, when indexed, comes first (score 1)."""
        if self.store.count() == 0:
            return []
        return self.visual_search(self.image_vector(image), k, where, reason="similar image")


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
