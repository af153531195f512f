"""Perceptual fingerprints for near-duplicate detection (Pillow, NumPy and OpenCV, no torch).

Why not a CLIP threshold alone: near-copies must be told apart from merely similar photos,
and a CLIP cosine does that only for a well-trained model (the test profile's random model
gives distinct COCO photos cosines up to 0.998). Why not a global perceptual hash alone:
measured on COCO, a 5 % crop moves a 64-bit pHash/dHash by up to 16-25 bits while distinct
photos come as close as 12-14 bits.

So a pair is judged in two steps, both independent of the CLIP model:
- candidates: a 64-bin colour histogram (insensitive to resizing, recompression and small
  crops: the original was always the nearest histogram of its copy) or a 64-bit pHash
  (insensitive to brightness changes and heavy recompression);
- verification: the small grey images are aligned over a range of scales and offsets, so
  that one may be a crop of the other (down to 75 % of the long side), and their high-pass
  structure is compared by normalised cross-correlation. Copies score 0.6-1.0, distinct
  COCO photos at most ~0.35 (see the README, "Search power features", for the measurements).
Text-heavy images (screenshots, documents) are harder: at this scale two screenshots of one
app with different text look alike (measured up to 0.71) while a cropped copy of a screenshot
can score 0.25. duplicates.py therefore also compares their OCR text when there is some.

The alignment's box blur and normalised cross-correlation are OpenCV's (`cv2.blur` with the
edge replicated, `cv2.matchTemplate` with TM_CCOEFF_NORMED): the same sums as the NumPy
sliding windows they replaced (equal to 1e-6), about 8 times faster, which is what folding
the copies in a search result costs (issue 21). OpenCV ships with RapidOCR already.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

HIST_LEVELS = 4  # per channel: 4×4×4 = 64 bins
HIST_BINS = HIST_LEVELS**3
SIG_AREA = 48 * 48  # pixels of the stored grey signature (aspect kept)
SCALES = (1.0, 0.95, 0.9, 0.85, 0.8, 0.75)  # template sizes tried: one image a crop of the other
MIN_SIDE = 6


@dataclass
class Fingerprint:
    hist: np.ndarray  # (64,) float32, square roots of bin fractions: unit L2 norm (Hellinger)
    gray: np.ndarray  # (h, w) uint8, about SIG_AREA pixels
    phash: int  # 64-bit DCT hash, as a signed int64 value


@dataclass
class Alignment:
    """Where the template (one image, scaled) sits inside the other, and how well it fits."""

    score: float
    swapped: bool = False  # False: b is the template inside a; True: a inside b
    scale: float = 1.0
    fy: float = 0.0  # offset as a fraction of the containing image's height/width
    fx: float = 0.0


def _area_size(w: int, h: int, area: int) -> tuple[int, int]:
    f = min(1.0, (area / max(1, w * h)) ** 0.5)
    return max(MIN_SIDE, round(w * f)), max(MIN_SIDE, round(h * f))


def _mode(img: Image.Image, mode: str) -> Image.Image:
    return img if img.mode == mode else img.convert(mode)  # convert() copies even when the mode is the same


def gray_at(img: Image.Image, area: int) -> np.ndarray:
    w, h = img.size
    return np.asarray(_mode(img, "L").resize(_area_size(w, h, area), Image.Resampling.BOX), np.float32)


def colour_hist(img: Image.Image) -> np.ndarray:
    small = np.asarray(_mode(img, "RGB").resize((64, 64), Image.Resampling.BOX)).reshape(-1, 3) // (256 // HIST_LEVELS)
    idx = (small[:, 0].astype(np.int64) * HIST_LEVELS + small[:, 1]) * HIST_LEVELS + small[:, 2]
    h = np.bincount(idx, minlength=HIST_BINS).astype(np.float32)
    return np.sqrt(h / h.sum()).astype(np.float32)


_DCT = np.cos(np.pi * (2 * np.arange(32)[None, :] + 1) * np.arange(32)[:, None] / 64).astype(np.float32)


def phash64(img: Image.Image) -> int:
    g = np.asarray(_mode(img, "L").resize((32, 32), Image.Resampling.BOX), np.float32)
    low = (_DCT @ g @ _DCT.T)[:8, :8].ravel()
    bits = low > np.median(low[1:])
    value = 0
    for b in bits:
        value = (value << 1) | int(b)
    return value - (1 << 64) if value >= 1 << 63 else value  # int64 range for storage


def fingerprint(img: Image.Image) -> Fingerprint:
    """Fingerprint of a decoded image (any size; the pipeline passes its reduced decode)."""
    grey = _mode(img, "L")  # once for the signature and the pHash
    return Fingerprint(colour_hist(img), gray_at(grey, SIG_AREA).round().astype(np.uint8), phash64(grey))


def hamming(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    x = np.bitwise_xor(np.asarray(a, np.int64), np.asarray(b, np.int64)).view(np.uint64)
    return np.bitwise_count(x).astype(np.int32)


def _highpass(a: np.ndarray, k: int = 5) -> np.ndarray:
    """The image minus its k×k box blur (edges replicated): structure without lighting or
    colour balance."""
    a = np.ascontiguousarray(a, np.float32)
    return a - cv2.blur(a, (k, k), borderType=cv2.BORDER_REPLICATE)


def _resize(a: np.ndarray, w: int, h: int) -> np.ndarray:
    return np.asarray(Image.fromarray(a.astype(np.float32)).resize((w, h), Image.Resampling.BILINEAR))


def _ncc_map(container_hp: np.ndarray, template_hp: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation of the template at every offset inside the container (both
    less their means over the window); -1 where there is nothing to correlate (a flat template)."""
    t = np.ascontiguousarray(template_hp, np.float32)
    if float(np.sqrt(((t - t.mean()) ** 2).sum())) < 1e-3:
        return np.full((1, 1), -1.0, np.float32)
    return cv2.matchTemplate(np.ascontiguousarray(container_hp, np.float32), t, cv2.TM_CCOEFF_NORMED)


@dataclass(frozen=True)
class Prepared:
    """A grey signature ready to be aligned: its high-pass image, and its high-pass templates
    at each of the scales (a template depends only on its own image and scale, so a picture
    compared with several others is resized and filtered once)."""

    shape: tuple[int, int]
    hp: np.ndarray
    templates: tuple[tuple[float, np.ndarray], ...]


def prepare(a: np.ndarray, scales: tuple[float, ...] = SCALES) -> Prepared:
    af = a.astype(np.float32)
    templates = []
    for s in scales:
        h, w = round(a.shape[0] * s), round(a.shape[1] * s)
        if h < MIN_SIDE or w < MIN_SIDE:
            continue
        templates.append((s, _highpass(_resize(a, w, h) if (h, w) != a.shape else af)))
    return Prepared((int(a.shape[0]), int(a.shape[1])), _highpass(af), tuple(templates))


def align(a: np.ndarray | Prepared, b: np.ndarray | Prepared, scales: tuple[float, ...] = SCALES) -> Alignment:
    """Best fit of either grey signature, scaled, inside the other (crop-tolerant)."""
    pa = a if isinstance(a, Prepared) else prepare(a, scales)
    pb = b if isinstance(b, Prepared) else prepare(b, scales)
    best = Alignment(-1.0)
    for swapped, (x, y) in enumerate(((pa, pb), (pb, pa))):
        for s, t in y.templates:
            if t.shape[0] > x.shape[0] or t.shape[1] > x.shape[1]:
                continue
            c = _ncc_map(x.hp, t)
            iy, ix = np.unravel_index(int(np.argmax(c)), c.shape)
            score = float(c[iy, ix])
            if score > best.score:
                best = Alignment(score, bool(swapped), s, iy / x.shape[0], ix / x.shape[1])
    return best
