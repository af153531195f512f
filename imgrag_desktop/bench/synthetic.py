"""Synthetic data shaped like a photo library: CLIP-like vectors and a LanceDB store holding them.

Search runs over these vectors because the recall of an approximate index depends on how
clustered the data is, and uniform random vectors, which have no neighbourhoods at all, would
make any index look bad (or, queried with stored rows, trivially good).
"""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np


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


def synthetic_store(db_dir: Path, vectors: np.ndarray, clip_model: str, chunk: int = 100_000) -> Any:
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
