"""`imgrag bench --part copies`: a typed search as the window runs it (k=500, visual, copies
folded) over a library where a fifth of the pictures are near-identical copies of others.

The plain search part's vectors have no copies, so it never pays for folding; here every
copy has a CLIP vector next to its original's and a fingerprint (histogram, pHash, grey
signature) that the duplicate finder must verify: most are resized or recompressed copies
(pHash within a few bits), a quarter are cropped-like (pHash far: the grey signatures are
aligned). Each query runs as the window streams it: the first screenful (FIRST_SCREEN
results), then all RESULTS. Reported: the first query (nothing verified yet), and p50/p95 of
the first screenful and of the full answer (both from the start of the query) over different
queries, the verdicts of earlier ones remembered, as in a session in the window.
"""

from __future__ import annotations

import gc
import shutil
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from imgrag_desktop.bench.common import Progress, say, stats_ms
from imgrag_desktop.bench.search import TEXT_QUERIES
from imgrag_desktop.bench.synthetic import SyntheticClip, synthetic_store

COPY_SHARE = 0.2
RESULTS = 500  # the window's results_limit
FIRST_SCREEN = 60  # gui/workers.QueryWorker.FIRST_SCREEN: shown first in a large library


def _fingerprints(n: int, originals: np.ndarray, copies: np.ndarray, rng: np.random.Generator) -> list[Any]:
    from imgrag_desktop.fingerprint import Fingerprint

    hist = np.sqrt(rng.dirichlet(np.full(64, 0.3), n)).astype(np.float32)
    gray = rng.integers(0, 256, (n, 36, 48), dtype=np.uint8)
    ph = rng.integers(-(2**63), 2**63 - 1, n, dtype=np.int64)
    for o, c in zip(originals.tolist(), copies.tolist()):
        h = hist[o] ** 2 + np.abs(rng.normal(0, 0.002, 64))
        hist[c] = np.sqrt(h / h.sum())
        gray[c] = np.clip(gray[o].astype(np.int16) + rng.integers(-6, 7, (36, 48)), 0, 255).astype(np.uint8)
        flips = int(rng.integers(0, 5)) if rng.random() < 0.75 else int(rng.integers(16, 24))
        mask = 0
        for b in rng.choice(64, flips, replace=False).tolist():
            mask |= 1 << b
        ph[c] = int((np.uint64(ph[o].view(np.uint64)) ^ np.uint64(mask)).view(np.int64))
    return [Fingerprint(hist[i], gray[i], int(ph[i])) for i in range(n)]


def copies_store(n: int, encoder: Any, db_dir: Path) -> Any:
    """A LanceDB store of `n` synthetic rows (vectors of `encoder`'s size and model id) where the
    last COPY_SHARE of them are near-identical copies of earlier ones, with fingerprints for
    every row (what the duplicate finder reads). The same library for a given n, every run."""
    from imgrag_desktop.search.duplicates import FingerprintTable

    rng = np.random.default_rng(7)
    x = SyntheticClip(n, dim=encoder.dim, seed=1).images(n)
    m = int(n * COPY_SHARE)
    copies = np.arange(n - m, n)
    originals = rng.integers(0, n - m, m)
    noise = rng.normal(0, 0.02, (m, x.shape[1])).astype(np.float32)
    x[copies] = x[originals] + noise
    x[copies] /= np.linalg.norm(x[copies], axis=1, keepdims=True)
    store = synthetic_store(db_dir, x, encoder.model_id)
    fps = _fingerprints(n, originals, copies, rng)
    FingerprintTable(store.db_dir).put([(f"{i:032x}", fp) for i, fp in enumerate(fps)])
    del fps, x
    gc.collect()
    return store


def bench_copies(sizes: Sequence[int], encoder: Any, work_dir: Path, queries: int = 24,
                 progress: Progress | None = None) -> dict[str, Any]:
    from imgrag_desktop.search import Searcher

    texts = [TEXT_QUERIES[i % len(TEXT_QUERIES)] + ("" if i < len(TEXT_QUERIES) else f" {i}") for i in range(queries)]
    out: dict[str, Any] = {"copy_share": COPY_SHARE, "k": RESULTS, "sizes": []}
    for n in sizes:
        say(progress, f"copies {n:,}: vectors and fingerprints")
        db = work_dir / f"copies-{n}"
        store = copies_store(n, encoder, db)
        searcher = Searcher(store, encoder)
        searcher.visual()
        times, firsts, shown = [], [], []
        for q in texts:  # as the window streams them: the first screenful, then the full answer
            store.forget_hits()
            t = time.perf_counter()
            searcher.search(q, k=FIRST_SCREEN, mode="visual", min_score="off")
            firsts.append(time.perf_counter() - t)
            hits = searcher.search(q, k=RESULTS, mode="visual", min_score="off")
            times.append(time.perf_counter() - t)
            shown.append(sum(h.group_size for h in hits) - len(hits))
        out["sizes"].append({"rows": n, "first_query_ms": round(times[0] * 1e3, 1),
                             "first_screen_ms": stats_ms(firsts[1:]), "query_ms": stats_ms(times[1:]),
                             "copies_folded_per_query": round(float(np.mean(shown)), 1)})
        say(progress, f"copies {n:,}: first {times[0] * 1e3:.0f} ms, p95 {out['sizes'][-1]['query_ms']['p95']:.0f} ms")
        del searcher, store
        gc.collect()
        shutil.rmtree(db, ignore_errors=True)
    return out
