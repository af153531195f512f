"""Text inside images: Tesseract OCR (through pytesseract) plus QR/barcode payloads.

Tesseract is a separate program; each image is one `tesseract` process. Run in parallel, each
process must stay on one core (OMP_THREAD_LIMIT=1): Tesseract's own OpenMP threads make a
single image barely faster but several images at once much slower. Every call has a time
limit, so a pathological image costs at most that long and is then marked failed.

Screenshots are usually rendered at 1x with small type, below the text height Tesseract was
trained on, so images whose long side is small are enlarged before reading; word boxes are
always reported in the original image's pixels, which is what the window highlights.

A screenshot of a QR code "contains" text that no OCR reads; zxing-cpp (when installed)
decodes such codes in milliseconds and their payload joins the OCR text, with the code's box
as one "word", followed by a note saying in words what the payload is (codes.py: a contact
card, a calendar event, an e-mail draft), so descriptions of it find it too.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from imgrag_desktop.types import DecodeError, ImgragError, ModelUnavailable

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

OCR_MAX_SIDE = 4096  # larger images are reduced first: Tesseract's time grows with pixels
UPSCALE_BELOW = 2000  # long side under this: enlarge 2x (1x screenshots have ~8 px x-height)
MAX_UPSCALED_PIXELS = 8_000_000
MIN_CONF = 20.0  # Tesseract's word confidence (0-100); lower is mostly noise from textures


class OcrTimeout(ImgragError):
    """Tesseract took longer than the time limit for one image."""


@dataclass
class OcrResult:
    text: str
    words: list[dict[str, Any]] = field(default_factory=list)  # {text, x, y, w, h, conf}, original pixels
    codes: list[str] = field(default_factory=list)  # decoded QR/barcode payloads (also in text)
    notes: list[str] = field(default_factory=list)  # what each code holds, in words (also in text)
    seconds: float = 0.0


def default_workers() -> int:
    """One Tesseract process per core, leaving one core for the app on larger machines."""
    n = os.cpu_count() or 2
    return max(1, min(8, n - 1 if n > 2 else n))


def _has_alnum(s: str) -> bool:
    return any(ch.isalnum() for ch in s)


class TesseractOcr:
    """Reads text and word boxes from images with Tesseract; thread-safe (no shared state
    besides the checked-once installation facts)."""

    def __init__(self, languages: str = "eng", timeout_s: float = 20.0, min_conf: float = MIN_CONF,
                 read_codes: bool = True, tesseract_cmd: str | None = None, psm: int = 3) -> None:
        langs = [x.strip() for x in (languages or "eng").replace(",", "+").split("+") if x.strip()]
        self.languages = "+".join(langs) or "eng"
        self.timeout_s = float(timeout_s) if timeout_s else 0.0
        self.min_conf = min_conf
        self.read_codes = read_codes
        self.tesseract_cmd = tesseract_cmd
        self.psm = psm
        self._checked: str | None = None
        self._lock = threading.Lock()

    # Installation ------------------------------------------------------------------------------
    def _cmd(self) -> str:
        return self.tesseract_cmd or shutil.which("tesseract") or "tesseract"

    def check(self) -> str:
        """The Tesseract version; raises ModelUnavailable with what to install when Tesseract
        or one of the languages is missing."""
        with self._lock:
            if self._checked is not None:
                return self._checked
            import pytesseract

            pytesseract.pytesseract.tesseract_cmd = self._cmd()
            try:
                version = str(pytesseract.get_tesseract_version())
                installed = set(pytesseract.get_languages(config=""))
            except (pytesseract.TesseractNotFoundError, FileNotFoundError, OSError) as exc:
                raise ModelUnavailable(
                    "Tesseract OCR is not installed, so text inside images is not read: install it "
                    "(Debian/Ubuntu: sudo apt install tesseract-ocr; macOS: brew install tesseract; "
                    "Windows: the UB Mannheim installer) and index again") from exc
            missing = [lang for lang in self.languages.split("+") if lang not in installed]
            if missing:
                have = ", ".join(sorted(installed - {"osd"})) or "none"
                pkgs = " ".join(f"tesseract-ocr-{m}" for m in missing)
                raise ModelUnavailable(
                    f"Tesseract has no data for language(s) {', '.join(missing)} (installed: {have}): install "
                    f"them (Debian/Ubuntu: sudo apt install {pkgs}) or change the OCR languages in Settings")
            self._checked = version
            return version

    @property
    def codes_available(self) -> bool:
        if not self.read_codes:
            return False
        try:
            import zxingcpp  # noqa: F401
        except ImportError:
            return False
        return True

    # Reading -------------------------------------------------------------------------------------
    def read_path(self, path: str | os.PathLike[str]) -> OcrResult:
        """OCR of an image file (decoded with the app's decoder: EXIF orientation, HEIC, limits)."""
        from imgrag_desktop import imaging

        try:
            dec, _ = imaging.decode_path(path, max_side=OCR_MAX_SIDE)
        except DecodeError:
            raise
        except OSError as exc:
            raise DecodeError(f"cannot read the file ({exc.strerror or exc})") from exc
        return self.read(dec.image, orig_size=(dec.width, dec.height))

    def read(self, image: "Image.Image", orig_size: tuple[int, int] | None = None) -> OcrResult:
        """OCR of a decoded image. `orig_size` is the original image's size when `image` was
        reduced, so boxes come back in original pixels."""
        from PIL import Image

        self.check()
        t0 = time.perf_counter()
        rgb = image.convert("RGB")
        ow, oh = orig_size or rgb.size
        gray = rgb.convert("L")
        long_side = max(gray.size)
        if long_side < UPSCALE_BELOW and gray.size[0] * gray.size[1] * 4 <= MAX_UPSCALED_PIXELS:
            gray = gray.resize((gray.size[0] * 2, gray.size[1] * 2), Image.Resampling.LANCZOS)
        # Factor from the pixels Tesseract sees back to original-image pixels.
        fx, fy = ow / gray.size[0], oh / gray.size[1]
        lines, words = self._tesseract(gray, fx, fy)
        codes: list[str] = []
        notes: list[str] = []
        if self.codes_available:
            from imgrag_desktop.models.codes import describe

            for payload, box, fmt in self._codes(rgb, ow / rgb.size[0], oh / rgb.size[1]):
                note = describe(payload, fmt)
                codes.append(payload)
                notes.append(note)
                words.append({"text": payload, **box, "conf": 100.0, "code": True, "note": note})
        text = "\n".join([*lines, *codes, *notes]).strip()
        return OcrResult(text=text, words=words, codes=codes, notes=notes, seconds=time.perf_counter() - t0)

    def _tesseract(self, gray: "Image.Image", fx: float, fy: float) -> tuple[list[str], list[dict[str, Any]]]:
        import pytesseract

        # One OpenMP thread for tesseract (it runs several at once), set in the environment
        # pytesseract hands its child, never in this process's: torch reads OMP_THREAD_LIMIT
        # too, and its bf16 kernels return garbage when the limit is below its thread count.
        pytesseract.pytesseract.environ = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        pytesseract.pytesseract.tesseract_cmd = self._cmd()
        try:
            data = pytesseract.image_to_data(gray, lang=self.languages, config=f"--psm {self.psm}",
                                             output_type=pytesseract.Output.DICT, timeout=self.timeout_s or 0)
        except RuntimeError as exc:
            if "timeout" in str(exc).lower():
                raise OcrTimeout(f"OCR took longer than {self.timeout_s:g} s (the limit in Settings)") from exc
            raise ImgragError(f"OCR failed: {exc}") from exc
        except pytesseract.TesseractNotFoundError as exc:
            raise ModelUnavailable("Tesseract OCR is not installed (Debian/Ubuntu: sudo apt install tesseract-ocr)") from exc
        except pytesseract.TesseractError as exc:
            raise ImgragError(f"OCR failed: {str(exc.message or exc).strip().splitlines()[-1][:200]}") from exc
        lines: dict[tuple[int, int, int], list[str]] = {}
        words: list[dict[str, Any]] = []
        for i, raw in enumerate(data.get("text", [])):
            word = (raw or "").strip()
            if not word:
                continue
            try:
                conf = float(data["conf"][i])
            except (TypeError, ValueError):
                conf = -1.0
            if conf < self.min_conf or (conf < 60 and not _has_alnum(word)):
                continue  # stray marks from icons and textures
            key = (int(data["block_num"][i]), int(data["par_num"][i]), int(data["line_num"][i]))
            lines.setdefault(key, []).append(word)
            words.append({
                "text": word,
                "x": int(round(data["left"][i] * fx)), "y": int(round(data["top"][i] * fy)),
                "w": max(1, int(round(data["width"][i] * fx))), "h": max(1, int(round(data["height"][i] * fy))),
                "conf": round(conf, 1),
            })
        return [" ".join(ws) for _, ws in sorted(lines.items())], words

    @staticmethod
    def _codes(rgb: "Image.Image", fx: float, fy: float) -> Iterator[tuple[str, dict[str, int], str]]:
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


class OcrPool:
    """Reads many files in parallel: threads that each wait on one Tesseract process."""

    def __init__(self, ocr: TesseractOcr, workers: int = 0) -> None:
        self.ocr = ocr
        self.workers = workers or default_workers()

    def map(self, paths: Iterable[str], cancelled: Callable[[], bool] = lambda: False
            ) -> Iterator[tuple[str, OcrResult | BaseException]]:
        """(path, result or the error) as each file finishes; stops submitting once `cancelled`
        (files already handed to Tesseract finish, bounded by the time limit)."""
        self.ocr.check()
        it = iter(paths)
        with ThreadPoolExecutor(self.workers, thread_name_prefix="imgrag-ocr") as pool:
            running: dict[Future[OcrResult], str] = {}

            def fill() -> None:
                while len(running) < self.workers * 2 and not cancelled():
                    p = next(it, None)
                    if p is None:
                        return
                    running[pool.submit(self.ocr.read_path, p)] = p

            fill()
            from concurrent.futures import FIRST_COMPLETED, wait

            while running:
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in done:
                    path = running.pop(fut)
                    exc = fut.exception()
                    yield path, (exc if exc is not None else fut.result())
                fill()


def ocr_from_config(cfg: Any) -> TesseractOcr:
    s = cfg.settings
    return TesseractOcr(languages=s.ocr_languages, timeout_s=s.ocr_timeout_s)


def availability(cfg: Any) -> tuple[bool, str]:
    ocr = ocr_from_config(cfg)
    try:
        version = ocr.check()
    except ImgragError as exc:
        return False, str(exc)
    codes = "QR/barcodes read too" if ocr.codes_available else "QR/barcodes not read (pip install zxing-cpp)"
    return True, f"Tesseract {version}, languages {ocr.languages}; {codes}"
