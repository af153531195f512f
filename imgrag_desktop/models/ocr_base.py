"""What the OCR engines share: the result, the time-limit error, decoding an image file, the
text detector in front of photos, the second reading of a turned page, and QR/barcode payloads.

`read_image(engine, ...)` and `read_file(engine, ...)` work with any engine that has
`recognise(rgb, enlarge) -> (lines, words in rgb pixels, mean confidence)`, `engine_id`,
`codes_available`, `timeout_s` and `garbled_below` (models/ocr.py: Tesseract; ocr_rapid.py:
RapidOCR). Boxes always come back in the original image's pixels, which the preview highlights.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

from imgrag_desktop.types import DecodeError, ImgragError

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

OCR_MAX_SIDE = 4096  # larger images are reduced first: Tesseract's time grows with pixels
UPSCALE_BELOW = 2000  # long side under this: enlarge 2x (1x screenshots have ~8 px x-height)
MAX_UPSCALED_PIXELS = 8_000_000
MIN_CONF = 20.0  # Tesseract's word confidence (0-100); lower is mostly noise from textures


GARBLED_CONF = 70.0  # mean Tesseract word confidence under which a page is read again turned 90/180/270
TURN_GAIN = 1.15  # a turned reading replaces the first when its confident characters are this many times more
# A reading with fewer lines of 3+ characters and fewer characters is a sign or a label, not a
# page: it is never read turned (a page on its side may read as one long line).
TURN_MIN_LINES = 3
TURN_MIN_CHARS = 40
PAGE_KINDS = ("screenshot", "document")  # read straight away; other images pass the text detector first


class OcrTimeout(ImgragError):
    """Reading one image took longer than the time limit."""


# The time limit in Settings is for an image of up to LIMIT_PIXELS (a 1080p screenshot, a
# phone-scanned page); a larger one, such as a 300 dpi A4 scan, gets proportionally more time
# (both engines' time grows with pixels), up to LIMIT_SCALE_MAX times the setting.
LIMIT_PIXELS = 4_000_000
LIMIT_SCALE_MAX = 4.0


def time_limit(timeout_s: float, size: tuple[int, int]) -> float:
    """Seconds allowed for reading an image of `size` (as read, after any reduction); 0: none."""
    if not timeout_s or timeout_s <= 0:
        return 0.0
    return float(timeout_s) * min(LIMIT_SCALE_MAX, max(1.0, size[0] * size[1] / LIMIT_PIXELS))


def read_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """The size an image file is read at (its header only; after the reduction to OCR_MAX_SIDE);
    (0, 0) when the header cannot be read (the reading itself will say why)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
    except Exception:  # noqa: BLE001 - any unreadable file: the decoder gives the real error
        return 0, 0
    f = min(1.0, OCR_MAX_SIDE / max(1, w, h))
    return int(w * f), int(h * f)


def timeout_message(limit: float, setting: float, size: tuple[int, int]) -> str:
    """What a timed-out image's row says: the limit, the setting behind it, the image's size."""
    scaled = f", {setting:g} s per {LIMIT_PIXELS / 1e6:g} MP of the {size[0]}x{size[1]} image" if limit > setting else ""
    return (f"OCR took longer than {limit:g} s (the limit in Settings{scaled}); to read it, raise "
            "ocr_timeout_s in Settings, then run `imgrag ocr --requeue`")


@dataclass
class OcrResult:
    text: str
    words: list[dict[str, Any]] = field(default_factory=list)  # {text, x, y, w, h, conf}, original pixels
    codes: list[str] = field(default_factory=list)  # decoded QR/barcode payloads (also in text)
    notes: list[str] = field(default_factory=list)  # what each code holds, in words (also in text)
    seconds: float = 0.0
    engine: str = ""  # which engine (and version) read it: recorded per row (ocr_engine)
    turns: int = 0  # quarter turns (counter-clockwise) the image needed to read upright
    detected: int = -1  # text boxes the detector found when it ran first (-1: it did not)


def default_workers() -> int:
    """One Tesseract process per core, leaving one core for the app on larger machines."""
    n = os.cpu_count() or 2
    return max(1, min(8, n - 1 if n > 2 else n))


def _has_alnum(s: str) -> bool:
    return any(ch.isalnum() for ch in s)


def zxing_available() -> bool:
    try:
        import zxingcpp  # noqa: F401
    except ImportError:
        return False
    return True


def _quality(words: list[dict[str, Any]]) -> float:
    """Confident characters in words lying flat: what a reading in the right orientation has
    most of (a page on its side has its words in tall boxes, read or not)."""
    return sum(len(w["text"]) * float(w.get("conf", 0)) / 100.0 for w in words
               if float(w.get("conf", 0)) >= 60 and _has_alnum(w["text"])
               and (len(w["text"]) < 2 or w["w"] >= w["h"]))


def _garbled(words: list[dict[str, Any]], mean_conf: float, below: float = GARBLED_CONF) -> bool:
    return bool(words) and mean_conf < below


def _page_like(lines: list[str]) -> bool:
    """Enough lines to be a page that may lie turned. Text in a photo (a sign, a plate, a label)
    reads with lower confidence than print and would be read three more times for nothing."""
    return (sum(len(line.strip()) >= 3 for line in lines) >= TURN_MIN_LINES
            or sum(len(line.strip()) for line in lines) >= TURN_MIN_CHARS)


def turn_order(tall: int, flat: int, boxes_follow_lines: bool = False) -> tuple[int, ...]:
    """The quarter turns to try on a page that reads as garbage, most likely first, from its
    first reading's words standing on end (`tall`) or lying flat (`flat`).

    An engine whose word boxes follow the text lines whatever their direction (RapidOCR: its
    detector finds lines standing on end, and it reads them turned) tries only the turns that
    can lay its words flat, since `_quality` counts words lying flat: 90/270 degrees for words on
    end, 180 for flat words (each reading saved is a full reading: ~0.17 s of CPU for a photo
    with text, seconds for a page). Tesseract reads sideways lines as flat garbage, so it
    tries all three."""
    if boxes_follow_lines and tall != flat:
        return (1, 3) if tall > flat else (2,)
    return (1, 3, 2) if tall > flat else (2, 1, 3)


def read_image(engine: Any, image: "Image.Image", orig_size: tuple[int, int] | None = None,
               enlarge: bool = True) -> OcrResult:
    """One engine's reading of a decoded image: upright or turned, plus QR/barcode payloads,
    boxes in original pixels. `engine.recognise(rgb, enlarge)` gives (lines, words in rgb pixels,
    mean conf); `enlarge`: small images are read at 2x (small UI type), else at their size."""
    from PIL import Image

    from imgrag_desktop.models.ocr_layout import unrotate_box

    t0 = time.perf_counter()
    rgb = image.convert("RGB")
    ow, oh = orig_size or rgb.size
    lines, words, mean = engine.recognise(rgb, enlarge)
    turns = 0
    limit = time_limit(float(getattr(engine, "timeout_s", 0) or 0), rgb.size)
    per_read = time.perf_counter() - t0
    if _garbled(words, mean, float(getattr(engine, "garbled_below", GARBLED_CONF))) and _page_like(lines):
        best = _quality(words)
        # Words standing on end: the page lies on its side; else it may be upside down.
        tall = sum(w["h"] > 1.5 * w["w"] for w in words if len(w["text"]) >= 3)
        flat = sum(w["w"] >= w["h"] for w in words if len(w["text"]) >= 3)
        order = turn_order(tall, flat, bool(getattr(engine, "boxes_follow_lines", False)))
        turn_ops = {1: Image.Transpose.ROTATE_90, 2: Image.Transpose.ROTATE_180, 3: Image.Transpose.ROTATE_270}
        for t in order:
            if limit and time.perf_counter() - t0 + per_read > 0.9 * limit:
                break  # no time left for another reading within the limit
            tl, tw, tm = engine.recognise(rgb.transpose(turn_ops[t]), enlarge)
            q = _quality(tw)
            if q > best * TURN_GAIN + 1:
                best, lines, words, mean, turns = q, tl, tw, tm, t
                if not _garbled(tw, tm, float(getattr(engine, "garbled_below", GARBLED_CONF))):
                    break  # reads well this way up
        if turns:
            words = [unrotate_box(w, turns, rgb.size) for w in words]
    fx, fy = ow / rgb.size[0], oh / rgb.size[1]
    words = [{**w, "x": int(round(w["x"] * fx)), "y": int(round(w["y"] * fy)),
              "w": max(1, int(round(w["w"] * fx))), "h": max(1, int(round(w["h"] * fy)))} for w in words]
    codes: list[str] = []
    notes: list[str] = []
    if engine.codes_available:
        from imgrag_desktop.models.codes import describe

        for payload, box, fmt in read_codes(rgb, fx, fy):
            note = describe(payload, fmt)
            codes.append(payload)
            notes.append(note)
            words.append({"text": payload, **box, "conf": 100.0, "code": True, "note": note})
    text = "\n".join([*lines, *codes, *notes]).strip()
    return OcrResult(text=text, words=words, codes=codes, notes=notes, seconds=time.perf_counter() - t0,
                     engine=engine.engine_id, turns=turns)


_DETECTORS: dict[int, Any] = {}
_DETECTORS_LOCK = threading.Lock()


def text_detector() -> Any:
    """The text detector every image that is not plainly a page passes first (one per process)."""
    from imgrag_desktop.models.ocr_detect import DETECT_SIDE, TextDetector

    with _DETECTORS_LOCK:
        if DETECT_SIDE not in _DETECTORS:
            _DETECTORS[DETECT_SIDE] = TextDetector(DETECT_SIDE)
        return _DETECTORS[DETECT_SIDE]


DETECT_DECODE_SIDE = 1024  # the gate decodes this small (JPEG draft mode: a 12 MP photo in a few ms)


def _decode(path: str | os.PathLike[str], max_side: int) -> Any:
    from imgrag_desktop import imaging

    try:
        dec, _ = imaging.decode_path(path, max_side=max_side)
    except DecodeError:
        raise
    except OSError as exc:
        raise DecodeError(f"cannot read the file ({exc.strerror or exc})") from exc
    return dec


def detect_file(engine: Any, path: str | os.PathLike[str]) -> tuple[OcrResult | None, int]:
    """The text detector on a small copy of an image file: (the finished result when it has no
    text boxes, QR codes still read; None when it has some and must be read, the box count)."""
    done, found, _ = _detect(engine, path)
    return done, found


def _detect(engine: Any, path: str | os.PathLike[str]) -> tuple[OcrResult | None, int, Any]:
    """`detect_file`, plus the decoded copy it looked at (a full read reuses it when it is the
    whole image). The engine's own detector when it has one (`engine.detector()`: a RapidOCR
    reader's, sharing its model), else this process's `text_detector()`."""
    t0 = time.perf_counter()
    dec = _decode(path, DETECT_DECODE_SIDE)
    own = getattr(engine, "detector", None)
    found = (own() if own is not None else text_detector()).boxes(dec.image)
    if found:
        return None, found, dec
    rgb = dec.image.convert("RGB")
    fx, fy = dec.width / rgb.size[0], dec.height / rgb.size[1]
    res = OcrResult(text="", engine=engine.engine_id, detected=0)
    if engine.codes_available:
        from imgrag_desktop.models.codes import describe

        for payload, box, fmt in read_codes(rgb, fx, fy):
            note = describe(payload, fmt)
            res.codes.append(payload)
            res.notes.append(note)
            res.words.append({"text": payload, **box, "conf": 100.0, "code": True, "note": note})
        res.text = "\n".join([*res.codes, *res.notes])
    res.seconds = time.perf_counter() - t0
    return res, 0, dec


def read_file(engine: Any, path: str | os.PathLike[str], detect_first: bool = False,
              enlarge: bool | None = None) -> OcrResult:
    """An engine's reading of an image file (decoded with the app's decoder: EXIF orientation,
    HEIC, limits). With `detect_first`, the text detector runs on a small copy first and an
    image without text boxes costs nothing more (its QR codes are still read).

    `enlarge` (default: not `detect_first`): a small image is read at 2x. Pages (screenshots,
    documents) are, for their small UI type; a photo the detector found text in is read at its
    size: its text is the detector's size or larger, and at 2x it costs about five times the
    CPU for the same words (COCO photos with text: 0.89 against 0.18 s; scanned receipts read
    the same either way, word recall 0.933 against 0.932: docs/performance.md)."""
    t0 = time.perf_counter()
    found = -1
    dec = None
    if detect_first:
        done, found, small = _detect(engine, path)
        if done is not None:
            return done
        if small.image.size == (small.width, small.height) and max(small.width, small.height) <= OCR_MAX_SIDE:
            dec = small  # the detector's copy is the whole image: no second decode
    dec = dec or _decode(path, OCR_MAX_SIDE)
    res = engine.read(dec.image, orig_size=(dec.width, dec.height), enlarge=not detect_first if enlarge is None else enlarge)
    res.detected = found
    res.seconds = time.perf_counter() - t0
    return res


def read_codes(rgb: "Image.Image", fx: float, fy: float) -> Iterator[tuple[str, dict[str, int], str]]:
    """QR codes and barcodes (zxing-cpp): (payload, box in original pixels, format)."""
    import zxingcpp

    try:
        found = zxingcpp.read_barcodes(rgb)
    except Exception:  # a decoder problem never costs the OCR text
        return
    seen: set[str] = set()
    for code in found:
        payload = (code.text or "").strip()
        if not payload or payload in seen:
            continue
        seen.add(payload)
        pos = code.position
        xs = [p.x for p in (pos.top_left, pos.top_right, pos.bottom_right, pos.bottom_left)]
        ys = [p.y for p in (pos.top_left, pos.top_right, pos.bottom_right, pos.bottom_left)]
        x0, y0 = min(xs), min(ys)
        fmt = getattr(code.format, "name", None) or str(code.format)
        yield payload, {"x": int(round(x0 * fx)), "y": int(round(y0 * fy)),
                        "w": max(1, int(round((max(xs) - x0) * fx))), "h": max(1, int(round((max(ys) - y0) * fy)))}, fmt
