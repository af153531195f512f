"""Per-model calibration: what score counts as a match, and whether the model can tell at all.

A CLIP cosine means different things for different models (a trained ViT-B-32 scores a
matching caption ~0.3, the test profile's random model scores everything 0.95-0.999), so
no fixed number can hide "weak matches". Each model is calibrated on the user's own library,
without labels and without a network:

- text → image: 24 nonsense queries ("null queries") are scored against the library; the
  90th percentile of their best scores is the weakest score a real query must beat. Whether
  the text tower means anything is checked by a typographic probe: 16 words are rendered
  as pictures and each word's query must pick its own picture (a trained CLIP reads printed
  words; a random one picks at chance, 1/16).
- image → image: a sample of library images is copied with a crop + recompression and with
  a brightness change; a model that finds the original as the nearest image of most copies
  is informative. The match threshold sits midway between the median cosine of two random
  library images and the cosine that copies reach (5th percentile).
- near-duplicates: the 1st percentile of the copies' cosines is the CLIP gate duplicates.py
  applies on top of its pixel check (only for an informative model).

A model that fails its probe gets no automatic cut-off (results are never hidden on the word
of a model that cannot tell); the user can still set a fixed minimum score. A labelled
evaluation (`imgrag eval --labelled`) replaces the text/image thresholds with ones measured
on real positive and negative pairs (evaluation/labelled.py).
"""

from __future__ import annotations

import heapq
import io
import json
import math
import os
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from imgrag_desktop.atomic import write_json

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from imgrag_desktop.models.clip import ClipEncoder
    from imgrag_desktop.store import Store

CALIBRATION_FILE = "calibration.json"
PROBE_WORDS = (
    "apple", "bicycle", "castle", "elephant", "guitar", "island", "kitchen", "lemon",
    "mountain", "pencil", "rocket", "sandwich", "tiger", "umbrella", "violin", "zebra",
)
PROBE_MIN_ACCURACY = 0.35  # chance is 1/16 ≈ 0.06
COPY_MIN_RETRIEVAL = 0.9  # copies whose nearest library image is their original
NULL_QUERIES = 24
NULL_QUANTILE = 0.9
SAMPLE_IMAGES = 16
RECALIBRATE_GROWTH = 2.0  # redo a library calibration once the library doubled (or halved)


@dataclass
class ModelCalibration:
    model_id: str
    source: str = "library"  # library | labelled
    images: int = 0  # library size when calibrated
    at: float = 0.0
    text_threshold: float | None = None
    text_informative: bool = False
    text_probe_accuracy: float = 0.0
    image_threshold: float | None = None
    image_informative: bool = False
    copy_retrieval: float = 0.0
    dup_clip_threshold: float | None = None
    stats: dict[str, Any] = field(default_factory=dict)

    def threshold(self, kind: str) -> float | None:
        """The automatic cut-off for a query part of this kind ('text' or 'image'), or None
        when the model did not show it can tell matches from non-matches."""
        if kind == "text":
            return self.text_threshold if self.text_informative else None
        if kind == "image":
            return self.image_threshold if self.image_informative else None
        raise ValueError(kind)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelCalibration":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


class CalibrationBook:
    """The calibrations of every model used with this data dir, in one small JSON file."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.path = Path(data_dir) / CALIBRATION_FILE

    def _read(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (ValueError, OSError):
            return {}  # a damaged file is recalibrated, never fatal

    def get(self, model_id: str) -> ModelCalibration | None:
        raw = self._read().get(model_id)
        return ModelCalibration.from_dict(raw) if isinstance(raw, dict) else None

    def put(self, cal: ModelCalibration) -> None:
        """Atomic write: readers see the old file or the new one."""
        data = self._read()
        data[cal.model_id] = asdict(cal)
        write_json(self.path, data, indent=1, sort_keys=True, prefix=".calibration-")

    def needs_library_calibration(self, model_id: str, images: int) -> bool:
        cal = self.get(model_id)
        if cal is None:
            return images > 0
        if cal.source != "library" or images <= 0 or cal.images <= 0:
            return False
        ratio = images / cal.images
        return ratio >= RECALIBRATE_GROWTH or ratio <= 1 / RECALIBRATE_GROWTH


# --- probes -----------------------------------------------------------------------------------
def null_queries(n: int = NULL_QUERIES, seed: int = 7) -> list[str]:
    """Pronounceable nonsense: tokenises like words, means nothing."""
    rng = np.random.default_rng(seed)
    cons, vows = "bdfgklmnprstvz", "aeiou"
    out = []
    for _ in range(n):
        words = []
        for _ in range(int(rng.integers(1, 4))):
            syl = int(rng.integers(2, 4))
            words.append("".join(cons[int(rng.integers(len(cons)))] + vows[int(rng.integers(len(vows)))] for _ in range(syl)))
        out.append(" ".join(words))
    return out


def render_word(word: str, size: int = 224) -> "Image.Image":
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    font_size = size // 4
    while True:
        font = ImageFont.load_default(font_size)
        x0, y0, x1, y1 = draw.textbbox((0, 0), word, font=font)
        if x1 - x0 <= size * 0.9 or font_size <= 8:
            break
        font_size -= 2
    draw.text(((size - (x1 - x0)) / 2 - x0, (size - (y1 - y0)) / 2 - y0), word, fill="black", font=font)
    return img


def copy_variants(img: "Image.Image") -> list["Image.Image"]:
    """Near-copies a user would keep by accident: cropped and recompressed, and brightened."""
    from PIL import Image

    w, h = img.size
    crop = img.crop((int(w * 0.08), 0, w, int(h * 0.94)))
    buf = io.BytesIO()
    crop.convert("RGB").save(buf, "JPEG", quality=60)
    buf.seek(0)
    recompressed = Image.open(buf).convert("RGB")
    brighter = img.point(lambda v: min(255, int(v * 1.15 + 6)))
    return [recompressed, brighter]


# --- calibration from the library -----------------------------------------------------------------
def _quantile(values: np.ndarray, q: float) -> float | None:
    return float(np.quantile(values, q)) if len(values) else None


PROBE_KEY = f"{len(PROBE_WORDS)}:{sum(map(len, PROBE_WORDS))}:{PROBE_WORDS[0]}-{PROBE_WORDS[-1]}:{PROBE_MIN_ACCURACY}"


def sample_rows(hashes: Sequence[str], k: int = SAMPLE_IMAGES) -> list[int]:
    """The rows of the `k` smallest distinct content hashes: a uniform sample of the library's
    contents (the hash is blake2b), one row per content, and the same one whoever asks, so the
    indexer can keep those pictures' decodes from its pass (`CalibrationSample`). Rows without
    a hash only fill up a library that has fewer than `k` contents with one."""
    first: dict[str, int] = {}
    unhashed: list[int] = []
    for i, h in enumerate(hashes):
        if not h:
            unhashed.append(i)
        elif h not in first:
            first[h] = i
    picked = [first[h] for h in heapq.nsmallest(k, first)]
    return picked + unhashed[: k - len(picked)]


class CalibrationSample:
    """The decoded pictures the calibration's sample will ask for, kept by the indexer as it
    decodes them (the `k` smallest content hashes seen), so that a fresh library is not decoded
    twice. Thread-safe; at most `k` pictures (at the pass's decode size) are held."""

    def __init__(self, k: int = SAMPLE_IMAGES) -> None:
        self.k = k
        self._kept: dict[str, Any] = {}  # content hash -> decoded picture; k entries at most
        self._lock = threading.Lock()

    def offer(self, chash: str, image: Any) -> None:
        if not chash:
            return
        with self._lock:
            if chash in self._kept:
                return
            if len(self._kept) >= self.k:
                worst = max(self._kept)
                if chash >= worst:
                    return
                del self._kept[worst]
            self._kept[chash] = image

    def images(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._kept)


def calibrate_library(store: "Store", clip: "ClipEncoder", sample: int = SAMPLE_IMAGES, seed: int = 0,
                      cancelled: Callable[[], bool] = lambda: False, decoded: Mapping[str, Any] | None = None,
                      previous: ModelCalibration | None = None) -> ModelCalibration | None:
    """Calibrate `clip` on the images it embedded in `store` (None when there are too few).

    `decoded`: pictures already decoded at the pass's size, by content hash (the indexer's
    `CalibrationSample`); the others of the sample are read again. `previous`: this model's
    last calibration, whose typographic probe (a property of the model alone, not of the
    library) is reused when it was made with the same probe."""
    from imgrag_desktop import imaging
    from imgrag_desktop.store import sql_str

    clip.load()
    model_id = clip.model_id
    table, matrix = store.vectors("visual", f"clip_model = {sql_str(model_id)}")
    n = len(matrix)
    if n < 4:
        return None
    cal = ModelCalibration(model_id=model_id, source="library", images=n, at=time.time())
    rng = np.random.default_rng(seed)

    # Text: null queries against the library, and the typographic probe.
    nulls = clip.encode_texts(null_queries())
    null_scores = nulls @ matrix.T  # (queries, images)
    tops = null_scores.max(axis=1)
    cal.text_threshold = _quantile(tops, NULL_QUANTILE)
    if previous is not None and previous.model_id == model_id and previous.stats.get("probe_key") == PROBE_KEY:
        cal.text_probe_accuracy = previous.text_probe_accuracy
        cal.stats["probe_reused"] = True
    else:
        words = clip.encode_texts(list(PROBE_WORDS))
        pictures = clip.encode_images([render_word(w) for w in PROBE_WORDS])
        probe = words @ pictures.T
        cal.text_probe_accuracy = float(np.mean(probe.argmax(axis=1) == np.arange(len(PROBE_WORDS))))
    cal.stats["probe_key"] = PROBE_KEY
    cal.text_informative = cal.text_probe_accuracy >= PROBE_MIN_ACCURACY
    if cancelled():
        return None

    # Images: random pairs (background) and copies of a sample (what "the same picture" scores).
    m = min(n, 2000)
    pick = rng.choice(n, size=m, replace=False) if n > m else np.arange(n)
    sub = matrix[pick]
    pair = sub @ sub.T
    iu = np.triu_indices(m, 1)
    hashes = [str(h or "") for h in table.column("content_hash").to_pylist()]
    _, codes = np.unique(np.asarray(hashes, dtype=object).astype(str), return_inverse=True)
    background = pair[iu][codes[pick][iu[0]] != codes[pick][iu[1]]]  # exact copies are no background
    paths = table.column("path").to_pylist()
    order = sample_rows(hashes, sample)
    kept = decoded or {}
    originals, copies = [], []
    reused = 0
    for i in order:
        if cancelled():
            return None
        try:
            image = kept.get(hashes[i])
            if image is None:
                image = imaging.decode_path(paths[i], max_side=max(clip.image_size * 2, 256))[0].image
            else:
                reused += 1
            if min(image.size) < 16:  # a 1×1 or a sliver has no meaningful crop
                continue
            variants = copy_variants(image)
        except Exception:  # a vanished, unreadable or odd file just leaves the sample
            continue
        for v in variants:
            originals.append(int(i))
            copies.append(v)
    if copies:
        cv = clip.encode_images(copies)
        scores = cv @ matrix.T  # (copies, library)
        orig = np.array(originals)
        own = scores[np.arange(len(orig)), orig]
        same_content = codes[None, :] == codes[orig][:, None]
        others = np.where(same_content, -np.inf, scores).max(axis=1)
        cal.copy_retrieval = float(np.mean(own >= others))
        cal.image_informative = cal.copy_retrieval >= COPY_MIN_RETRIEVAL and len(background) > 0
        copy_q05 = float(np.quantile(own, 0.05))
        median_bg = float(np.median(background)) if len(background) else copy_q05
        cal.image_threshold = (median_bg + copy_q05) / 2
        cal.dup_clip_threshold = float(np.quantile(own, 0.01)) - 0.01
        cal.stats.update(copy_cosine={"min": float(own.min()), "q05": copy_q05, "median": float(np.median(own))})
    cal.stats.update(
        null_top={"min": float(tops.min()), "median": float(np.median(tops)), "max": float(tops.max())},
        background={"median": float(np.median(background)) if len(background) else None,
                    "q99": _quantile(background, 0.99)},
        probe_words=len(PROBE_WORDS),
        sample_decodes_reused=reused,
    )
    return cal


def ensure_calibrated(book: CalibrationBook, store: "Store", clip: "ClipEncoder",
                      cancelled: Callable[[], bool] = lambda: False, force: bool = False,
                      decoded: Mapping[str, Any] | None = None) -> ModelCalibration | None:
    """Calibrate when the model has none, or the library changed size a lot since (the
    model's typographic probe is then reused: it does not depend on the library)."""
    from imgrag_desktop.store import sql_str

    clip.load()
    n = store.count(f"clip_model = {sql_str(clip.model_id)}") if store.images is not None else 0
    if not force and not book.needs_library_calibration(clip.model_id, n):
        return book.get(clip.model_id)
    cal = calibrate_library(store, clip, cancelled=cancelled, decoded=decoded, previous=book.get(clip.model_id))
    if cal is not None:
        book.put(cal)
    return cal


def fmt(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"
