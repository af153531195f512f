"""Search latency and recall at several library sizes: exact against IVF on synthetic vectors,
and end-to-end queries through the product's Searcher over a real LanceDB store."""

from __future__ import annotations

import gc
import shutil
import time
from functools import partial
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from imgrag_desktop.bench.common import Progress, coco_images, drawn_photo, say, stats_ms, time_queries
from imgrag_desktop.bench.synthetic import SyntheticClip, synthetic_store

TEXT_QUERIES = [
    "a dog playing on the beach", "birthday cake with candles", "red car parked in the street",
    "screenshot of an error message", "mountains at sunset", "my receipt from the restaurant",
    "two cats sleeping on a sofa", "a plate of pasta", "kids playing football in the park",
    "snow on the roof", "a whiteboard with a diagram", "people at a wedding", "boats in a harbour",
    "a bicycle leaning against a wall", "train station at night", "a bowl of fruit on a table",
]


def _query_images(count: int) -> list[Any]:
    """Decoded query images: real photos when available, else drawn ones."""
    from PIL import Image

    out = []
    for p in coco_images(count):
        with Image.open(p) as im:
            out.append(im.convert("RGB"))
    rng = np.random.default_rng(7)
    while len(out) < count:
        out.append(drawn_photo(rng, 640, 480))
    return out


def _recall(index: Any, exact: list[set[int]], queries: np.ndarray, k: int) -> float:
    hits = sum(len(t.intersection(index.search(q, k)[0].tolist())) for q, t in zip(queries, exact))
    return round(hits / (len(exact) * k), 4)


def bench_vectors(n: int, queries: int = 200, k: int = 10, seed: int = 0, dim: int = 512,
                  progress: Progress | None = None) -> dict[str, Any]:
    """Exact vs IVF on n synthetic vectors: latency of the search alone, IVF build and recall."""
    from imgrag_desktop.search.vectors import ANN_MIN_ROWS, VectorIndex

    gen = SyntheticClip(n, dim=dim, seed=seed)
    say(progress, f"search {n:,}: generating vectors")
    x = gen.images(n)
    q_img = gen.images(queries, seed=11)  # held out: never in the index
    q_txt = gen.texts(queries)
    out: dict[str, Any] = {"rows": n, "data": SyntheticClip.describe(x, q_txt)}
    exact = VectorIndex(x, ann=False)
    say(progress, f"search {n:,}: exact")
    truth = {name: [set(exact.search(v, k)[0].tolist()) for v in q] for name, q in (("text", q_txt), ("image", q_img))}
    out["exact_ms"] = stats_ms(time_queries(partial(exact.search, k=k), list(np.vstack([q_txt, q_img]))))
    say(progress, f"search {n:,}: building IVF")
    ann = VectorIndex(x, ann=True, seed=seed)
    del exact, x
    gc.collect()
    info = ann.info
    assert info is not None
    out["ivf"] = {
        "build_s": round(info.build_s, 2), "nlist": info.nlist, "nprobe": info.nprobe,
        "calibrated_recall": round(info.calibrated_recall, 4),
        "search_ms": stats_ms(time_queries(partial(ann.search, k=k), list(np.vstack([q_txt, q_img])))),
        "recall_at_10": {"text": _recall(ann, truth["text"], q_txt, k), "image": _recall(ann, truth["image"], q_img, k)},
    }
    out["product_uses"] = "ivf" if n >= ANN_MIN_ROWS else "exact"
    return out


def _make_hits(searcher: Any, loaded: Any, found: tuple[np.ndarray, np.ndarray]) -> Any:
    return searcher.make_hits(loaded, found[0], found[1])


def _after_writes(out: dict[str, Any], store: Any, searcher: Any, encoder: Any, text: str, first: str,
                  k: int) -> None:
    # The first query after a write: OCR text of one picture (the loaded vectors stay), then
    # a new, a changed, a moved and a deleted picture (the loaded vectors are patched with that
    # row: see search/snapshot.py), and the same new picture with the old whole reload.
    row = store.rows([first])[first]

    def after(write: Any) -> float:
        write()
        store.forget_hits()
        t = time.perf_counter()
        searcher.search(text, k=k, mode="visual")
        return round((time.perf_counter() - t) * 1e3, 1)

    rng = np.random.default_rng(5)

    def other_vector() -> list[float]:
        v = rng.standard_normal(encoder.dim).astype(np.float32)
        return (v / np.linalg.norm(v)).tolist()

    out["first_query_after_text_write_ms"] = after(
        lambda: store.update_rows({first: {"ocr_text": "EXIT 12", "ocr_status": "done"}}))
    out["first_query_after_new_picture_ms"] = after(
        lambda: store.upsert([{**row, "path": first + ".copy.jpg", "name": "copy.jpg"}]))
    out["first_query_after_changed_picture_ms"] = after(
        lambda: store.upsert([{**row, "visual": other_vector(), "mtime_ns": int(row["mtime_ns"]) + 1}]))
    moved = first + ".moved.jpg"
    out["first_query_after_moved_picture_ms"] = after(
        lambda: (store.delete_paths([first + ".copy.jpg"]), store.upsert([{**row, "path": moved}])))
    out["first_query_after_deleted_picture_ms"] = after(lambda: store.delete_paths([moved]))
    out["snapshot_patched"] = searcher.visual().base is not None
    # The same new picture through the whole reload every change caused before (the baseline).
    from imgrag_desktop.search.snapshot import VectorCache

    searcher._vectors = VectorCache(store, incremental=False)
    searcher.visual()
    out["first_query_after_new_picture_reload_ms"] = after(
        lambda: store.upsert([{**row, "path": first + ".again.jpg", "name": "again.jpg"}]))
    p50 = out["text_query_ms"]["p50"]
    out["new_picture_extra_ms"] = round(out["first_query_after_new_picture_ms"] - p50, 1)
    out["new_picture_speedup"] = round(out["first_query_after_new_picture_reload_ms"]
                                       / max(out["first_query_after_new_picture_ms"], 1e-3), 1)


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
    say(progress, f"search {n:,}: writing a LanceDB table")
    x = gen.images(n)
    t = time.perf_counter()
    store = synthetic_store(work_dir / f"db-{n}", x, encoder.model_id)
    write_s = time.perf_counter() - t
    del x
    gc.collect()
    searcher = Searcher(store, encoder)
    say(progress, f"search {n:,}: loading the searcher")
    t = time.perf_counter()
    loaded = searcher.visual()
    load_s = time.perf_counter() - t
    texts = list(texts)
    out: dict[str, Any] = {
        "rows": n, "method": "ivf" if loaded.index.is_ann else "exact",
        "store_write_s": round(write_s, 2), "load_s": round(load_s, 2),
    }
    say(progress, f"search {n:,}: text queries")
    # Each query starts with its hits' rows unread (Store.hit_rows caches them between queries).

    def text_query(q: str) -> Any:
        store.forget_hits()  # noqa: F821 - bound until the del at the end
        return searcher.search(q, k=k, mode="visual")  # noqa: F821

    def image_query(im: Any) -> Any:
        store.forget_hits()  # noqa: F821
        return searcher.similar(im, k=k)  # noqa: F821

    out["text_query_ms"] = stats_ms(time_queries(text_query, texts))
    out["image_query_ms"] = stats_ms(time_queries(image_query, images))
    # Split of a text query: where the time goes.
    vecs = encoder.encode_texts(texts)
    out["vector_search_ms"] = stats_ms(time_queries(partial(loaded.index.search, k=k), vecs))
    idx = [loaded.index.search(v, k) for v in vecs]
    out["hits_ms"] = stats_ms(time_queries(partial(_make_hits, searcher, loaded), idx))
    _after_writes(out, store, searcher, encoder, texts[0], loaded.paths[0], k)
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
    say(progress, "search: encoder latency")
    out["text_encode_ms"] = stats_ms(time_queries(lambda s: encoder.encode_texts([s]), texts))
    out["image_encode_ms"] = stats_ms(time_queries(lambda im: encoder.encode_images([im]), images))
    out["sizes"] = []
    for n in sizes:
        entry = {"vectors": bench_vectors(n, queries, dim=encoder.dim, progress=progress)}
        gc.collect()
        entry["searcher"] = bench_searcher(n, encoder, work_dir, texts, images, progress=progress)
        gc.collect()
        out["sizes"].append(entry)
    return out
