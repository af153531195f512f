"""Large images (diagrams, plans, long screenshots) embedded as overlapping tiles.

CLIP sees an image squeezed to its input size (224 px for ViT-B-32): in a 4000 px plan, a
detail of 300 px shrinks to 17 px and is gone. So an image far larger than the model input
also gets a pyramid of square tiles, each embedded on its own; a query that matches a tile
better than the whole image finds the image and reports that tile's region (in the original
image's pixels, after EXIF orientation) so the preview can frame it.

Which images (policy "auto", Settings.tiles): long side ≥ max(1024, 5 × model input) and short
side ≥ 2 × model input, except ordinary camera photos (camera EXIF, aspect < 2.2, < 40 MP),
which are shot to be seen whole and would multiply indexing time for little gain. "all" tiles
camera photos too; "off" none.

Tiles: level 1 has tiles of half the short side, level 2 a quarter, and so on while a tile is
at least 2 × model input; each level overlaps by half a tile, so any object up to half a tile
lies whole inside some tile. Coarse levels come first and at most MAX_TILES (64) are made; a
level that would overflow gets somewhat larger tiles. A very elongated image (a long
screenshot) gets tiles of its short side (wider ones when there would be too many).
How small a detail can be found depends on the model: a trained CLIP still recognises an
object filling a quarter of a tile; the test profile's random model needs the object to
fill most of a tile (measured: a photo filling 75 % of a tile scores 0.99 against itself,
at 48 % 0.97, about what unrelated photos reach).

Storage: the `tiles` table, keyed by content hash + model (so moves, renames and copies reuse
them, like the main rows), with the region and the vector. The stage runs after the visual
pass ("fast things first") and is resumable: it only does images whose hash has no tiles yet.
An image that cannot be tiled gets one marker row with an error and no vector.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np
import pyarrow as pa

from imgrag_desktop.store import Store, sql_str
from imgrag_desktop.store.sidetables import SideTable

if TYPE_CHECKING:  # pragma: no cover
    from imgrag_desktop.models.clip import ClipEncoder
    from imgrag_desktop.types import Progress

TILES = "tiles"
MAX_TILES = 64
LARGE_MIN_SIDE = 1024
CAMERA_PHOTO_MAX_ASPECT = 2.2
CAMERA_PHOTO_MAX_PIXELS = 40_000_000
DECODE_MAX_SIDE = 8192
ENCODE_BATCH = 32
POLICIES = ("auto", "all", "off")
MIN_TILED_FOR_BIAS = 20  # images with tiles needed to estimate the max-of-many-tiles bias (a median)


def tiles_schema(dim: int) -> pa.Schema:
    return pa.schema([
        pa.field("id", pa.string(), nullable=False),  # content_hash:model:index
        pa.field("content_hash", pa.string()),
        pa.field("clip_model", pa.string()),
        pa.field("tile", pa.int32()),
        pa.field("x0", pa.int32()),
        pa.field("y0", pa.int32()),
        pa.field("x1", pa.int32()),
        pa.field("y1", pa.int32()),
        pa.field("visual", pa.list_(pa.float32(), dim)),
        pa.field("error", pa.string()),
    ])


def wants_tiles(width: int, height: int, camera: str | None, image_size: int, policy: str = "auto") -> bool:
    if policy == "off" or not width or not height:
        return False
    long, short = max(width, height), min(width, height)
    if long < max(LARGE_MIN_SIDE, 5 * image_size) or short < 2 * image_size:
        return False
    if policy == "all":
        return True
    camera_photo = bool(camera) and long / short < CAMERA_PHOTO_MAX_ASPECT and width * height < CAMERA_PHOTO_MAX_PIXELS
    return not camera_photo


def _positions(length: int, side: int) -> list[int]:
    if side >= length:
        return [0]
    n = math.ceil((length - side) / (side / 2)) + 1
    return [round(i * (length - side) / (n - 1)) for i in range(n)]


def _level(width: int, height: int, side: int) -> list[tuple[int, int, int, int]]:
    tw, th = min(side, width), min(side, height)
    return [(x, y, x + tw, y + th) for y in _positions(height, th) for x in _positions(width, tw)]


def tile_boxes(width: int, height: int, image_size: int, max_tiles: int = MAX_TILES) -> list[tuple[int, int, int, int]]:
    """Regions (x0, y0, x1, y1) in original pixels, coarse levels first.

    A level that would overflow the budget gets somewhat larger tiles instead (never as
    large as the level above), so a slightly bigger image does not lose a whole level."""
    short = min(width, height)
    floor = 2 * image_size
    sides = []
    t = short / 2
    while t >= floor:
        sides.append(int(t))
        t /= 2
    if not sides:
        sides = [short]
    boxes: list[tuple[int, int, int, int]] = []
    previous = None
    for side in sides:
        budget = max_tiles - len(boxes)
        level = _level(width, height, side)
        while len(level) > budget:
            side = int(side * 1.1) + 1
            if previous is not None and side >= previous * 0.85:
                return boxes
            level = _level(width, height, side)
        boxes.extend(level)
        previous = side
    return boxes


class TileTable:
    def __init__(self, db_dir: str | os.PathLike[str]) -> None:
        self.side = SideTable(os.fspath(db_dir), TILES, "id")

    def done_hashes(self, model_id: str) -> set[str]:
        return set(self.side.query(f"clip_model = {sql_str(model_id)}", ["content_hash"]).column("content_hash").to_pylist())

    def add(self, rows: list[dict[str, Any]], dim: int) -> None:
        if not rows:
            return
        self._fit(dim)
        schema = tiles_schema(dim)
        cols: dict[str, list[Any]] = {f.name: [] for f in schema}
        for r in rows:
            for k in cols:
                v = r.get(k)
                cols[k].append(v.tolist() if isinstance(v, np.ndarray) else v)
        self.side.upsert(pa.table(cols, schema=schema))

    def _fit(self, dim: int) -> None:
        """After a switch to a CLIP model of another vector size, the old model's tiles cannot
        share the fixed-size column (LanceDB would store the new vectors as nulls): they go, and
        the serving model's tiles are made in their place."""
        t = self.side.table
        if t is not None and t.schema.field("visual").type.list_size != dim:
            self.side.drop()

    def regions(self, content_hash: str, model_id: str) -> list[dict[str, Any]]:
        where = f"content_hash = {sql_str(content_hash)} AND clip_model = {sql_str(model_id)} AND visual IS NOT NULL"
        rows = self.side.query(where, ["tile", "x0", "y0", "x1", "y1"]).to_pylist()
        return sorted(rows, key=lambda r: r["tile"])

    def count(self, model_id: str | None = None, with_vectors: bool = True) -> int:
        parts = []
        if model_id:
            parts.append(f"clip_model = {sql_str(model_id)}")
        if with_vectors:
            parts.append("visual IS NOT NULL")
        return self.side.count(" AND ".join(parts) or None)

    def matrix(self, model_id: str) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(content hash per tile, regions (n, 4), vectors (n, d)) of one model."""
        t = self.side.query(f"clip_model = {sql_str(model_id)} AND visual IS NOT NULL",
                            ["content_hash", "x0", "y0", "x1", "y1", "visual"])
        if t.num_rows == 0:
            return [], np.zeros((0, 4), np.int32), np.zeros((0, 0), np.float32)
        vec = t.column("visual").combine_chunks()
        mat = vec.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, vec.type.list_size)
        boxes = np.stack([t.column(c).to_numpy(zero_copy_only=False) for c in ("x0", "y0", "x1", "y1")], axis=1)
        return t.column("content_hash").to_pylist(), boxes.astype(np.int32), mat


@dataclass
class TileReport:
    images: int = 0
    tiles: int = 0
    failed: int = 0
    pruned: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"tiled_images": self.images, "tiles": self.tiles, "tile_failures": self.failed,
                "tiles_pruned": self.pruned}


class TileIndexer:
    """Embeds the tiles of large images that have none yet for the current model."""

    def __init__(self, store: Store, encoder: "ClipEncoder", tiles: TileTable, policy: str = "auto",
                 max_tiles: int = MAX_TILES, on_progress: "Callable[[Progress], None] | None" = None) -> None:
        self.store = store
        self.encoder = encoder
        self.tiles = tiles
        self.policy = policy if policy in POLICIES else "auto"
        self.max_tiles = max_tiles
        self.on_progress = on_progress

    def pending(self, where: str | None = None) -> list[dict[str, Any]]:
        """One row per content hash that wants tiles and has none for this model."""
        if self.policy == "off" or self.store.images is None:
            return []
        self.encoder.load()
        model = self.encoder.model_id
        s = self.encoder.image_size
        cond = f"clip_model = {sql_str(model)} AND width >= {2 * s} AND height >= {2 * s}"
        if "media" in (self.store.images.schema.names if self.store.images is not None else []):
            cond += " AND coalesce(media, 'photo') != 'video'"  # a video is searched by its frames
        rows = self.store.query(f"({where}) AND {cond}" if where else cond,
                                ["path", "content_hash", "width", "height", "camera"]).to_pylist()
        done = self.tiles.done_hashes(model)
        out: dict[str, dict[str, Any]] = {}
        for r in rows:
            if r["content_hash"] in done or r["content_hash"] in out:
                continue
            if wants_tiles(r["width"] or 0, r["height"] or 0, r.get("camera"), s, self.policy):
                out[r["content_hash"]] = r
        return list(out.values())

    def run(self, cancelled: Callable[[], bool] = lambda: False, where: str | None = None,
            prune: bool = True) -> TileReport:
        from imgrag_desktop.types import Progress

        t0 = time.monotonic()
        report = TileReport()
        todo = self.pending(where)
        if prune and self.tiles.side.table is not None:
            from imgrag_desktop.store.sidetables import live_hashes

            report.pruned = self.tiles.side.prune("content_hash", live_hashes(self.store))
        for n, row in enumerate(todo):
            if cancelled():
                break
            rows = self._tile_one(row)
            self.tiles.add(rows, self.encoder.dim)
            ok = [r for r in rows if r.get("visual") is not None]
            if ok:
                report.images += 1
                report.tiles += len(ok)
            else:
                report.failed += 1
            if self.on_progress is not None:
                self.on_progress(Progress("tiles", n + 1, len(todo), current=row["path"]))
        report.seconds = time.monotonic() - t0
        return report

    def _tile_one(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        from imgrag_desktop import imaging

        model = self.encoder.model_id
        chash = row["content_hash"]
        w, h = int(row["width"]), int(row["height"])
        boxes = tile_boxes(w, h, self.encoder.image_size, self.max_tiles)
        smallest = min(min(b[2] - b[0], b[3] - b[1]) for b in boxes)
        # Decode just large enough that the smallest tile keeps 1.5 × the model input.
        max_side = min(max(w, h), DECODE_MAX_SIDE, math.ceil(max(w, h) * 1.5 * self.encoder.image_size / smallest))
        try:
            dec, data = imaging.decode_path(row["path"], max_side=max_side)
            if imaging.content_hash(data) != chash:
                raise imaging.DecodeError("file changed since it was indexed; tiled on the next run")
        except Exception as exc:  # a marker row: not retried until the content changes
            reason = str(exc) if isinstance(exc, imaging.DecodeError) else f"{type(exc).__name__}: {exc}"
            if "changed since" in reason:
                return []
            return [{"id": f"{chash}:{model}:-1", "content_hash": chash, "clip_model": model, "tile": -1,
                     "x0": 0, "y0": 0, "x1": 0, "y1": 0, "visual": None, "error": reason[:300]}]
        img = dec.image
        sx, sy = img.width / w, img.height / h
        vecs: list[np.ndarray] = []
        for i in range(0, len(boxes), ENCODE_BATCH):
            crops = [img.crop((round(b[0] * sx), round(b[1] * sy), round(b[2] * sx), round(b[3] * sy)))
                     for b in boxes[i:i + ENCODE_BATCH]]
            vecs.extend(self.encoder.encode_images(crops))
        return [{"id": f"{chash}:{model}:{i}", "content_hash": chash, "clip_model": model, "tile": i,
                 "x0": b[0], "y0": b[1], "x1": b[2], "y1": b[3], "visual": v, "error": ""}
                for i, (b, v) in enumerate(zip(boxes, vecs))]


class TileMatcher:
    """Per-query best tile of every tiled image, aligned with the searcher's row order.

    The best of many tiles is biased upward (the maximum of n noisy scores), so a big image
    would creep into unrelated results. When enough images have tiles, that bias is measured
    per query as the median gain of best tile over whole image, and subtracted.
    """

    def __init__(self, tiles: TileTable) -> None:
        self.tiles = tiles
        self._key: tuple[Any, ...] | None = None
        self._rows: np.ndarray = np.zeros(0, np.int64)  # tile → searcher row (-1: no row)
        self._boxes = np.zeros((0, 4), np.int32)
        self._mat = np.zeros((0, 0), np.float32)

    def _load(self, model_id: str, row_of_hash: "Mapping[str, list[int]]", key: Any) -> None:
        full_key = (self.tiles.side.version(), model_id, key)
        if self._key == full_key:
            return
        hashes, boxes, mat = self.tiles.matrix(model_id)
        rows, keep = [], []
        for i, h in enumerate(hashes):
            for r in row_of_hash.get(h, ()):
                rows.append(r)
                keep.append(i)
        self._rows = np.asarray(rows, np.int64)
        self._boxes = boxes[keep] if keep else np.zeros((0, 4), np.int32)
        self._mat = mat[keep] if keep else np.zeros((0, mat.shape[1] if mat.ndim == 2 else 0), np.float32)
        self._key = full_key

    def refresh(self) -> None:
        self.tiles.side.refresh()

    def best(self, query: np.ndarray, n_rows: int, whole: np.ndarray, model_id: str,
             row_of_hash: "Mapping[str, list[int]]", key: Any) -> tuple[np.ndarray, np.ndarray]:
        """(adjusted best tile score per row, -inf where none; index into regions) for `query`."""
        rows, top, which_r = self.best_rows(query, model_id, row_of_hash, key)
        best = np.full(n_rows, -np.inf, np.float32)
        which = np.full(n_rows, -1, np.int64)
        best[rows] = debiased(top, whole[rows])
        which[rows] = which_r
        return best, which

    def best_rows(self, query: np.ndarray, model_id: str, row_of_hash: "Mapping[str, list[int]]", key: Any
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows that have tiles, ascending; each one's best tile score before the bias; that
        tile's index into regions): the work of `best` on the tiled rows only, so a search
        of a million rows with a few thousand tiled ones never builds per-row arrays."""
        self._load(model_id, row_of_hash, key)
        if len(self._rows) == 0 or self._mat.shape[1] != query.shape[-1]:
            return np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.int64)
        s = self._mat @ query.astype(np.float32)
        order = np.lexsort((-s, self._rows))  # by row, best tile first
        rows_sorted = self._rows[order]
        first = np.ones(len(order), bool)
        first[1:] = rows_sorted[1:] != rows_sorted[:-1]
        top = order[first]
        return self._rows[top], s[top].astype(np.float32), top.astype(np.int64)

    def region(self, i: int) -> list[float]:
        return [float(v) for v in self._boxes[i]]


def debiased(best: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """Best-tile scores less the max-of-many-tiles bias: the median amount by which the tiled
    images' best tile beats their whole image (when enough images have tiles to tell)."""
    if len(best) >= MIN_TILED_FOR_BIAS:
        bias = float(np.median(best - whole))
        if bias > 0:
            return best - bias
    return best


def tile_indexer_for(services: Any, on_progress: "Callable[[Progress], None] | None" = None) -> TileIndexer:
    """The tile indexer of an engine's store and model, with the `tiles` setting (auto when the
    engine has no settings: a bare Indexer's)."""
    policy = services.cfg.settings.tiles if services.cfg is not None else "auto"
    return TileIndexer(services.store, services.clip, TileTable(services.store.db_dir), policy=policy,
                       on_progress=on_progress)
