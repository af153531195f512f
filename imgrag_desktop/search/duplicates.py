"""Near-duplicate groups: resized, recompressed, slightly cropped or brightened copies.

Pairs are proposed cheaply and then verified (see fingerprint.py for why a CLIP threshold or a
global hash alone cannot do it):
- proposed: same content hash (byte-identical copies); colour histograms within
  HIST_MAX_DIST among each image's HIST_NEIGHBOURS nearest; pHashes within PHASH_MAX_BITS;
  and, for a model whose calibration shows it recognises copies, CLIP neighbours above the
  calibrated copy cosine;
- verified: the grey signatures aligned crop-tolerantly must correlate at COARSE_THRESHOLD at
  a quarter of their pixels (cheap: rejects most pairs) and at MATCH_THRESHOLD at full size; for a calibrated model the CLIP cosine must also reach the copy cosine; screenshots
  and documents must also share their OCR words (or, without OCR text, correlate at
  TEXT_MATCH_THRESHOLD).
Verified pairs are joined into groups (connected components). Groups are listed keeper first:
the largest picture, then the largest file, then the oldest.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import numpy as np
import pyarrow as pa
from PIL import Image

from imgrag_desktop import fingerprint as fpmod
from imgrag_desktop.fingerprint import Fingerprint
from imgrag_desktop.search import dup_candidates as dc
from imgrag_desktop.search.cancel import checkpoint
from imgrag_desktop.store import Store, sql_str
from imgrag_desktop.store.sidetables import SideTable

if TYPE_CHECKING:  # pragma: no cover
    from imgrag_desktop.search.calibration import ModelCalibration
    from imgrag_desktop.types import Hit, Progress

FINGERPRINTS = "fingerprints"
# Measured on 239 COCO photos and 21 screenshots (README, "Search power features"): copies (resize to
# 25 %, JPEG q10, crops up to 15 % of a side, brightness +15 %) scored 0.49-1.0; the closest
# distinct photo pairs 0.28.
MATCH_THRESHOLD = 0.42
TEXT_MATCH_THRESHOLD = 0.8  # screenshots/documents without OCR text: distinct ones reached 0.71
OCR_CONTAINMENT = 0.7  # shared OCR words / words of the shorter text
OCR_MIN_WORDS = 5
HIST_MAX_DIST = 0.08  # squared Hellinger distance; cropped copies ≤ 0.06, distinct COCO pairs: 0.07 % ≤ 0.08
HIST_NEIGHBOURS = 6
COARSE_AREA = 24 * 24  # a quick first look at a quarter of the pixels rejects most pairs
COARSE_THRESHOLD = 0.5  # copies ≥ 0.64 there, the closest distinct COCO pairs ≤ 0.42
PHASH_MAX_BITS = 10  # resized/recompressed/brightened copies ≤ 6 bits; distinct photos ≥ 14
FAST_PHASH_BITS = 6  # folding search results: photos this close need no alignment
CLIP_NEIGHBOURS = 8
TEXT_KINDS = ("screenshot", "document")
FOLD_BATCH = 32  # hits folded between two cancellation check points
VERDICTS_MAX = 200_000  # remembered match verdicts (a few MB)
FP_CACHE_MAX = 30_000  # fingerprints of search results kept in RAM (~2.5 KB each)
_WORD = re.compile(r"[\w]{2,}", re.UNICODE)


def fingerprints_schema() -> pa.Schema:
    return pa.schema([
        pa.field("content_hash", pa.string(), nullable=False),
        pa.field("hist", pa.list_(pa.float32(), fpmod.HIST_BINS)),
        pa.field("gray", pa.binary()),
        pa.field("gh", pa.int32()),
        pa.field("gw", pa.int32()),
        pa.field("phash", pa.int64()),
    ])


class FingerprintTable:
    """Fingerprints by content hash (model-independent: computed once per picture)."""

    def __init__(self, db_dir: str | Path) -> None:
        self.side = SideTable(db_dir, FINGERPRINTS, "content_hash")

    def put(self, items: Sequence[tuple[str, Fingerprint]]) -> None:
        if not items:
            return
        items = list({h: f for h, f in items}.items())
        data = pa.table({
            "content_hash": [h for h, _ in items],
            "hist": [f.hist.astype(np.float32).tolist() for _, f in items],
            "gray": [np.ascontiguousarray(f.gray, np.uint8).tobytes() for _, f in items],
            "gh": [int(f.gray.shape[0]) for _, f in items],
            "gw": [int(f.gray.shape[1]) for _, f in items],
            "phash": [int(f.phash) for _, f in items],
        }, schema=fingerprints_schema())
        self.side.upsert(data)

    def get(self, hashes: Iterable[str]) -> dict[str, Fingerprint]:
        tbl = self.side.by_keys(list(hashes))
        out: dict[str, Fingerprint] = {}
        if tbl.num_rows == 0:
            return out
        for r in tbl.to_pylist():
            gray = np.frombuffer(r["gray"], np.uint8).reshape(r["gh"], r["gw"])
            out[r["content_hash"]] = Fingerprint(np.asarray(r["hist"], np.float32), gray, int(r["phash"]))
        return out

    def known(self) -> set[str]:
        return set(self.side.query(None, ["content_hash"]).column("content_hash").to_pylist())

    def count(self) -> int:
        return self.side.count()


@dataclass
class DuplicateGroup:
    paths: list[str]  # keeper first
    score: float  # weakest verified match that joined the group (1.0: identical bytes only)
    size: int = field(init=False)

    def __post_init__(self) -> None:
        self.size = len(self.paths)

    def to_json(self) -> dict[str, Any]:
        return {"paths": self.paths, "size": self.size, "score": round(self.score, 4)}


@dataclass
class _Item:
    chash: str
    paths: list[str]
    kind: str = ""
    words: frozenset[str] = frozenset()
    fp: Fingerprint | None = None
    coarse: fpmod.Prepared | None = None  # the signature at COARSE_AREA, ready to align
    fine: fpmod.Prepared | None = None  # the signature itself, ready to align
    vec: np.ndarray | None = None
    keys: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # path → keeper order


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def ocr_words(text: str | None) -> frozenset[str]:
    return frozenset(w.lower() for w in _WORD.findall(text or ""))


class DuplicateFinder:
    """Groups near-identical pictures of a store; also collapses them in search results."""

    def __init__(self, store: Store, fingerprints: FingerprintTable, model_id: str | None = None,
                 thumbs_dir: str | os.PathLike[str] | None = None, calibration: "ModelCalibration | None" = None,
                 match_threshold: float | None = None, clip_threshold: float | None = None) -> None:
        self.store = store
        self.fingerprints = fingerprints
        self.model_id = model_id
        self.thumbs_dir = Path(thumbs_dir) if thumbs_dir else None
        self.match_threshold = MATCH_THRESHOLD if match_threshold is None else float(match_threshold)
        if clip_threshold is None and calibration is not None and calibration.image_informative:
            clip_threshold = calibration.dup_clip_threshold
        self.clip_threshold = clip_threshold  # None: CLIP neither proposes nor vetoes pairs
        self._verdicts: dict[tuple[str, str], float | None] = {}
        self._fp_cache: dict[str, Fingerprint] = {}
        self.exact_max = dc.EXACT_MAX  # past this many pictures, groups() compares within cells

    # Fingerprints for rows indexed before they existed -----------------------------------------
    def backfill(self, cancelled: Callable[[], bool] = lambda: False,
                 on_progress: "Callable[[Progress], None] | None" = None) -> int:
        """Compute missing fingerprints from cached thumbnails (else the files). Returns how
        many were added; unreadable files are skipped (their row keeps no fingerprint)."""
        from imgrag_desktop import imaging
        from imgrag_desktop.types import Progress

        rows = self.store.query(None, ["path", "content_hash"]).to_pylist()
        have = self.fingerprints.known()
        todo: dict[str, str] = {}
        for r in rows:
            if r["content_hash"] not in have:
                todo.setdefault(r["content_hash"], r["path"])
        done, batch = 0, []
        for chash, path in todo.items():
            if cancelled():
                break
            img = None
            if self.thumbs_dir is not None:
                thumb = imaging.thumbnail_path(self.thumbs_dir, chash)
                if thumb.exists():
                    try:
                        from PIL import Image

                        with Image.open(thumb) as im:
                            img = im.convert("RGB")
                    except OSError:
                        img = None
            if img is None:
                try:
                    img = imaging.decode_path(path, max_side=imaging.THUMB_SIZE)[0].image
                except Exception:
                    continue
            batch.append((chash, fpmod.fingerprint(img)))
            done += 1
            if len(batch) >= 256:
                self.fingerprints.put(batch)
                batch = []
            if on_progress is not None and done % 64 == 0:
                on_progress(Progress("fingerprints", done, len(todo)))
        self.fingerprints.put(batch)
        return done

    # Items ----------------------------------------------------------------------------------
    def _items(self, where: str | None = None, paths: Sequence[str] | None = None,
               rows: dict[str, dict[str, Any]] | None = None) -> list[_Item]:
        cols = ["path", "content_hash", "kind", "width", "height", "size", "mtime_ns", "ocr_text", "clip_model"]
        if paths is not None:
            if rows is None:
                rows = self.store.hit_rows(list(paths))  # the hits' rows, cached
            found = [rows[p] for p in dict.fromkeys(paths) if p in rows]
        else:
            found = self.store.query(where, cols).to_pylist()
        by_hash: dict[str, _Item] = {}
        for r in found:
            it = by_hash.get(r["content_hash"])
            if it is None:
                it = by_hash[r["content_hash"]] = _Item(r["content_hash"], [], r["kind"] or "")
            it.paths.append(r["path"])
            it.words = it.words or ocr_words(r.get("ocr_text"))
            it.keys[r["path"]] = (-(int(r["width"] or 0) * int(r["height"] or 0)), -int(r["size"] or 0),
                                  int(r["mtime_ns"] or 0), r["path"])
        items = list(by_hash.values())
        fps = self._fingerprints([it.chash for it in items], remember=paths is not None)
        for it in items:
            it.fp = fps.get(it.chash)
        if self.clip_threshold is not None and self.model_id and items:
            self._attach_vectors(items)
        return items

    def _fingerprints(self, hashes: list[str], remember: bool) -> dict[str, Fingerprint]:
        """Fingerprints by content hash; for search results, those read before are kept
        (a content hash's fingerprint never changes) so a query reads only the new ones."""
        if not remember:
            return self.fingerprints.get(hashes)
        missing = [h for h in hashes if h not in self._fp_cache]
        if missing:
            if len(self._fp_cache) + len(missing) > FP_CACHE_MAX:
                self._fp_cache.clear()
            self._fp_cache.update(self.fingerprints.get(missing))
        return {h: self._fp_cache[h] for h in hashes if h in self._fp_cache}

    def _attach_vectors(self, items: list[_Item]) -> None:
        from imgrag_desktop.store import sql_in

        want = {it.chash: it for it in items}
        hashes = list(want)
        model = f"clip_model = {sql_str(self.model_id or '')}"
        conds = [model] if len(hashes) > 4000 else [
            f"{sql_in('content_hash', hashes[i:i + 400])} AND {model}" for i in range(0, len(hashes), 400)]
        for cond in conds:
            tbl, mat = self.store.vectors("visual", cond)
            for h, v in zip(tbl.column("content_hash").to_pylist(), mat):
                it = want.get(h)
                if it is not None and it.vec is None:
                    it.vec = v

    # Verification ---------------------------------------------------------------------------
    def match(self, a: _Item, b: _Item) -> float | None:
        """The match score of two different pictures when they are near-duplicates, else None."""
        if a.fp is None or b.fp is None:
            return None
        if self.clip_threshold is not None and a.vec is not None and b.vec is not None:
            if float(a.vec @ b.vec) < self.clip_threshold:
                return None
        for it in (a, b):
            if it.coarse is None:
                it.coarse = fpmod.prepare(fpmod.gray_at(Image.fromarray(it.fp.gray), COARSE_AREA))  # type: ignore[union-attr]
        if fpmod.align(a.coarse, b.coarse).score < COARSE_THRESHOLD:  # type: ignore[arg-type]
            return None
        for it in (a, b):
            if it.fine is None:
                it.fine = fpmod.prepare(it.fp.gray)  # type: ignore[union-attr]
        score = fpmod.align(a.fine, b.fine).score  # type: ignore[arg-type]
        if a.kind in TEXT_KINDS or b.kind in TEXT_KINDS:
            if len(a.words) >= OCR_MIN_WORDS and len(b.words) >= OCR_MIN_WORDS:
                shared = len(a.words & b.words) / min(len(a.words), len(b.words))
                return score if shared >= OCR_CONTAINMENT and score >= self.match_threshold else None
            return score if score >= max(self.match_threshold, TEXT_MATCH_THRESHOLD) else None
        return score if score >= self.match_threshold else None

    def _candidates(self, items: list[_Item]) -> list[tuple[int, int]]:
        """Proposed pairs (i < j) of items, in order; sub-quadratic past `self.exact_max`
        items (dup_candidates.py says how)."""
        exact_max = self.exact_max
        idx = np.array([i for i, it in enumerate(items) if it.fp is not None], np.int64)
        if len(idx) < 2:
            return []
        hist = np.stack([items[i].fp.hist for i in idx]).astype(np.float32)  # type: ignore[union-attr]
        ph = np.array([items[i].fp.phash for i in idx], np.int64)  # type: ignore[union-attr]
        parts = [dc.vector_pairs(hist, HIST_NEIGHBOURS, lambda sim: 2.0 - 2.0 * sim <= HIST_MAX_DIST,
                                 exact_max=exact_max),
                 dc.phash_pairs(ph, PHASH_MAX_BITS, exact_max=exact_max)]
        if self.clip_threshold is not None:
            vec_idx = np.array([j for j, i in enumerate(idx.tolist()) if items[i].vec is not None], np.int64)
            if len(vec_idx) > 1:
                vecs = np.stack([items[idx[j]].vec for j in vec_idx])  # type: ignore[misc]
                threshold = float(self.clip_threshold)
                pv = dc.vector_pairs(vecs, CLIP_NEIGHBOURS, lambda sim: sim >= threshold, exact_max=exact_max)
                parts.append(dc.remap(pv, vec_idx))
        return [(int(idx[a]), int(idx[b])) for a, b in dc.decode(np.concatenate(parts))]

    # Public API -----------------------------------------------------------------------------
    def groups(self, where: str | None = None, cancelled: Callable[[], bool] = lambda: False) -> list[DuplicateGroup]:
        """Every group of two or more near-identical pictures among the rows matching `where`."""
        items = self._items(where)
        uf = _UnionFind(len(items))
        weakest: dict[int, float] = {}
        for a, b in self._candidates(items):
            if cancelled():
                break
            if uf.find(a) == uf.find(b):
                continue
            score = self.match(items[a], items[b])
            if score is not None:
                ra, rb = uf.find(a), uf.find(b)
                w = min(weakest.get(ra, 1.0), weakest.get(rb, 1.0), score)
                uf.union(a, b)
                weakest[uf.find(a)] = w
        members: dict[int, list[_Item]] = {}
        for i, it in enumerate(items):
            members.setdefault(uf.find(i), []).append(it)
        out = []
        for root, its in members.items():
            keys = sorted(k for it in its for k in it.keys.values())
            if len(keys) < 2:
                continue
            out.append(DuplicateGroup([k[-1] for k in keys], weakest.get(root, 1.0)))
        out.sort(key=lambda g: (-g.size, g.paths[0]))
        return out

    def collapse(self, hits: "list[Hit]", vectors: dict[str, np.ndarray] | None = None,
                 rows: dict[str, dict[str, Any]] | None = None) -> "list[Hit]":
        """Results with each group of near-identical pictures folded into its best hit, whose
        `group_size` counts the pictures folded into it (itself included) and `group` lists the
        others. `rows`: the hits' rows when the caller has them (Searcher.hit_rows).

        Each hit, best first, joins the first kept hit it is a copy of. Only kept hits proposed
        as its copies (one matrix product for all pairs, see _proposals) are verified, so the
        cost follows the proposals, not hits × kept hits; verdicts are remembered by content
        hash, so the next query re-verifies nothing it already saw. Every FOLD_BATCH hits is a
        check point where a search a newer one replaced stops (search/cancel.py)."""
        if len(hits) < 2:
            return hits
        paths = [h.path for h in hits]
        by_path = {p: it for it in self._items(paths=paths, rows=rows) for p in it.paths}
        if vectors and self.clip_threshold is not None:
            for p, it in by_path.items():
                if it.vec is None and p in vectors:
                    it.vec = vectors[p]
        items = list({id(it): it for it in by_path.values()}.values())
        slot = {id(it): i for i, it in enumerate(items)}
        near = self._proposals(items)
        keeper_of: dict[int, int] = {}  # item slot → position of its kept hit
        kept: list["Hit"] = []
        for n, h in enumerate(hits):
            if n % FOLD_BATCH == 0:
                checkpoint()
            hit_item = by_path.get(h.path)
            home = None
            if hit_item is not None:
                i = slot[id(hit_item)]
                mine = keeper_of.get(i)
                for pos, j in sorted((keeper_of[j], j) for j in near.get(i, ()) if j in keeper_of):
                    if mine is not None and mine < pos:
                        break
                    if self._verdict(items[j], hit_item) is not None:
                        home = pos
                        break
                if home is None:
                    home = mine
            if home is None:
                if hit_item is not None:
                    keeper_of[slot[id(hit_item)]] = len(kept)
                kept.append(h)
            else:
                keeper = kept[home]
                keeper.group_size += max(1, h.group_size)
                keeper.group.extend([h.path, *h.group])
        return kept

    def _verdict(self, a: _Item, b: _Item) -> float | None:
        """Whether b folds into a: match(a, b), remembered by the pair's content hashes (a
        picture's fingerprint, words and vector do not change while its content hash stays).

        Photos (not screenshots or documents, whose layouts repeat) whose pHashes differ in at
        most FAST_PHASH_BITS bits and whose histograms are within HIST_MAX_DIST are taken as
        copies without aligning them: resized, recompressed and brightened copies measured
        ≤ 6 bits, distinct photos ≥ 14, and the alignment is what costs (~15 ms a pair). Crops
        move the pHash and are still aligned."""
        key = (a.chash, b.chash)
        if key in self._verdicts:
            return self._verdicts[key]
        if self._obvious_copy(a, b):
            return 1.0
        if len(self._verdicts) >= VERDICTS_MAX:
            self._verdicts.clear()
        score = self._verdicts[key] = self.match(a, b)
        return score

    def _obvious_copy(self, a: _Item, b: _Item) -> bool:
        if a.fp is None or b.fp is None or a.kind in TEXT_KINDS or b.kind in TEXT_KINDS:
            return False
        if self.clip_threshold is not None and a.vec is not None and b.vec is not None:
            if float(a.vec @ b.vec) < self.clip_threshold:
                return False
        return (int(fpmod.hamming(a.fp.phash, b.fp.phash)) <= FAST_PHASH_BITS
                and 2.0 - 2.0 * float(a.fp.hist @ b.fp.hist) <= HIST_MAX_DIST)

    def _proposals(self, items: list[_Item]) -> dict[int, list[int]]:
        """For each item (by position), the items worth verifying against it: colour histogram,
        pHash, CLIP when trusted, for all pairs at once (one matrix product, no Python loop
        over pairs)."""
        pos = [i for i, it in enumerate(items) if it.fp is not None]
        if len(pos) < 2:
            return {}
        with_fp = [items[i] for i in pos]
        hist = np.stack([it.fp.hist for it in with_fp]).astype(np.float32)  # type: ignore[union-attr]
        ph = np.array([int(it.fp.phash) for it in with_fp], np.int64)  # type: ignore[union-attr]
        near = (2.0 - 2.0 * (hist @ hist.T)) <= HIST_MAX_DIST
        near |= fpmod.hamming(ph[:, None], ph[None, :]) <= PHASH_MAX_BITS
        if self.clip_threshold is not None:
            has = np.array([it.vec is not None for it in with_fp])
            if has.sum() >= 2:
                dim = next(it.vec for it in with_fp if it.vec is not None).shape[0]
                vec = np.stack([it.vec if it.vec is not None else np.zeros(dim, np.float32) for it in with_fp])
                near |= ((vec @ vec.T) >= self.clip_threshold) & has[:, None] & has[None, :]
        np.fill_diagonal(near, False)
        out: dict[int, list[int]] = {}
        for r, c in zip(*np.nonzero(near)):
            out.setdefault(pos[int(r)], []).append(pos[int(c)])
        return out


def finder_for(services: Any, match_threshold: float | None = None, clip_threshold: float | None = None) -> DuplicateFinder:
    """The finder for an app's services (store, thumbnails, the current model's calibration)."""
    from imgrag_desktop.search.calibration import CalibrationBook

    cfg = services.cfg
    model_id = services.clip.model_id
    cal = CalibrationBook(cfg.data_dir).get(model_id)
    return DuplicateFinder(services.store, FingerprintTable(cfg.db_dir), model_id, cfg.thumbs_dir, cal,
                           match_threshold=match_threshold, clip_threshold=clip_threshold)
