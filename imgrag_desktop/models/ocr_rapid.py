"""RapidOCR: PaddleOCR's PP-OCRv6 detection and recognition models (ONNX, inside the
`rapidocr` wheel) run by onnxruntime, the second OCR engine beside Tesseract.

Why it is here: on scanned receipts and phone photos of paper it reads more than Tesseract (see
docs/performance.md), and its detector alone is a fast "is there text at all" test that every
image can afford (`TextDetector`): a photo with no text costs one detector pass on a small copy
(~40 ms), and recognition runs only where the detector found boxes.

The models run inside this process's onnxruntime, which cannot be interrupted; to keep the time
limit per image and to keep a crash of a native library away from the app, `RapidOcr` reads in
child processes (`models/ocr_child.py`) that are killed and replaced when one image runs over
the limit. The text detector in front of photos runs there too, on the reader's own detection
model (`RapidOcr.detector`), so the app's process never loads rapidocr. `isolated=False` reads
in-process (benchmarks of the detector, the child itself).
"""
from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING, Any

from imgrag_desktop.models.ocr_base import (
    OcrResult,
    OcrTimeout,
    read_file,
    read_image,
    read_size,
    time_limit,
    timeout_message,
    zxing_available,
)
from imgrag_desktop.models.ocr_detect import (
    GARBLED_CONF,
    MAX_UPSCALED_PIXELS,
    MIN_SCORE,
    READ_DET_SIDE,
    TALL_SHARE,
    UPSCALE_BELOW,
    rapid_engine,
    rapidocr_version,
    recognition_model,
)
from imgrag_desktop.types import ModelUnavailable

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

# The children outlive a run by this long: starting one costs ~0.8 s of CPU (onnxruntime, OpenCV
# and the models), which the watcher's and the window's small runs paid each time.
CHILDREN_KEEP_S = 30.0


class RapidOcrReader:
    """The in-process reader (what each child process runs): lines and word boxes in the
    original image's pixels, line scores as confidences (0-100, like Tesseract's)."""

    def __init__(self, languages: str = "eng", threads: int = 1, min_score: float = MIN_SCORE) -> None:
        self.languages = languages or "eng"
        self.rec_model = recognition_model(self.languages)
        self.threads = threads
        self.min_score = min_score
        self._engine: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        with self._lock:
            if self._engine is None:
                try:
                    self._engine = rapid_engine(self.threads, READ_DET_SIDE, self.rec_model)
                except ModelUnavailable:  # RapidOCR not installed: its own sentence
                    raise
                except Exception as exc:  # a model for another script that cannot be fetched offline
                    raise ModelUnavailable(f"RapidOCR cannot load its {self.rec_model} recognition model: "
                                           f"{str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}") from exc
            return self._engine

    def lines(self, rgb: "Image.Image", fx: float, fy: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(lines, words): each line {text, conf, box: [x, y, w, h]}; each word {text, x, y, w,
        h, conf}; boxes scaled by (fx, fy) to original pixels."""
        import numpy as np

        out = self._get()(np.asarray(rgb), use_det=True, use_cls=True, use_rec=True, return_word_box=True)
        if out.boxes is None or out.txts is None:
            return [], []
        lines: list[dict[str, Any]] = []
        words: list[dict[str, Any]] = []
        word_results = out.word_results or ()
        for i, (text, score, quad) in enumerate(zip(out.txts, out.scores, out.boxes)):
            text = (text or "").strip()
            if not text or float(score) < self.min_score:
                continue
            xs, ys = [float(p[0]) for p in quad], [float(p[1]) for p in quad]
            conf = round(float(score) * 100.0, 1)
            lines.append({"text": text, "conf": conf,
                          "box": [min(xs) * fx, min(ys) * fy, (max(xs) - min(xs)) * fx, (max(ys) - min(ys)) * fy]})
            line_words = word_results[i] if i < len(word_results) else ()
            merged = _merge_chars(line_words) if line_words else [(text, float(score), quad)]
            for wtext, wscore, wquad in merged:
                wxs, wys = [float(p[0]) for p in wquad], [float(p[1]) for p in wquad]
                words.append({"text": wtext, "x": int(round(min(wxs) * fx)), "y": int(round(min(wys) * fy)),
                              "w": max(1, int(round((max(wxs) - min(wxs)) * fx))),
                              "h": max(1, int(round((max(wys) - min(wys)) * fy))),
                              "conf": round(float(wscore) * 100.0, 1)})
        return lines, words


def _merge_chars(items: Any) -> list[tuple[str, float, Any]]:
    """RapidOCR's word boxes: whole words for Latin text; kept as they come (characters for
    Chinese and Japanese, which have no spaces to split at)."""
    out = []
    for item in items:
        text, score, quad = item[0], item[1], item[2]
        if str(text).strip():
            out.append((str(text).strip(), float(score), quad))
    return out


class RapidOcr:
    """The RapidOCR engine behind the one OCR interface (models/ocr.py): `check`, `read`,
    `read_path`; reads in child processes (time limit, isolation) unless `isolated=False`."""

    name = "rapidocr"
    garbled_below = GARBLED_CONF
    boxes_follow_lines = True  # a page on its side reads as words standing on end (ocr_base.turn_order)

    def __init__(self, languages: str = "eng", timeout_s: float = 20.0, read_codes: bool = True,
                 isolated: bool = True, workers: int = 0, threads: int = 1) -> None:
        self.languages = languages or "eng"
        self.timeout_s = float(timeout_s) if timeout_s else 0.0
        self.read_codes = read_codes
        self.isolated = isolated
        self.workers = workers
        self.threads = threads
        self._reader: RapidOcrReader | None = None
        self._detector: Any = None
        self._children: Any = None
        self._lock = threading.Lock()
        self._busy = 0  # reads in flight in the children
        self._last_used = 0.0
        self._idle_timer: threading.Timer | None = None
        self.keep_s = CHILDREN_KEEP_S  # children live on this long after the last read (0: closed by close())

    @property
    def engine_id(self) -> str:
        return f"rapidocr {rapidocr_version()} {self.languages}"

    def check(self) -> str:
        """The engine's version; ModelUnavailable when rapidocr or the language's model is missing."""
        version = rapidocr_version()
        recognition_model(self.languages)
        return version

    @property
    def codes_available(self) -> bool:
        return self.read_codes and zxing_available()

    def warm(self) -> None:
        """Load the reading models (a child does it before its first image)."""
        self.reader()._get()

    def detector(self) -> Any:
        """The text detector in front of photos, running the reader's detection model at the
        detector's small size (one model loaded, not two; `ocr_base.read_file` calls it)."""
        from imgrag_desktop.models.ocr_detect import DETECT_SIDE, TextDetector

        with self._lock:
            if self._detector is None:
                self._detector = TextDetector(DETECT_SIDE, share=lambda: self.reader()._get())
            return self._detector

    def reader(self) -> RapidOcrReader:
        with self._lock:
            if self._reader is None:
                self._reader = RapidOcrReader(self.languages, self.threads)
            return self._reader

    # Reading ---------------------------------------------------------------------------------
    def read_path(self, path: str | os.PathLike[str], detect_first: bool = False, kind: str | None = None) -> OcrResult:
        if not self.isolated:
            return read_file(self, path, detect_first)
        # The text detector runs in the child too, with the reader's copy of its model: this
        # process never imports rapidocr or onnxruntime for OCR (~0.6 s of CPU with OpenCV, and
        # their memory in the app), a photo with text is decoded once, and the detector keeps the time limit
        # and the isolation from native crashes (docs/performance.md, "Indexing a mixed folder").
        with self._lock:
            if self._children is None:
                from imgrag_desktop.models.ocr_child import ChildPool

                self._children = ChildPool(RapidOcr, self.child_spec(), self.workers or 1)
            children = self._children
            self._busy += 1
            if self._idle_timer is not None:
                self._idle_timer.cancel()
                self._idle_timer = None
        size = read_size(path)
        # The child keeps the scaled limit itself; the parent waits a little longer for its answer
        # (decoding, the pipe) before it kills it.
        limit = time_limit(self.timeout_s, size)
        try:
            return children.read(str(path), detect_first, limit * 1.1 + 1.0 if limit else 0.0)
        except OcrTimeout:
            raise OcrTimeout(timeout_message(limit, self.timeout_s, size)) from None
        finally:
            self._released()

    def _released(self) -> None:
        """One read ended: when none is left, the children are closed `keep_s` later unless a
        read comes first (the watcher's and the window's many small runs reuse them)."""
        with self._lock:
            self._busy -= 1
            self._last_used = time.monotonic()
            if self._busy or self._children is None or self.keep_s <= 0:
                return
            timer = threading.Timer(self.keep_s, self._close_if_idle)
            timer.daemon = True
            self._idle_timer = timer
        timer.start()

    def _close_if_idle(self) -> None:
        with self._lock:
            if self._busy or time.monotonic() - self._last_used < self.keep_s * 0.9:
                return
            children, self._children, self._idle_timer = self._children, None, None
        if children is not None:
            children.close()

    def child_pids(self) -> list[int]:
        """The process ids of the running children (none before the first read or once closed)."""
        with self._lock:
            children = self._children
        return children.pids() if children is not None else []

    def child_spec(self) -> dict[str, Any]:
        """The arguments a child process builds its in-process engine from."""
        # The limit too: a child starts a second reading of a turned page only if it can finish in time.
        return {"languages": self.languages, "read_codes": self.read_codes, "threads": self.threads,
                "timeout_s": self.timeout_s, "isolated": False}

    def read(self, image: "Image.Image", orig_size: tuple[int, int] | None = None, enlarge: bool = True) -> OcrResult:
        return read_image(self, image, orig_size, enlarge)

    def recognise(self, rgb: "Image.Image", enlarge: bool = True) -> tuple[list[str], list[dict[str, Any]], float]:
        """(line texts in reading order, word boxes in `rgb`'s pixels, mean confidence 0-100)."""
        from PIL import Image

        from imgrag_desktop.models.ocr_layout import reading_order

        img = rgb
        if enlarge and max(rgb.size) < UPSCALE_BELOW and rgb.size[0] * rgb.size[1] * 4 <= MAX_UPSCALED_PIXELS:
            img = rgb.resize((rgb.size[0] * 2, rgb.size[1] * 2), Image.Resampling.LANCZOS)
        lines, words = self.reader().lines(img, rgb.size[0] / img.size[0], rgb.size[1] / img.size[1])
        ordered = reading_order(lines)
        mean = sum(ln["conf"] for ln in lines) / len(lines) if lines else 0.0
        long_lines = [ln for ln in lines if len(ln["text"]) >= 3]
        if long_lines and sum(ln["box"][3] > 1.5 * ln["box"][2] for ln in long_lines) > TALL_SHARE * len(long_lines):
            mean = min(mean, self.garbled_below - 1)  # lines standing on end: a page on its side
        return [ln["text"] for ln in ordered], words, mean

    def close(self) -> None:
        """End the child processes now (they start again on the next read)."""
        with self._lock:
            children, self._children = self._children, None
            if self._idle_timer is not None:
                self._idle_timer.cancel()
                self._idle_timer = None
        if children is not None:
            children.close()
