"""`imgrag eval --labelled DIR`: how well search works on the user's own labelled pictures.

Labels come from sub-folder names (DIR/dog/*.jpg → "dog") or from a CSV (path,label; a
picture may have several labels, separated by ';' or given on several rows). The folder is
indexed into a temporary index with the configured model (the user's index is not touched),
then each mode is measured:
- text: every label is a query ("golden_retriever" → "golden retriever"); relevant = the
  pictures with that label;
- image: every picture (up to 300) is a query; relevant = the other pictures sharing a label.
For each mode: mean precision@k and recall@k, and the scores of positive pairs (query,
relevant picture) against negative pairs, summarised by their AUC and by the threshold that
best separates them (highest F1). A PNG draws both score histograms per mode. With
`--calibrate`, those thresholds become the model's relevance cut-off (calibration.py).
"""

from __future__ import annotations

import csv
import os
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from imgrag_desktop import imaging
from imgrag_desktop.types import ImgragError

MAX_IMAGE_QUERIES = 300
AUC_INFORMATIVE = 0.75  # a mode whose positives outrank negatives less often sets no cut-off


def read_labels(folder: str | os.PathLike[str], labels_csv: str | os.PathLike[str] | None = None) -> dict[str, set[str]]:
    """Absolute image path → its labels."""
    root = Path(folder).expanduser().resolve()
    if not root.is_dir():
        raise ImgragError(f"no such folder: {root}")
    out: dict[str, set[str]] = {}
    if labels_csv is not None:
        csv_path = Path(labels_csv).expanduser().resolve()
        try:
            text = csv_path.read_text("utf-8-sig")
        except OSError as exc:
            raise ImgragError(f"cannot read the labels file {csv_path}: {exc.strerror or exc}") from exc
        rows = list(csv.reader(text.splitlines()))
        if rows and [c.strip().lower() for c in rows[0][:2]] in (["path", "label"], ["path", "labels"], ["file", "label"],
                                                                  ["file", "labels"], ["image", "label"]):
            rows = rows[1:]
        for n, row in enumerate(rows, 1):
            if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
                continue
            if len(row) < 2 or not row[1].strip():
                raise ImgragError(f"{csv_path}, line {n}: expected 'path,label'")
            p = Path(row[0].strip())
            p = p if p.is_absolute() else (root / p if (root / p).exists() else csv_path.parent / p)
            labels = {x.strip() for x in row[1].replace("|", ";").split(";") if x.strip()}
            out.setdefault(str(p.resolve()), set()).update(labels)
        missing = [p for p in out if not os.path.isfile(p)]
        if missing:
            raise ImgragError(f"{len(missing)} file(s) named in {csv_path} do not exist, e.g. {missing[0]}")
    else:
        for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for dirpath, dirnames, filenames in os.walk(sub):
                dirnames[:] = [d for d in dirnames if not d.startswith(".")]
                for f in filenames:
                    if imaging.is_image_name(f) and not f.startswith("."):
                        out.setdefault(str(Path(dirpath, f).resolve()), set()).add(sub.name)
    if not out:
        raise ImgragError(f"no labelled images in {root}: put them in one sub-folder per label, or give --labels CSV")
    if len({lab for labs in out.values() for lab in labs}) < 2:
        raise ImgragError("an evaluation needs at least two labels (something to tell apart)")
    return out


def label_query(label: str) -> str:
    return " ".join(label.replace("_", " ").replace("-", " ").split())


def auc(pos: np.ndarray, neg: np.ndarray) -> float | None:
    """Probability that a positive pair outscores a negative one (ties count half)."""
    if len(pos) == 0 or len(neg) == 0:
        return None
    allv = np.concatenate([pos, neg])
    order = allv.argsort(kind="mergesort")
    ranks = np.empty(len(allv), np.float64)
    sorted_v = allv[order]
    i = 0
    while i < len(allv):  # average ranks of ties
        j = i
        while j + 1 < len(allv) and sorted_v[j + 1] == sorted_v[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    r_pos = ranks[: len(pos)].sum()
    return float((r_pos - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def best_threshold(pos: np.ndarray, neg: np.ndarray) -> tuple[float | None, float]:
    """(threshold with the highest F1 for 'score ≥ threshold means relevant', that F1).

    The threshold sits midway between the lowest score kept and the highest score left out,
    so it generalises to scores between the two rather than hugging one of them."""
    if len(pos) == 0:
        return None, 0.0
    scores = np.concatenate([np.asarray(pos, np.float64), np.asarray(neg, np.float64)])
    is_pos = np.concatenate([np.ones(len(pos), bool), np.zeros(len(neg), bool)])
    order = np.argsort(-scores, kind="stable")
    s, lab = scores[order], is_pos[order]
    tp = np.cumsum(lab)
    fp = np.cumsum(~lab)
    f1 = 2 * tp / (2 * tp + fp + (len(pos) - tp))
    last = np.ones(len(s), bool)  # cut only between different scores
    last[:-1] = s[:-1] != s[1:]
    f1 = np.where(last, f1, -1.0)
    i = int(np.argmax(f1))
    below = s[i + 1] if i + 1 < len(s) else s[i] - 1e-3
    return float((s[i] + below) / 2), float(f1[i])


@dataclass
class ModeResult:
    name: str
    queries: int = 0
    precision: float = 0.0
    recall: float = 0.0
    pos: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    neg: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    @property
    def auc(self) -> float | None:
        return auc(self.pos, self.neg)

    def to_json(self, k: int) -> dict[str, Any]:
        t, f1 = best_threshold(self.pos, self.neg)
        a = self.auc
        return {
            "queries": self.queries,
            f"precision_at_{k}": round(self.precision, 4),
            f"recall_at_{k}": round(self.recall, 4),
            "precision_at_k": round(self.precision, 4),
            "recall_at_k": round(self.recall, 4),
            "positive_pairs": int(len(self.pos)),
            "negative_pairs": int(len(self.neg)),
            "positive_mean": round(float(self.pos.mean()), 4) if len(self.pos) else None,
            "negative_mean": round(float(self.neg.mean()), 4) if len(self.neg) else None,
            "auc": None if a is None else round(a, 4),
            "best_threshold": None if t is None else round(t, 4),
            "best_f1": round(f1, 4),
        }


@dataclass
class EvalReport:
    folder: str
    model_id: str
    k: int
    images: int
    labels: int
    modes: dict[str, ModeResult]
    histogram: str | None = None
    failed: int = 0
    seconds: float = 0.0
    calibrated: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "folder": self.folder, "model": self.model_id, "k": self.k, "images": self.images,
            "labels": self.labels, "failed": self.failed,
            "modes": {n: m.to_json(self.k) for n, m in self.modes.items()},
            "histogram": self.histogram, "calibrated": self.calibrated, "seconds": round(self.seconds, 2),
        }


def evaluate(services: Any, folder: str | os.PathLike[str], labels_csv: str | os.PathLike[str] | None = None,
             k: int = 5, histogram: str | os.PathLike[str] | None = None, calibrate: bool = False,
             cancelled: Callable[[], bool] = lambda: False, on_progress: Callable[[Any], None] | None = None,
             seed: int = 0) -> EvalReport:
    """Index `folder` into a temporary index, measure each mode, draw the histograms."""
    from imgrag_desktop.config import AppConfig, Settings
    from imgrag_desktop.indexing.pipeline import Indexer
    from imgrag_desktop.search import Searcher
    from imgrag_desktop.store import Store

    if k < 1:
        raise ImgragError("k must be at least 1")
    t0 = time.monotonic()
    labels = read_labels(folder, labels_csv)
    clip = services.clip
    clip.load()
    with tempfile.TemporaryDirectory(prefix="imgrag-eval-") as tmp:
        settings = Settings.from_dict(services.cfg.settings.to_dict())
        settings.ocr_enabled = False  # the modes measured here are visual
        settings.captions_enabled = False
        cfg = AppConfig(data_dir=Path(tmp), profile=services.cfg.profile, settings=settings)
        cfg.ensure_dirs()
        store = Store(cfg.db_dir)
        roots = sorted({str(Path(folder).expanduser().resolve())})
        indexer = Indexer(cfg, store, clip, on_progress=on_progress, make_thumbnails=False)
        indexer.auto_calibrate = False  # a throw-away index: the user's calibration is set by --calibrate only
        report = indexer.index_paths(roots)
        table, matrix = store.vectors("visual")
        paths = table.column("path").to_pylist()
        keep = [i for i, p in enumerate(paths) if p in labels]
        if len(keep) < 2:
            raise ImgragError("fewer than two labelled images could be read; see `imgrag status --failures`")
        paths = [paths[i] for i in keep]
        matrix = matrix[keep]
        lab = [labels[p] for p in paths]
        all_labels = sorted({x for s in lab for x in s})
        searcher = Searcher(store, clip)
        modes = {"text": _text_mode(searcher, clip, paths, lab, all_labels, matrix, k, cancelled),
                 "image": _image_mode(searcher, paths, lab, matrix, k, cancelled, seed)}
    out = EvalReport(str(Path(folder).expanduser().resolve()), clip.model_id, k, len(paths), len(all_labels), modes,
                     failed=report.failed)
    if histogram:
        out.histogram = str(draw_histograms(modes, histogram, title=f"{clip.model_id} on {Path(folder).name}"))
    if calibrate:
        save_calibration(services, out)
        out.calibrated = True
    out.seconds = time.monotonic() - t0
    return out


def _text_mode(searcher: Any, clip: Any, paths: list[str], lab: list[set[str]], all_labels: list[str],
               matrix: np.ndarray, k: int, cancelled: Callable[[], bool]) -> ModeResult:
    res = ModeResult("text")
    qv = clip.encode_texts([label_query(x) for x in all_labels])
    scores = qv @ matrix.T  # labels × images
    member = np.array([[x in s for s in lab] for x in all_labels], bool)
    res.pos, res.neg = scores[member].astype(np.float32), scores[~member].astype(np.float32)
    precs, recs = [], []
    for li, label in enumerate(all_labels):
        if cancelled():
            break
        hits = searcher.search(label_query(label), k=k, min_score=None, collapse=False, mode="visual")
        relevant = {paths[i] for i in np.nonzero(member[li])[0]}
        got = sum(1 for h in hits if h.path in relevant)
        precs.append(got / k)
        recs.append(got / max(1, len(relevant)))
    res.queries = len(precs)
    res.precision = float(np.mean(precs)) if precs else 0.0
    res.recall = float(np.mean(recs)) if recs else 0.0
    return res


def _image_mode(searcher: Any, paths: list[str], lab: list[set[str]], matrix: np.ndarray, k: int,
                cancelled: Callable[[], bool], seed: int) -> ModeResult:
    res = ModeResult("image")
    n = len(paths)
    sims = matrix @ matrix.T
    iu = np.triu_indices(n, 1)
    same = np.array([bool(lab[i] & lab[j]) for i, j in zip(*iu)], bool)
    pair = sims[iu]
    res.pos, res.neg = pair[same].astype(np.float32), pair[~same].astype(np.float32)
    queries = list(range(n))
    if n > MAX_IMAGE_QUERIES:
        queries = sorted(random.Random(seed).sample(queries, MAX_IMAGE_QUERIES))
    precs, recs = [], []
    for i in queries:
        if cancelled():
            break
        relevant = {paths[j] for j in range(n) if j != i and lab[i] & lab[j]}
        if not relevant:
            continue
        hits = [h for h in searcher.similar(paths[i], k=k + 1, min_score=None, collapse=False) if h.path != paths[i]][:k]
        got = sum(1 for h in hits if h.path in relevant)
        precs.append(got / k)
        recs.append(got / len(relevant))
    res.queries = len(precs)
    res.precision = float(np.mean(precs)) if precs else 0.0
    res.recall = float(np.mean(recs)) if recs else 0.0
    return res


def save_calibration(services: Any, report: EvalReport) -> None:
    """Make the labelled thresholds the model's cut-off (replacing a library calibration)."""
    from imgrag_desktop.search.calibration import CalibrationBook, ModelCalibration

    book = CalibrationBook(services.cfg.data_dir)
    cal = book.get(report.model_id) or ModelCalibration(report.model_id)
    cal.source = "labelled"
    cal.at = time.time()
    for mode, attr in (("text", "text"), ("image", "image")):
        m = report.modes.get(mode)
        if m is None:
            continue
        t, _ = best_threshold(m.pos, m.neg)
        a = m.auc
        setattr(cal, f"{attr}_threshold", t)
        setattr(cal, f"{attr}_informative", a is not None and a >= AUC_INFORMATIVE and t is not None)
    cal.stats = {**cal.stats, "labelled_folder": report.folder, "labelled_images": report.images,
                 "labelled_auc": {n: m.auc for n, m in report.modes.items()}}
    book.put(cal)


# --- histogram PNG (Pillow only) ------------------------------------------------------------------
POS_COLOUR = (46, 139, 87)
NEG_COLOUR = (205, 92, 92)


def draw_histograms(modes: dict[str, ModeResult], dest: str | os.PathLike[str], title: str = "", bins: int = 40) -> Path:
    """One panel per mode: density histograms of positive and negative pair scores, the best
    threshold as a dashed line. Written atomically."""
    from PIL import Image, ImageDraw, ImageFont

    w, ph, margin = 960, 300, 60
    panels = [m for m in modes.values() if len(m.pos) or len(m.neg)]
    h = 40 + ph * max(1, len(panels))
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default(14)
    small = ImageFont.load_default(11)
    d.text((margin, 10), title or "similarity scores", fill="black", font=font)
    for pi, m in enumerate(panels):
        top = 40 + pi * ph
        x0, x1, y0, y1 = margin, w - 20, top + 30, top + ph - 40
        allv = np.concatenate([m.pos, m.neg])
        lo, hi = float(allv.min()), float(allv.max())
        if hi - lo < 1e-6:
            lo, hi = lo - 0.01, hi + 0.01
        edges = np.linspace(lo, hi, bins + 1)
        dens = []
        for v in (m.pos, m.neg):
            c, _ = np.histogram(v, edges)
            dens.append(c / max(1, c.sum()))
        peak = max(float(dens[0].max()) if len(m.pos) else 0, float(dens[1].max()) if len(m.neg) else 0, 1e-9)
        bw = (x1 - x0) / bins
        for series, colour, off in ((dens[1], NEG_COLOUR, 0.0), (dens[0], POS_COLOUR, 0.5)):
            for b, v in enumerate(series):
                if v <= 0:
                    continue
                bx = x0 + b * bw + off * bw * 0.5
                d.rectangle([bx, y1 - (y1 - y0) * v / peak, bx + bw * 0.5, y1], fill=colour)
        d.line([x0, y1, x1, y1], fill="black")
        d.line([x0, y0, x0, y1], fill="black")
        for t in range(6):
            v = lo + (hi - lo) * t / 5  # type: ignore[assignment]
            tx = x0 + (x1 - x0) * t / 5
            d.line([tx, y1, tx, y1 + 4], fill="black")
            d.text((tx - 16, y1 + 6), f"{v:.3f}", fill="black", font=small)
        thr, f1 = best_threshold(m.pos, m.neg)
        if thr is not None:
            tx = x0 + (x1 - x0) * (thr - lo) / (hi - lo)
            for yy in range(int(y0), int(y1), 8):
                d.line([tx, yy, tx, yy + 4], fill="black")
        a = m.auc
        d.text((x0, top + 8), f"{m.name}: positive pairs {len(m.pos)} (green), negative pairs {len(m.neg)} (red), "
               f"AUC {'-' if a is None else f'{a:.3f}'}, best threshold {'-' if thr is None else f'{thr:.4f}'} "
               f"(F1 {f1:.2f})", fill="black", font=small)
    dest = Path(dest).expanduser().resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    from imgrag_desktop.imaging import save_image_atomic

    return save_image_atomic(img, dest, "PNG", prefix=".hist-")
