"""`imgrag bench`: indexing throughput, search latency and memory, measured in one run.

Every figure that is compared is measured in the same run on the same machine: the pipeline
against a naive one-image-at-a-time loop, IVF search against exact search. Models are the real
open_clip architectures with random weights (`pretrained=None`): they cost the same compute as
trained ones and need no download. Everything is written to a temporary folder, never to the
user's data dir or photos.

Search runs over synthetic vectors shaped like CLIP embeddings (`SyntheticClip`), because the
recall of an approximate index depends on how clustered the data is, and uniform random
vectors, which have no neighbourhoods at all, would make any index look bad (or, queried with
stored rows, trivially good).
"""

from __future__ import annotations

import gc
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from imgrag_desktop.types import ImgragError

PARTS = ("index", "search", "memory")
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (2_000, 20_000)
DEFAULT_MODEL = "ViT-B-32"
TEXT_QUERIES = [
    "a dog playing on the beach", "birthday cake with candles", "red car parked in the street",
    "screenshot of an error message", "mountains at sunset", "my receipt from the restaurant",
    "two cats sleeping on a sofa", "a plate of pasta", "kids playing football in the park",
    "snow on the roof", "a whiteboard with a diagram", "people at a wedding", "boats in a harbour",
    "a bicycle leaning against a wall", "train station at night", "a bowl of fruit on a table",
]
# The goals of issue 7, checked in the output (on this 2-core CPU).
GOALS = {
    "index_speedup_12mp": 3.0,
    "index_speedup_640x480": 2.0,
    "text_query_p50_ms_100k": 30.0,
    "text_query_p50_ms_1m": 50.0,
    "recall_at_10_1m": 0.95,
}

Progress = Callable[[str], None]


def _say(progress: Progress | None, msg: str) -> None:
    if progress is not None:
        progress(msg)


def _stats_ms(seconds: Sequence[float]) -> dict[str, float]:
    a = np.asarray(seconds, dtype=np.float64) * 1e3
    if a.size == 0:
        return {"p50": float("nan"), "p95": float("nan"), "n": 0}
    return {"p50": round(float(np.percentile(a, 50)), 3), "p95": round(float(np.percentile(a, 95)), 3),
            "n": int(a.size)}


# Machine ---------------------------------------------------------------------------------------
def machine_info() -> dict[str, Any]:
    """What the numbers came from (they mean little without it)."""
    info: dict[str, Any] = {
        "platform": platform.platform(), "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        info["ram_gb"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    try:
        info["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        pass
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception:  # torch missing or broken: the search part still runs
        info["gpu"] = None
    info["numpy"] = np.__version__
    return info


# Synthetic CLIP-like vectors ---------------------------------------------------------------------
class SyntheticClip:
    """Vectors with the geometry of CLIP ViT-B-32 image embeddings of a personal photo library.

    Measured properties of real CLIP embeddings that this reproduces: they sit in a narrow cone
    (a large common mean: two unrelated photos have cosine ~0.45, not 0); their variance is
    anisotropic (a power-law spectrum, effective dimension ~90 of 512); a library is made of
    topics (pets, food, screenshots...) and, within them, events or scenes of tens to hundreds
    of photos, with long-tailed sizes; bursts of near-duplicate shots are common.

    Each vector is mean (weight 0.45 of the variance) + topic direction (0.15) + event
    direction (0.15) + the photo's own anisotropic noise (0.25), normalised; 20% of photos are
    near copies of the previous one. Two photos of one event have cosine ~0.75.

    Text queries sit apart from the images (CLIP's modality gap: a text and its best images
    have cosine ~0.3-0.4, against ~0.8 between similar photos): a text-side mean orthogonal
    to the image mean, plus a weak pull towards one or two topics or events, plus noise.
    """

    def __init__(self, n: int, dim: int = 512, seed: int = 0, photos_per_event: int = 100, burst: float = 0.2) -> None:
        rng = np.random.default_rng(seed)
        self.dim = dim
        self.seed = seed
        basis, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
        self.basis = basis.astype(np.float32)
        spectrum = (1.0 + np.arange(dim) / 8.0) ** -1.0
        self.scale = np.sqrt(spectrum / spectrum.sum() * dim).astype(np.float32)
        self.mu_img = self._dirs(rng, 1)[0]
        self.n_events = max(1, n // photos_per_event)
        self.n_topics = max(1, int(round(2 * math.sqrt(self.n_events))))
        self.topics = self._dirs(rng, self.n_topics)
        w = 1.0 / np.arange(1, self.n_topics + 1) ** 0.8
        self.event_topic = rng.choice(self.n_topics, self.n_events, p=w / w.sum())
        self.events = self._dirs(rng, self.n_events)
        sizes = rng.pareto(1.5, self.n_events) + 1.0
        self.event_p = sizes / sizes.sum()
        t = self._dirs(rng, 1)[0]
        t = t - (t @ self.mu_img) * self.mu_img
        self.mu_txt = (t / np.linalg.norm(t)).astype(np.float32)
        self.burst = burst
        self.weights = np.sqrt(np.array([0.45, 0.15, 0.15, 0.25], np.float32))

    def _dirs(self, rng: np.random.Generator, m: int) -> np.ndarray:
        z = rng.standard_normal((m, self.dim), dtype=np.float32) * self.scale
        z = z @ self.basis.T
        return z / np.linalg.norm(z, axis=1, keepdims=True)

    def images(self, n: int, seed: int = 1, chunk: int = 100_000) -> np.ndarray:
        """n image vectors (float32, unit rows), generated in chunks to bound memory."""
        rng = np.random.default_rng((self.seed, seed))
        out = np.empty((n, self.dim), np.float32)
        w = self.weights
        for i in range(0, n, chunk):
            m = min(chunk, n - i)
            ev = rng.choice(self.n_events, m, p=self.event_p)
            x = w[3] * self._dirs(rng, m)
            x += w[0] * self.mu_img
            x += w[1] * self.topics[self.event_topic[ev]]
            x += w[2] * self.events[ev]
            b = np.flatnonzero(rng.random(m) < self.burst)
            b = b[b > 0]
            x[b] = x[b - 1] + (0.25 * w[3]) * self._dirs(rng, len(b))
            x /= np.linalg.norm(x, axis=1, keepdims=True)
            out[i : i + m] = x
        return out

    def texts(self, m: int, seed: int = 2) -> np.ndarray:
        """m text-query vectors (unit rows)."""
        rng = np.random.default_rng((self.seed, seed))
        out = np.empty((m, self.dim), np.float32)
        for i in range(m):
            concept = np.zeros(self.dim, np.float32)
            for e in rng.choice(self.n_events, int(rng.integers(1, 3)), p=self.event_p):
                topic = self.topics[self.event_topic[e]]
                concept += topic if rng.random() < 0.5 else 0.6 * topic + 0.8 * self.events[e]
            concept /= np.linalg.norm(concept)
            out[i] = 0.25 * self.mu_img + 0.8 * self.mu_txt + 0.2 * concept + 0.45 * self._dirs(rng, 1)[0]
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    @staticmethod
    def describe(x: np.ndarray, texts: np.ndarray | None = None, seed: int = 0) -> dict[str, float]:
        """Statistics to compare with real CLIP embeddings (mean pairwise cosine, neighbours)."""
        rng = np.random.default_rng(seed)
        n = x.shape[0]
        i, j = rng.integers(0, n, 2000), rng.integers(0, n, 2000)
        out = {"pair_cosine_mean": round(float((x[i] * x[j]).sum(1).mean()), 3)}
        sample = x[rng.choice(n, min(n, 20_000), replace=False)]
        ev = np.linalg.eigvalsh(np.cov(sample.T))
        out["effective_dim"] = round(float(ev.sum() ** 2 / (ev**2).sum()), 1)
        q = x[rng.choice(n, 50, replace=False)]
        s = np.sort(q @ x.T, axis=1)
        out["image_top10_cosine"] = round(float(s[:, -11].mean()), 3)  # [-1] is the row itself
        if texts is not None:
            s = np.sort(texts[:50] @ x.T, axis=1)
            out["text_top1_cosine"] = round(float(s[:, -1].mean()), 3)
            out["text_median_cosine"] = round(float(np.median(s)), 3)
        return out


# Models ------------------------------------------------------------------------------------------
def bench_encoder(model: str = DEFAULT_MODEL, device: str = "auto", seed: int = 0, precision: str = "auto") -> Any:
    """The real architecture with random weights (same compute as trained ones; no download).
    The same seed gives the same weights at any precision."""
    import torch

    from imgrag_desktop.models.clip import ClipEncoder

    torch.manual_seed(seed)
    enc = ClipEncoder(model, pretrained="", device=device, precision=precision)
    enc.load()
    return enc


def _coco_images(limit: int | None = None) -> list[Path]:
    """Real photos to build query images and generated JPEGs from: IMGRAG_BENCH_PHOTOS, else
    the project's shared test data (COCO) beside the checkout; none is fine (see make_jpegs)."""
    shared = os.environ.get("IMGRAG_SHARED_DATA") or str(Path(__file__).resolve().parents[3] / "shared" / "data")
    for r in (os.environ.get("IMGRAG_BENCH_PHOTOS", ""), str(Path(shared) / "coco-mini")):
        if r and Path(r).is_dir():
            files = sorted(Path(r).rglob("*.jpg"))
            if files:
                return files[:limit] if limit else files
    return []


def _drawn_photo(rng: np.random.Generator, w: int, h: int) -> Any:
    """A stand-in photo when no real ones are at hand: smooth gradients and soft shapes, which
    compress and decode like a photo (random noise would not)."""
    from PIL import Image, ImageDraw, ImageFilter

    sw, sh = max(8, w // 8), max(8, h // 8)
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    base = np.stack([(xx / sw * rng.uniform(80, 255)), (yy / sh * rng.uniform(80, 255)),
                     np.full_like(xx, rng.uniform(0, 255))], axis=-1)
    img = Image.fromarray(base.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, sw)), int(rng.integers(0, sh))
        draw.ellipse([x0, y0, x0 + int(rng.integers(2, sw // 2 + 3)), y0 + int(rng.integers(2, sh // 2 + 3))],
                     fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    return img.filter(ImageFilter.GaussianBlur(1)).resize((w, h), Image.Resampling.BICUBIC)


def _query_images(count: int) -> list[Any]:
    """Decoded query images: real photos when available, else drawn ones."""
    from PIL import Image

    out = []
    for p in _coco_images(count):
        with Image.open(p) as im:
            out.append(im.convert("RGB"))
    rng = np.random.default_rng(7)
    while len(out) < count:
        out.append(_drawn_photo(rng, 640, 480))
    return out


# Search ------------------------------------------------------------------------------------------
def _synthetic_store(db_dir: Path, vectors: np.ndarray, clip_model: str, chunk: int = 100_000) -> Any:
    """A real LanceDB `images` table holding `vectors` with plausible light metadata.

    Bulk `add` in large chunks, then `optimize()`, as after an indexing run; the metadata is
    what hits are built from.
    """
    import pyarrow as pa

    from imgrag_desktop.store import Store

    store = Store(db_dir)
    n, dim = vectors.shape
    table = store.ensure_images(dim)
    schema = table.schema
    rng = np.random.default_rng(3)
    now = time.time()
    for i in range(0, n, chunk):
        m = min(chunk, n - i)
        ids = np.arange(i, i + m)
        paths = [f"/bench/library/{k // 1000:04d}/IMG_{k:07d}.jpg" for k in ids.tolist()]
        cols: dict[str, Any] = {}
        for f in schema:
            name = f.name
            if name == "path":
                cols[name] = paths
            elif name == "folder":
                cols[name] = ["/bench/library"] * m
            elif name == "name":
                cols[name] = [p.rsplit("/", 1)[1] for p in paths]
            elif name == "size":
                cols[name] = rng.integers(200_000, 6_000_000, m)
            elif name == "mtime_ns":
                cols[name] = (now - rng.random(m) * 3e8).astype(np.int64) * 10**9
            elif name == "content_hash":
                cols[name] = [f"{k:032x}" for k in ids.tolist()]
            elif name in ("width", "height"):
                cols[name] = np.full(m, 4000 if name == "width" else 3000, np.int32)
            elif name in ("taken_at", "date"):
                cols[name] = now - rng.random(m) * 3e8
            elif name == "kind":
                cols[name] = ["photo"] * m
            elif name == "clip_model":
                cols[name] = [clip_model] * m
            elif name == "visual":
                flat = pa.array(np.ascontiguousarray(vectors[i : i + m]).reshape(-1), pa.float32())
                cols[name] = pa.FixedSizeListArray.from_arrays(flat, dim)
            elif name == "textual":
                cols[name] = pa.nulls(m, f.type)
            elif name in ("ocr_status", "caption_status"):
                cols[name] = ["skipped"] * m
            elif name == "indexed_at":
                cols[name] = np.full(m, now)
            elif name == "ocr_words":
                cols[name] = ["[]"] * m
            elif pa.types.is_string(f.type):
                cols[name] = [""] * m
            else:
                cols[name] = pa.nulls(m, f.type)
        table.add(pa.table(cols, schema=schema))
    store.writes += 1
    with warnings.catch_warnings():  # LanceDB warns that optimize() prunes old versions at once
        warnings.filterwarnings("ignore", message=r"optimize\(cleanup_older_than=0\)", category=UserWarning)
        store.optimize()  # what the indexer does after a large run (compaction, path index)
    return store


def _time_queries(fn: Callable[[Any], Any], queries: Sequence[Any], warmup: int = 3) -> list[float]:
    for q in list(queries)[:warmup]:
        fn(q)
    times = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        times.append(time.perf_counter() - t)
    return times


def _recall(index: Any, exact: list[set[int]], queries: np.ndarray, k: int) -> float:
    hits = sum(len(t.intersection(index.search(q, k)[0].tolist())) for q, t in zip(queries, exact))
    return round(hits / (len(exact) * k), 4)


def bench_vectors(n: int, queries: int = 200, k: int = 10, seed: int = 0, dim: int = 512,
                  progress: Progress | None = None) -> dict[str, Any]:
    """Exact vs IVF on n synthetic vectors: latency of the search alone, IVF build and recall."""
    from imgrag_desktop.search.vectors import ANN_MIN_ROWS, VectorIndex

    gen = SyntheticClip(n, dim=dim, seed=seed)
    _say(progress, f"search {n:,}: generating vectors")
    x = gen.images(n)
    q_img = gen.images(queries, seed=11)  # held out: never in the index
    q_txt = gen.texts(queries)
    out: dict[str, Any] = {"rows": n, "data": SyntheticClip.describe(x, q_txt)}
    exact = VectorIndex(x, ann=False)
    _say(progress, f"search {n:,}: exact")
    truth = {name: [set(exact.search(v, k)[0].tolist()) for v in q] for name, q in (("text", q_txt), ("image", q_img))}
    out["exact_ms"] = _stats_ms(_time_queries(partial(exact.search, k=k), list(np.vstack([q_txt, q_img]))))
    _say(progress, f"search {n:,}: building IVF")
    ann = VectorIndex(x, ann=True, seed=seed)
    del exact, x
    gc.collect()
    info = ann.info
    assert info is not None
    out["ivf"] = {
        "build_s": round(info.build_s, 2), "nlist": info.nlist, "nprobe": info.nprobe,
        "calibrated_recall": round(info.calibrated_recall, 4),
        "search_ms": _stats_ms(_time_queries(partial(ann.search, k=k), list(np.vstack([q_txt, q_img])))),
        "recall_at_10": {"text": _recall(ann, truth["text"], q_txt, k), "image": _recall(ann, truth["image"], q_img, k)},
    }
    out["product_uses"] = "ivf" if n >= ANN_MIN_ROWS else "exact"
    return out


def _make_hits(searcher: Any, loaded: Any, found: tuple[np.ndarray, np.ndarray]) -> Any:
    return searcher.make_hits(loaded, found[0], found[1])


def bench_searcher(n: int, encoder: Any, work_dir: Path, texts: Sequence[str], images: Sequence[Any],
                   k: int = 10, seed: int = 0, progress: Progress | None = None) -> dict[str, Any]:
    """End-to-end query latency through the product's Searcher over a real LanceDB store.

    Text query = `Searcher.search(text, mode="visual")`: CLIP text encode + vector search +
    the visual ranking (tiles, cut-off, near-duplicate folding) + building hits (metadata from
    the loaded table, OCR/caption from LanceDB); image query = CLIP image encode of a decoded image +
    the same. The model is warm and the vector matrix loaded (the first query after a change
    pays for loading: reported as `load_s`).
    """
    from imgrag_desktop.search import Searcher

    gen = SyntheticClip(n, dim=encoder.dim, seed=seed)
    _say(progress, f"search {n:,}: writing a LanceDB table")
    x = gen.images(n)
    t = time.perf_counter()
    store = _synthetic_store(work_dir / f"db-{n}", x, encoder.model_id)
    write_s = time.perf_counter() - t
    del x
    gc.collect()
    searcher = Searcher(store, encoder)
    _say(progress, f"search {n:,}: loading the searcher")
    t = time.perf_counter()
    loaded = searcher.visual()
    load_s = time.perf_counter() - t
    texts = list(texts)
    out: dict[str, Any] = {
        "rows": n, "method": "ivf" if loaded.index.is_ann else "exact",
        "store_write_s": round(write_s, 2), "load_s": round(load_s, 2),
    }
    _say(progress, f"search {n:,}: text queries")
    # Each query starts with its hits' rows unread (Store.hit_rows caches them between queries).
    def text_query(q: str) -> Any:
        store.forget_hits()  # noqa: F821 - bound until the del at the end
        return searcher.search(q, k=k, mode="visual")  # noqa: F821

    def image_query(im: Any) -> Any:
        store.forget_hits()  # noqa: F821
        return searcher.similar(im, k=k)  # noqa: F821

    out["text_query_ms"] = _stats_ms(_time_queries(text_query, texts))
    out["image_query_ms"] = _stats_ms(_time_queries(image_query, images))
    # Split of a text query: where the time goes.
    vecs = encoder.encode_texts(texts)
    out["vector_search_ms"] = _stats_ms(_time_queries(partial(loaded.index.search, k=k), vecs))
    idx = [loaded.index.search(v, k) for v in vecs]
    out["hits_ms"] = _stats_ms(_time_queries(partial(_make_hits, searcher, loaded), idx))
    # The first query after a write: OCR text of one picture (the loaded vectors stay), then
    # a new picture (they are loaded again: see Store.visual_token).
    first = loaded.paths[0]
    store.update_rows({first: {"ocr_text": "EXIT 12", "ocr_status": "done"}})
    store.forget_hits()
    t = time.perf_counter()
    searcher.search(texts[0], k=k, mode="visual")
    out["first_query_after_text_write_ms"] = round((time.perf_counter() - t) * 1e3, 1)
    row = store.rows([first])[first]
    store.upsert([{**row, "path": first + ".copy.jpg", "name": "copy.jpg"}])
    t = time.perf_counter()
    searcher.search(texts[0], k=k, mode="visual")
    out["first_query_after_new_picture_ms"] = round((time.perf_counter() - t) * 1e3, 1)
    del searcher, loaded, store
    gc.collect()
    shutil.rmtree(work_dir / f"db-{n}", ignore_errors=True)
    return out


def bench_search(sizes: Sequence[int], encoder: Any, work_dir: Path, queries: int = 200,
                 progress: Progress | None = None) -> dict[str, Any]:
    texts = [TEXT_QUERIES[i % len(TEXT_QUERIES)] + ("" if i < len(TEXT_QUERIES) else f" {i}")
             for i in range(max(len(TEXT_QUERIES), min(queries, 64)))]
    images = _query_images(min(queries, 32))
    out: dict[str, Any] = {}
    _say(progress, "search: encoder latency")
    out["text_encode_ms"] = _stats_ms(_time_queries(lambda s: encoder.encode_texts([s]), texts))
    out["image_encode_ms"] = _stats_ms(_time_queries(lambda im: encoder.encode_images([im]), images))
    out["sizes"] = []
    for n in sizes:
        entry = {"vectors": bench_vectors(n, queries, dim=encoder.dim, progress=progress)}
        gc.collect()
        entry["searcher"] = bench_searcher(n, encoder, work_dir, texts, images, progress=progress)
        gc.collect()
        out["sizes"].append(entry)
    return out


# Indexing ----------------------------------------------------------------------------------------
def make_jpegs(dest: Path, count: int, size: tuple[int, int], seed: int = 0, quality: int = 90) -> list[Path]:
    """`count` JPEGs of `size` made from real photos (2x2 mosaics, upscaled, with sensor-like
    grain so that they compress like camera files rather than like smooth upscales)."""
    from PIL import Image

    dest.mkdir(parents=True, exist_ok=True)
    photos = _coco_images()
    rng = np.random.default_rng(seed)
    w, h = size
    out = []
    grain = rng.normal(0, 6, (min(h, 1024), min(w, 1024), 3)).astype(np.int16)
    for i in range(count):
        canvas = Image.new("RGB", (w, h))
        for j, (x0, y0) in enumerate(((0, 0), (w // 2, 0), (0, h // 2), (w // 2, h // 2))):
            if photos:
                with Image.open(photos[(i * 4 + j) % len(photos)]) as im:
                    tile = im.convert("RGB").resize((w - w // 2 if x0 else w // 2, h - h // 2 if y0 else h // 2),
                                                    Image.Resampling.BILINEAR)
            else:
                tile = _drawn_photo(rng, w - w // 2 if x0 else w // 2, h - h // 2 if y0 else h // 2)
            canvas.paste(tile, (x0, y0))
        arr = np.asarray(canvas, dtype=np.int16)
        gy, gx = grain.shape[:2]
        for y in range(0, h, gy):
            for x in range(0, w, gx):
                sub = arr[y : y + gy, x : x + gx]
                sub += grain[: sub.shape[0], : sub.shape[1]]
        canvas = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
        p = dest / f"IMG_{i:05d}.jpg"
        # Camera EXIF, as on the phone and camera files these stand for (the tile policy
        # leaves ordinary camera photos whole; see tiles.py).
        exif = Image.Exif()
        exif[0x010F], exif[0x0110] = "BenchCam", "BenchCam X1"  # Make, Model
        canvas.save(p, "JPEG", quality=quality, exif=exif.tobytes())
        out.append(p)
    return out


def naive_index(paths: Sequence[Path], encoder: Any, store: Any) -> float:
    """The baseline: one image at a time, full decode, open_clip preprocess, encode, one insert."""
    import torch
    from PIL import Image

    model = encoder._model
    pre = encoder.preprocess
    t = time.perf_counter()
    for p in paths:
        with Image.open(p) as im:
            img = im.convert("RGB")
        with torch.inference_mode():
            x = pre(img).unsqueeze(0).to(encoder.device, dtype=encoder.dtype)
            v = torch.nn.functional.normalize(model.encode_image(x).float(), dim=-1)[0].cpu().numpy()
        st = os.stat(p)
        store.upsert([{
            "path": str(p), "folder": str(p.parent), "name": p.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "content_hash": "", "width": img.width, "height": img.height, "kind": "photo", "clip_model": encoder.model_id,
            "visual": v, "ocr_status": "skipped", "caption_status": "skipped", "indexed_at": time.time(),
        }])
    return time.perf_counter() - t


def pipeline_index(folder: Path, encoder: Any, data_dir: Path, **indexer_kw: Any) -> tuple[float, Any]:
    """The product's Indexer over a folder into a fresh store (thumbnails and all)."""
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.indexing.pipeline import Indexer
    from imgrag_desktop.store import Store

    cfg = AppConfig.load(data_dir, "default")
    cfg.settings.ocr_enabled = False
    cfg.ensure_dirs()
    store = Store(cfg.db_dir)
    indexer = Indexer(cfg, store, encoder, **indexer_kw)
    t = time.perf_counter()
    report = indexer.index_paths([str(folder)])
    return time.perf_counter() - t, report


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds of this process, all threads)."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def bench_index(encoder: Any, work_dir: Path, counts: dict[str, int], sizes: dict[str, tuple[int, int]],
                progress: Progress | None = None, naive_encoder: Any = None, **indexer_kw: Any) -> dict[str, Any]:
    """Pipeline vs naive loop on the same JPEGs, in the same run.

    The naive loop is what a script using open_clip's defaults does: fp32 weights
    (`naive_encoder`, the same weights as `encoder`). When the product runs at another
    precision (bf16 on CPUs with native bf16, fp16 on CUDA), the naive loop is also run at that
    precision (`naive_same_precision_*`), so the ratio splits into what the precision gives and
    what the pipeline gives.

    The naive loops run on the first half of the files before the pipeline and on the second
    half after it (the pipeline indexes them all), so a machine that gets busier or quieter
    during the run does not favour either side. Besides wall-clock rates, CPU time per image
    (all threads of this process) is reported: on a machine whose cores are taken by other
    programs, the wall-clock ratio tends to the CPU-time ratio, because overlapping decode with
    the model only helps when there is a free core to overlap on.
    """
    from imgrag_desktop.indexing.pipeline import default_batch_size, default_workers
    from imgrag_desktop.store import Store

    naive_encoder = naive_encoder if naive_encoder is not None else encoder
    same = naive_encoder is not encoder and naive_encoder.dtype != encoder.dtype
    out: dict[str, Any] = {"model": encoder.model_name, "device": encoder.device,
                           "dtype": str(encoder.dtype).replace("torch.", ""),
                           "naive_dtype": str(naive_encoder.dtype).replace("torch.", ""), "sets": {}}
    for name, size in sizes.items():
        n = counts[name]
        folder = work_dir / f"jpeg-{name}"
        _say(progress, f"index {name}: writing {n} JPEGs of {size[0]}x{size[1]}")
        paths = make_jpegs(folder, n, size)
        mb = sum(p.stat().st_size for p in paths) / len(paths) / 2**20
        naive_store = Store(work_dir / f"naive-{name}")
        same_store = Store(work_dir / f"naive-same-{name}")
        half = len(paths) // 2
        _say(progress, f"index {name}: naive loop (first half)")
        n1, w1, c1 = _timed(lambda: naive_index(paths[:half], naive_encoder, naive_store))
        if same:
            s1, _, sc1 = _timed(lambda: naive_index(paths[:half], encoder, same_store))
        _say(progress, f"index {name}: pipeline")
        (pipe_s, report), pw, pc = _timed(lambda: pipeline_index(folder, encoder, work_dir / f"pipe-{name}", **indexer_kw))
        _say(progress, f"index {name}: naive loop (second half)")
        if same:
            s2, _, sc2 = _timed(lambda: naive_index(paths[half:], encoder, same_store))
        n2, w2, c2 = _timed(lambda: naive_index(paths[half:], naive_encoder, naive_store))
        if report.failed or report.added != n or naive_store.count() != n:
            raise ImgragError(f"benchmark indexing went wrong: {report.added} of {n} added, {report.failed} failed")
        naive_s = n1 + n2
        entry = out["sets"][name] = {
            "images": n, "width": size[0], "height": size[1], "mean_file_mb": round(mb, 2),
            "naive_images_per_s": round(n / naive_s, 2), "pipeline_images_per_s": round(n / pipe_s, 2),
            "speedup": round(naive_s / pipe_s, 2),
            "naive_cpu_ms_per_image": round((c1 + c2) / n * 1e3, 1), "pipeline_cpu_ms_per_image": round(pc / n * 1e3, 1),
            "cpu_ratio": round((c1 + c2) / max(pc, 1e-9), 2),
        }
        if same:
            entry.update({
                "naive_same_precision_images_per_s": round(n / (s1 + s2), 2),
                "speedup_same_precision": round((s1 + s2) / pipe_s, 2),
                "naive_same_precision_cpu_ms_per_image": round((sc1 + sc2) / n * 1e3, 1),
            })
        for d in (folder, work_dir / f"naive-{name}", work_dir / f"naive-same-{name}", work_dir / f"pipe-{name}"):
            shutil.rmtree(d, ignore_errors=True)
    out["batch_size"] = indexer_kw.get("batch_size") or default_batch_size(encoder.device)
    out["decode_workers"] = indexer_kw.get("workers") or default_workers()
    try:
        import torch

        out["torch_threads"] = torch.get_num_threads()
    except ImportError:  # pragma: no cover
        pass
    return out


# Memory and start-up -----------------------------------------------------------------------------
def _peak_rss_mb_of(pid: int) -> float | None:
    """The process's own high-water mark of resident memory (VmHWM, Linux).

    Not getrusage(): on Linux a child's ru_maxrss keeps the maximum of the process it was
    forked from, so a child of a benchmark that held a million vectors would report that.
    """
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _run_measured(cmd: list[str], env: dict[str, str], timeout: float) -> tuple[int, float, float | None, str]:
    """Run a child; return (exit code, wall seconds, peak RSS in MB or None, stderr tail).

    The peak is polled every 20 ms; VmHWM only grows, so the last reading before the child
    exits is its peak unless it grew in its last 20 ms.
    """
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.append(proc.stderr.read() if proc.stderr else ""), daemon=True)
    reader.start()
    peak: float | None = None
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None:
            hwm = _peak_rss_mb_of(proc.pid)
            if hwm is not None:
                peak = max(peak or 0.0, hwm)
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise ImgragError(f"benchmark child {' '.join(cmd[2:5])} took more than {timeout:.0f} s")
            time.sleep(0.02)
    finally:
        reader.join(5)
        if proc.stderr is not None and not reader.is_alive():
            proc.stderr.close()
    return proc.returncode or 0, time.perf_counter() - t, peak, (err[0] if err else "")[-2000:]


def bench_memory(work_dir: Path, images: int, model: str, size: tuple[int, int] = (4000, 3000),
                 progress: Progress | None = None) -> dict[str, Any]:
    """Peak RSS of `imgrag index` (a fresh process, as a user runs it) and window cold start."""
    from imgrag_desktop.config import AppConfig

    out: dict[str, Any] = {}
    folder = work_dir / "jpeg-memory"
    _say(progress, f"memory: writing {images} JPEGs of {size[0]}x{size[1]}")
    make_jpegs(folder, images, size, seed=5)
    data_dir = work_dir / "data-memory"
    cfg = AppConfig.load(data_dir, "default")
    cfg.settings.clip_model = model
    cfg.settings.clip_pretrained = ""  # random weights: same architecture, no download
    cfg.settings.ocr_enabled = False
    cfg.save()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]),
                                                                      os.environ.get("PYTHONPATH", "")]))}
    base_cmd = [sys.executable, "-m", "imgrag_desktop.cli", "--data-dir", str(data_dir)]
    _say(progress, "memory: baseline process (imports, model load)")
    rc, wall, peak0, err = _run_measured(base_cmd + ["doctor", "--json"], env, 600)
    _say(progress, f"memory: `imgrag index` of {images} images")
    rc, wall, peak, err = _run_measured(base_cmd + ["index", "--quiet", "--no-remember", "--json", str(folder)], env, 1800)
    if rc != 0:
        raise ImgragError(f"`imgrag index` failed in the memory benchmark: {err.strip().splitlines()[-1] if err.strip() else rc}")
    out["index_images"] = images
    out["index_image_size"] = list(size)
    out["index_peak_rss_mb"] = None if peak is None else round(peak, 1)
    out["index_wall_s"] = round(wall, 2)
    out["doctor_peak_rss_mb"] = None if peak0 is None else round(peak0, 1)
    if peak is None:
        out["rss_note"] = "peak memory is read from /proc (Linux only)"
    _say(progress, "memory: window cold start")
    out["window"], out["window_note"] = window_cold_start(env, work_dir / "data-gui")
    shutil.rmtree(folder, ignore_errors=True)
    return out


def window_cold_start(env: dict[str, str], data_dir: Path, timeout: float = 180) -> tuple[dict[str, Any] | None, str]:
    """Seconds from starting the window's process to its main window being shown.

    Runs `python -m imgrag_desktop --report R --quit-after` (the window's test automation,
    which records the wall-clock time its main window was first shown and when the engine
    was ready) and measures from just before the process is started, so interpreter start-up
    and imports count. Without a display, Qt's offscreen platform is used.
    """
    import importlib.util

    try:
        if importlib.util.find_spec("imgrag_desktop.gui.app") is None:
            return None, "the window (imgrag_desktop.gui) is not part of this build"
    except (ImportError, ValueError):
        return None, "the window (imgrag_desktop.gui) is not part of this build"
    env = dict(env)
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    report = data_dir.parent / "window-report.json"
    cmd = [sys.executable, "-m", "imgrag_desktop", "--data-dir", str(data_dir), "--profile", "test",
           "--report", str(report), "--quit-after", "--automation-timeout", str(int(timeout))]
    t0 = time.time()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout + 30)
    except subprocess.TimeoutExpired:
        return None, f"the window did not quit within {timeout + 30:.0f} s"
    try:
        data = json.loads(report.read_text("utf-8"))
    except (OSError, ValueError):
        err = proc.stderr.strip().splitlines()
        return None, "the window wrote no timing report (--report unsupported?)" + (f": {err[-1][:200]}" if err else "")
    if not data.get("shown_at"):
        return None, "the window's report has no shown time"
    out = {"process_start_to_shown_s": round(float(data["shown_at"]) - t0, 3),
           "app_start_to_shown_s": data.get("start_to_shown_s"),
           "engine_ready_s": round(float(data["shown_at"]) - t0 - float(data.get("start_to_shown_s") or 0)
                                   + float(data["engine_ready_s"]), 3) if data.get("engine_ready_s") else None,
           "torch_loaded_when_shown": (data.get("modules_when_shown") or {}).get("torch")}
    return out, "offscreen Qt platform" if env.get("QT_QPA_PLATFORM") == "offscreen" else "on the desktop"


# Driver ------------------------------------------------------------------------------------------
def _goals(result: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def put(name: str, value: float | None, ok: bool | None) -> None:
        out[name] = {"value": value, "target": GOALS[name], "met": ok}

    sets = result.get("index", {}).get("sets", {})
    for key, name in (("12mp", "index_speedup_12mp"), ("640x480", "index_speedup_640x480")):
        if key in sets:
            v = sets[key]["speedup"]
            put(name, v, v >= GOALS[name])
    for entry in result.get("search", {}).get("sizes", []):
        n = entry["searcher"]["rows"]
        p50 = entry["searcher"]["text_query_ms"]["p50"]
        if n == 100_000:
            put("text_query_p50_ms_100k", p50, p50 <= GOALS["text_query_p50_ms_100k"])
        if n == 1_000_000:
            put("text_query_p50_ms_1m", p50, p50 <= GOALS["text_query_p50_ms_1m"])
            rec = entry["vectors"]["ivf"]["recall_at_10"]
            worst = min(rec.values())
            put("recall_at_10_1m", worst, worst >= GOALS["recall_at_10_1m"])
    return out


def run_bench(parts: Sequence[str] = PARTS, quick: bool = False, sizes: Sequence[int] | None = None,
              images: int | None = None, queries: int | None = None, model: str = DEFAULT_MODEL,
              device: str = "auto", work_dir: str | os.PathLike[str] | None = None,
              progress: Progress | None = None, precision: str = "auto", **indexer_kw: Any) -> dict[str, Any]:
    """Run the selected parts; returns one JSON-able dict (see the README, "Performance")."""
    parts = list(PARTS) if not parts or "all" in parts else list(parts)
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise ImgragError(f"unknown benchmark part {unknown[0]!r}: use index, search, memory or all")
    sizes = list(sizes or (QUICK_SIZES if quick else DEFAULT_SIZES))
    if any(n < 2 for n in sizes):
        raise ImgragError("search sizes must be at least 2 rows")
    queries = queries or (20 if quick else 200)
    # 256 + 64 by default: enough that one-time costs of a run (opening the store, calibrating
    # the relevance cut-off, optimize) weigh as little as they do on a real library.
    n_img = images or (6 if quick else 256)
    n_big = max(2, n_img // (2 if quick else 4))
    result: dict[str, Any] = {"machine": machine_info(), "quick": quick, "parts": parts,
                              "started_at": time.strftime("%Y-%m-%d %H:%M:%S")}
    tmp = Path(tempfile.mkdtemp(prefix="imgrag-bench-", dir=work_dir))
    try:
        encoder = None
        if "index" in parts or "search" in parts:
            _say(progress, f"loading {model} (random weights)")
            t = time.perf_counter()
            encoder = bench_encoder(model, device, precision=precision)
            result["model"] = {"name": model, "weights": "random (same compute as trained)", "device": encoder.device,
                               "dtype": str(encoder.dtype).replace("torch.", ""), "load_s": round(time.perf_counter() - t, 2)}
        if "search" in parts:
            result["search"] = bench_search(sizes, encoder, tmp, queries, progress)
        if "index" in parts:
            big = (1600, 1200) if quick else (4000, 3000)
            assert encoder is not None
            # The baseline uses open_clip's default precision (fp32), with the same weights.
            naive = encoder if encoder.precision == "fp32" else bench_encoder(model, encoder.device, precision="fp32")
            result["index"] = bench_index(
                encoder, tmp, {"12mp": n_big, "640x480": n_img},
                {"12mp": big, "640x480": (640, 480)}, progress, naive_encoder=naive, **indexer_kw)
            if quick:
                result["index"]["note"] = "quick run: the '12mp' set is 1600x1200"
        if "memory" in parts:
            result["memory"] = bench_memory(tmp, max(4, n_big), model,
                                            (1600, 1200) if quick else (4000, 3000), progress)
        result["goals"] = _goals(result)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def format_report(r: dict[str, Any]) -> str:
    """The human-readable summary `imgrag bench` prints."""
    m = r["machine"]
    lines = [f"machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('ram_gb')} GiB RAM, GPU: {m.get('gpu') or 'none'}"
             f", load {m.get('load_average_at_start')}"]
    if "model" in r:
        lines.append(f"model: {r['model']['name']} ({r['model']['weights']}), {r['model']['device']} {r['model']['dtype']}")
    if "index" in r:
        ix = r["index"]
        lines.append(f"indexing (batch {ix['batch_size']}, {ix['decode_workers']} decode workers):")
        for name, s in ix["sets"].items():
            lines.append(f"  {name:8s} {s['images']:4d} JPEGs {s['width']}x{s['height']}: pipeline "
                         f"{s['pipeline_images_per_s']:.1f}/s, naive {s['naive_images_per_s']:.1f}/s, x{s['speedup']:.2f} "
                         f"(CPU per image {s['pipeline_cpu_ms_per_image']:.0f} vs {s['naive_cpu_ms_per_image']:.0f} ms, "
                         f"x{s['cpu_ratio']:.2f})"
                         + (f"; naive at {ix['dtype']} {s['naive_same_precision_images_per_s']:.1f}/s, "
                            f"x{s['speedup_same_precision']:.2f}" if "speedup_same_precision" in s else ""))
    if "search" in r:
        s = r["search"]
        lines.append(f"CLIP text encode p50 {s['text_encode_ms']['p50']:.1f} ms, image encode p50 {s['image_encode_ms']['p50']:.1f} ms")
        for e in s["sizes"]:
            v, q = e["vectors"], e["searcher"]
            lines.append(
                f"  {v['rows']:>9,} rows: exact {v['exact_ms']['p50']:.2f} ms, IVF {v['ivf']['search_ms']['p50']:.2f} ms "
                f"(nlist {v['ivf']['nlist']}, nprobe {v['ivf']['nprobe']}, recall@10 text {v['ivf']['recall_at_10']['text']:.3f} "
                f"image {v['ivf']['recall_at_10']['image']:.3f}, build {v['ivf']['build_s']:.1f} s); "
                f"product ({q['method']}): text query p50 {q['text_query_ms']['p50']:.1f} / p95 {q['text_query_ms']['p95']:.1f} ms, "
                f"image query p50 {q['image_query_ms']['p50']:.1f} / p95 {q['image_query_ms']['p95']:.1f} ms; "
                f"first query after a text write {q['first_query_after_text_write_ms']:.0f} ms, "
                f"after a new picture {q['first_query_after_new_picture_ms']:.0f} ms")
    if "memory" in r:
        mm = r["memory"]
        lines.append(f"memory: `imgrag index` of {mm['index_images']} images peak RSS {mm['index_peak_rss_mb']} MB "
                     f"({mm['index_wall_s']:.1f} s); window cold start: "
                     + (f"{mm['window']['process_start_to_shown_s']:.2f} s to shown ({mm['window_note']})"
                        if mm["window"] else mm["window_note"]))
    for name, g in r.get("goals", {}).items():
        lines.append(f"goal {name}: {g['value']} (target {g['target']}) {'met' if g['met'] else 'NOT met'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - `imgrag bench` is the entry point
    from imgrag_desktop.cli import main as cli_main

    return cli_main(["bench", *(argv if argv is not None else sys.argv[1:])])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
