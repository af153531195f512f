"""Text inside images: the one OCR interface, its Tesseract engine, and QR/barcode payloads.

Two engines stand behind it: Tesseract (here) and RapidOCR (PP-OCRv6, `ocr_rapid.py`; its
detector and language tables in `ocr_detect.py`, its child processes in `ocr_child.py`), picked by
the `ocr_engine` setting (`ocr_from_config`); "auto" gives each kind of image the engine measured
best for it (`AUTO_ENGINES`). Both give line texts and word boxes in the
original image's pixels with confidences (0-100), keep the time limit per image and read
outside the app's process (a `tesseract` process per image; RapidOCR's child processes). What
is common lives in `ocr_base.py` (`read_image`/`read_file`): decoding, the text detector that lets a photo with
no text cost only a detector pass, a second reading of a page turned 90/180/270 degrees when the
first reads as garbage, and QR/barcode decoding.

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
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from imgrag_desktop.models.ocr_base import (  # noqa: F401 - the one OCR interface is imported from here
    GARBLED_CONF,
    MAX_UPSCALED_PIXELS,
    MIN_CONF,
    OCR_MAX_SIDE,
    PAGE_KINDS,
    UPSCALE_BELOW,
    OcrResult,
    OcrTimeout,
    _has_alnum,
    default_workers,
    read_file,
    read_image,
    text_detector,
    time_limit,
    timeout_message,
    zxing_available,
)
from imgrag_desktop.models.ocr_rapid import RapidOcr
from imgrag_desktop.types import ImgragError, ModelUnavailable

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

ENGINES = ("auto", "rapidocr", "tesseract")


class TesseractOcr:
    """Reads text and word boxes from images with Tesseract; thread-safe (no shared state
    besides the checked-once installation facts)."""

    name = "tesseract"
    garbled_below = GARBLED_CONF

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
    def engine_id(self) -> str:
        return f"tesseract {self.check()} {self.languages}"

    @property
    def codes_available(self) -> bool:
        return self.read_codes and zxing_available()

    # Reading -------------------------------------------------------------------------------------
    def read_path(self, path: str | os.PathLike[str], detect_first: bool = False, kind: str | None = None) -> OcrResult:
        """OCR of an image file (decoded with the app's decoder: EXIF orientation, HEIC, limits)."""
        return read_file(self, path, detect_first)

    def read(self, image: "Image.Image", orig_size: tuple[int, int] | None = None, enlarge: bool = True) -> OcrResult:
        """OCR of a decoded image. `orig_size` is the original image's size when `image` was
        reduced, so boxes come back in original pixels."""
        self.check()
        return read_image(self, image, orig_size, enlarge)

    def recognise(self, rgb: "Image.Image", enlarge: bool = True) -> tuple[list[str], list[dict[str, Any]], float]:
        """(lines, word boxes in `rgb`'s pixels, mean word confidence) of one upright image."""
        from PIL import Image

        gray = rgb.convert("L")
        long_side = max(gray.size)
        if enlarge and long_side < UPSCALE_BELOW and gray.size[0] * gray.size[1] * 4 <= MAX_UPSCALED_PIXELS:
            gray = gray.resize((gray.size[0] * 2, gray.size[1] * 2), Image.Resampling.LANCZOS)
        lines, words = self._tesseract(gray, rgb.size[0] / gray.size[0], rgb.size[1] / gray.size[1],
                                       time_limit(self.timeout_s, rgb.size))
        mean = sum(float(w["conf"]) for w in words) / len(words) if words else 0.0
        return lines, words, mean

    def _tesseract(self, gray: "Image.Image", fx: float, fy: float, limit: float = 0.0
                   ) -> tuple[list[str], list[dict[str, Any]]]:
        import pytesseract

        # One OpenMP thread for tesseract (it runs several at once), set in the environment
        # pytesseract hands its child, never in this process's: torch reads OMP_THREAD_LIMIT
        # too, and its bf16 kernels return garbage when the limit is below its thread count.
        pytesseract.pytesseract.environ = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        pytesseract.pytesseract.tesseract_cmd = self._cmd()
        try:
            data = pytesseract.image_to_data(gray, lang=self.languages, config=f"--psm {self.psm}",
                                             output_type=pytesseract.Output.DICT, timeout=limit or self.timeout_s or 0)
        except RuntimeError as exc:
            if "timeout" in str(exc).lower():
                size = (int(gray.size[0] * fx), int(gray.size[1] * fy))
                raise OcrTimeout(timeout_message(limit or self.timeout_s, self.timeout_s, size)) from exc
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


class OcrPool:
    """Reads many files in parallel: threads that each wait on one outside process (a
    Tesseract process, a RapidOCR child)."""

    def __init__(self, ocr: Any, workers: int = 0, close: bool = True) -> None:
        self.ocr = ocr
        self.workers = workers or default_workers()
        self.close = close  # False: the engine is shared (Services.ocr_engine) and outlives the run

    def map(self, items: Iterable[str | tuple[str, str, bool]], cancelled: Callable[[], bool] = lambda: False
            ) -> Iterator[tuple[str, OcrResult | BaseException]]:
        """(path, result or the error) as each file finishes; an item is a path (read straight
        away) or (path, kind, detect_first): with detect_first the text detector runs first. Stops submitting once `cancelled` (files already handed out finish,
        bounded by the time limit); the engine's children end with the run unless the
        engine is shared (`close=False`: a RapidOCR engine then closes them itself when idle)."""
        self.ocr.check()
        it = iter(items)
        try:
            with ThreadPoolExecutor(self.workers, thread_name_prefix="imgrag-ocr") as pool:
                running: dict[Future[OcrResult], str] = {}

                def fill() -> None:
                    while len(running) < self.workers * 2 and not cancelled():
                        item = next(it, None)
                        if item is None:
                            return
                        path, kind, detect = (item, None, False) if isinstance(item, str) else item
                        running[pool.submit(self.ocr.read_path, path, detect, kind)] = path

                fill()
                from concurrent.futures import FIRST_COMPLETED, wait

                while running:
                    done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                    for fut in done:
                        path = running.pop(fut)
                        exc = fut.exception()
                        yield path, (exc if exc is not None else fut.result())
                    fill()
        finally:
            close = getattr(self.ocr, "close", None) if self.close else None
            if close is not None:
                close()


class AutoOcr:
    """The "auto" engine: each kind of image read by the engine that reads it best here
    (docs/performance.md): `AUTO_ENGINES`; the other engine when one is not installed."""

    name = "auto"

    def __init__(self, engines: dict[str, Any], by_kind: dict[str, str]) -> None:
        self.engines = engines
        self.by_kind = by_kind
        self.languages = next(iter(engines.values())).languages
        self.timeout_s = max(float(getattr(e, "timeout_s", 0) or 0) for e in engines.values())

    def _usable(self) -> dict[str, Any]:
        ok = {}
        for name, eng in self.engines.items():
            try:
                eng.check()
            except ImgragError:
                continue
            ok[name] = eng
        return ok

    def check(self) -> str:
        ok = self._usable()
        if not ok:  # say why each one cannot run
            reasons = []
            for eng in self.engines.values():
                try:
                    eng.check()
                except ImgragError as exc:
                    reasons.append(str(exc))
            raise ModelUnavailable("; ".join(reasons))
        return ", ".join(f"{'RapidOCR' if name == 'rapidocr' else 'Tesseract'} {eng.check()}" for name, eng in ok.items())

    @property
    def engine_id(self) -> str:
        return " | ".join(e.engine_id for e in self._usable().values())

    def engine_ids(self) -> list[str]:
        return [e.engine_id for e in self._usable().values()]

    @property
    def codes_available(self) -> bool:
        return any(e.codes_available for e in self.engines.values())

    def for_kind(self, kind: str | None) -> Any:
        ok = self._usable()
        want = self.by_kind.get(kind or "", self.by_kind.get("", "rapidocr"))
        return ok.get(want) or next(iter(ok.values()))

    def read_path(self, path: str | os.PathLike[str], detect_first: bool = False, kind: str | None = None) -> OcrResult:
        return self.for_kind(kind).read_path(path, detect_first)

    def close(self) -> None:
        for eng in self.engines.values():
            close = getattr(eng, "close", None)
            if close is not None:
                close()


# Which engine "auto" gives each kind of image (measured: docs/performance.md).
AUTO_ENGINES = {"screenshot": "tesseract", "": "rapidocr"}


def rapid_children(workers: int) -> int:
    """RapidOCR child processes for `workers` OCR threads chosen for the machine: one per
    thread, but one alone on a machine of two cores or fewer, where a second child's start
    (~0.8 s of CPU, its own copy of the models) costs more than it gains in a folder of mostly
    photos (docs/performance.md#ocr-engines); the other thread still runs Tesseract's pages."""
    return 1 if (os.cpu_count() or 2) <= 2 else max(1, workers)


def engine_ids(ocr: Any) -> list[str]:
    """Every engine id a row read by `ocr` may carry (auto: one per engine)."""
    ids = getattr(ocr, "engine_ids", None)
    return list(ids()) if ids is not None else [ocr.engine_id]


def ocr_from_config(cfg: Any) -> Any:
    """The engine the `ocr_engine` setting names (auto | rapidocr | tesseract)."""
    s = cfg.settings
    engine = (s.ocr_engine or "auto").strip().lower()
    if engine not in ENGINES:
        raise ImgragError(f"unknown OCR engine {s.ocr_engine!r} in Settings: use one of {', '.join(ENGINES)}")
    workers = s.ocr_workers or default_workers()
    rapid = RapidOcr(languages=s.ocr_languages, timeout_s=s.ocr_timeout_s,
                     workers=workers if s.ocr_workers else rapid_children(workers))
    tess = TesseractOcr(languages=s.ocr_languages, timeout_s=s.ocr_timeout_s)
    if engine == "rapidocr":
        return rapid
    if engine == "tesseract":
        return tess
    return AutoOcr({"tesseract": tess, "rapidocr": rapid}, AUTO_ENGINES)


def languages_available() -> dict[str, list[str]]:
    """What the OCR languages setting may name, per installed engine."""
    from imgrag_desktop.models.ocr_detect import languages_supported

    out: dict[str, list[str]] = {"rapidocr": languages_supported()}
    try:
        import pytesseract

        out["tesseract"] = sorted(set(pytesseract.get_languages(config="")) - {"osd"})
    except Exception:  # noqa: BLE001 - Tesseract missing: it offers nothing
        out["tesseract"] = []
    return out


def availability(cfg: Any) -> tuple[bool, str]:
    try:
        ocr = ocr_from_config(cfg)
        version = ocr.check()
    except ImgragError as exc:
        return False, str(exc)
    codes = "QR/barcodes read too" if ocr.codes_available else "QR/barcodes not read (pip install zxing-cpp)"
    return True, f"OCR engine {ocr.name} ({version}), languages {ocr.languages}; {codes}"
