"""RapidOCR's parts that need no reading engine: its version, the languages its recognition
models read, its settings, and PP-OCRv6's text detector alone (`TextDetector`), the fast
"is there text at all" test every photo passes before anything reads it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from imgrag_desktop.types import ModelUnavailable

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

DETECT_SIDE = 480  # long side of the copy the gate's detector sees (~45 ms of one core per photo)
READ_DET_SIDE = 1280  # long side the detector sees in a full read (recognition crops the full image)
READ_MAX_SIDE = 4096
UPSCALE_BELOW = 2000  # long side under this: enlarge 2x first (small UI type: 0.72 → 0.98 word recall)
MAX_UPSCALED_PIXELS = 8_000_000
GARBLED_CONF = 92.0  # PP-OCR's mean line score on upright pages is ~95-99; upside down 70-87
TALL_SHARE = 0.5  # more line boxes than this taller than wide: the page lies on its side
MIN_SCORE = 0.5  # line recognition score below which a line is dropped (RapidOCR's own default)
# The narrowest input of the recognition model (48 px high): PaddleOCR pads every batch of line
# crops to at least 320 px, so a batch of short words (a receipt's prices, a photo's signs) costs
# what a long line costs. At 96 the 40 receipts read with ~20% less CPU and as well or better
# (CER 0.2969 → 0.2965, word recall 0.940 → 0.941; screenshots and generated pages the same:
# docs/performance.md, "The mixed folder, third look").
REC_MIN_WIDTH = 96

# The setting's language codes (Tesseract-style where one exists) → PP-OCR's recognition model.
# PP-OCRv6's "small" recognition model, the one the rapidocr wheel ships, is one multilingual
# Latin+Chinese+Japanese model; other scripts need PP-OCRv5 language models, which are not in
# the wheel: they are offered once their file is in RapidOCR's model folder (`script_model_file`;
# docs/models.md says how to add one), never fetched while indexing.
LATIN_CODES = {
    "eng", "en", "deu", "de", "fra", "fr", "spa", "es", "ita", "it", "por", "pt", "nld", "nl", "dan", "da",
    "swe", "sv", "nor", "no", "fin", "fi", "pol", "pl", "ces", "cs", "slk", "sk", "slv", "sl", "hrv", "hr",
    "hun", "hu", "ron", "ro", "tur", "tr", "vie", "vi", "cat", "ca", "eus", "eu", "glg", "gl", "est", "et",
    "lav", "lv", "lit", "lt", "isl", "is", "gle", "ga", "cym", "cy", "lat", "la", "ind", "id", "msa", "ms",
    "afr", "af", "sqi", "sq", "mlt", "mt", "bos", "bs", "aze", "az", "uzb", "uz", "swa", "sw", "tgl", "tl",
    "chi_sim", "ch", "chi_tra", "chinese_cht", "jpn", "japan",
}
OTHER_SCRIPTS = {  # setting code → RapidOCR's LangRec (a model RapidOCR downloads on first use)
    "kor": "korean", "korean": "korean", "rus": "cyrillic", "ukr": "cyrillic", "bul": "cyrillic",
    "srp": "cyrillic", "cyrillic": "cyrillic", "ara": "arabic", "fas": "arabic", "arabic": "arabic",
    "hin": "devanagari", "mar": "devanagari", "nep": "devanagari", "devanagari": "devanagari",
    "tha": "th", "th": "th", "ell": "el", "el": "el", "tam": "ta", "ta": "ta", "tel": "te", "te": "te",
}
TESSERACT_PACK = {"korean": "kor", "cyrillic": "rus", "arabic": "ara", "devanagari": "hin", "th": "tha", "el": "ell",
                  "ta": "tam", "te": "tel"}


def rapidocr_version() -> str:
    """The installed rapidocr's version; ModelUnavailable when it or onnxruntime is not installed.

    Read from the package's metadata, without importing it: importing rapidocr (its model
    tables, OpenCV, onnxruntime) costs ~0.6 s of CPU, which the app's process would pay only to
    learn the version, since RapidOCR reads (and detects) in its child processes."""
    import importlib.metadata
    import importlib.util

    try:
        version = importlib.metadata.version("rapidocr")
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelUnavailable("RapidOCR is not installed (pip install rapidocr onnxruntime)") from exc
    for module in ("rapidocr", "onnxruntime", "cv2"):
        if importlib.util.find_spec(module) is None:
            raise ModelUnavailable(f"RapidOCR cannot run: its {module} module is missing "
                                   "(pip install rapidocr onnxruntime opencv-python-headless)")
    return str(version)


def models_dir() -> Path:
    """RapidOCR's model folder (inside the installed package, where its own models are)."""
    import importlib.util

    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.origin:
        raise ModelUnavailable("RapidOCR is not installed (pip install rapidocr onnxruntime)")
    return Path(spec.origin).parent / "models"


def script_model_file(script: str) -> str:
    """The file name of the PP-OCRv5 recognition model of another script (RapidOCR's name for it)."""
    return f"{script}_PP-OCRv5_rec_mobile.onnx"


def installed_scripts() -> set[str]:
    """The other scripts whose recognition model is on this machine."""
    try:
        folder = models_dir()
    except ModelUnavailable:
        return set()
    return {script for script in set(OTHER_SCRIPTS.values()) if (folder / script_model_file(script)).is_file()}


def languages_supported() -> list[str]:
    """The language codes the OCR languages setting accepts for RapidOCR: the wheel's Latin,
    Chinese and Japanese model's, and those of other scripts whose model is installed."""
    have = installed_scripts()
    return sorted(LATIN_CODES | {code for code, script in OTHER_SCRIPTS.items() if script in have})


def recognition_model(languages: str) -> str:
    """The one recognition model that reads `languages` (a + joined list): the multilingual
    PP-OCRv6 model for Latin scripts, Chinese and Japanese; else the model of the other script.
    Two scripts that need different models cannot be read at once: a clear error."""
    langs = [x.strip().lower() for x in (languages or "eng").replace(",", "+").split("+") if x.strip()]
    models = set()
    for lang in langs:
        if lang in LATIN_CODES:
            models.add("latin6")
        elif lang in OTHER_SCRIPTS:
            models.add(OTHER_SCRIPTS[lang])
        else:
            raise ModelUnavailable(
                f"RapidOCR has no recognition model for the language {lang!r}: choose one of "
                f"{', '.join(languages_supported())} in Settings, or switch the OCR engine to Tesseract")
    if len(models) > 1:
        raise ModelUnavailable(
            f"RapidOCR reads one script at a time, and {'+'.join(langs)} needs {len(models)} models: "
            "keep one script in the OCR languages setting, or switch the OCR engine to Tesseract")
    model = models.pop() if models else "latin6"
    if model != "latin6" and model not in installed_scripts():
        raise ModelUnavailable(
            f"RapidOCR's {model} recognition model is not installed (the rapidocr package ships only its Latin, "
            f"Chinese and Japanese model): put {script_model_file(model)} into {models_dir()} (docs/models.md, "
            f"\"OCR models and languages\", says where to get it), or switch the OCR engine to Tesseract with its "
            f"tesseract-ocr-{TESSERACT_PACK.get(model, model)} language pack")
    return model


def rapid_engine(threads: int, det_side: int, rec_model: str) -> Any:
    """A RapidOCR engine (after checking the installed version): detection on images whose long
    side is scaled to `det_side`, recognition with `rec_model`. The detector and the readers
    both build theirs here."""
    rapidocr_version()
    from rapidocr import RapidOCR

    params: dict[str, Any] = {
        "Global.log_level": "error",
        "Global.max_side_len": max(det_side, READ_MAX_SIDE),
        "EngineConfig.onnxruntime.intra_op_num_threads": threads,
        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        # onnxruntime's memory arena keeps buffers between runs: the same text for ~8% less CPU
        # on receipts (each line crop a new shape otherwise allocates afresh; rapidocr turns it off)
        "EngineConfig.onnxruntime.enable_cpu_mem_arena": True,
        "Det.limit_type": "max",
        "Det.limit_side_len": det_side,
        "Rec.rec_img_shape": [3, 48, REC_MIN_WIDTH],
    }
    if rec_model != "latin6":
        from rapidocr import LangRec, OCRVersion

        params.update({"Rec.lang_type": LangRec(rec_model), "Rec.ocr_version": OCRVersion.PPOCRV5})
    return RapidOCR(params=params)


class TextDetector:
    """PP-OCRv6's text detector alone, on a small copy: whether (and where) an image has text.
    Thread-safe: onnxruntime sessions may run from several threads.

    `share`: a callable giving a reading engine (`rapid_engine`) whose detection model this
    detector runs, at its own side, instead of loading the model a second time (a RapidOCR
    child detects and reads with one copy of the model: `RapidOcr.detector`)."""

    def __init__(self, side: int = DETECT_SIDE, threads: int = 1, share: Callable[[], Any] | None = None) -> None:
        self.side = side
        self.threads = threads
        self.share = share
        self._engine: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        with self._lock:
            if self._engine is None:
                if self.share is not None:
                    # A shallow copy of the reading engine (no second configuration parsed:
                    # ~0.1 s of CPU per child) with its own detection step at this side.
                    import copy

                    reader = self.share()
                    engine = copy.copy(reader)
                    engine.text_det = shared_detection(reader, self.side)
                else:
                    engine = rapid_engine(self.threads, self.side, "latin6")
                self._engine = engine
            return self._engine

    def boxes(self, image: "Image.Image") -> int:
        """The number of text boxes found (0: no text worth reading)."""
        import numpy as np

        rgb = image.convert("RGB")
        if max(rgb.size) > self.side:
            rgb = rgb.copy()
            rgb.thumbnail((self.side, self.side))
        out = self._get()(np.asarray(rgb), use_det=True, use_cls=False, use_rec=False)
        return 0 if out.boxes is None else len(out.boxes)


def shared_detection(engine: Any, side: int) -> Any:
    """`engine`'s text detection step working at another long side: a shallow copy of
    rapidocr's `TextDetector`, which reads its `limit_side_len` on every call, holding the same
    onnxruntime session and post-processing (no second model load, no second copy in memory)."""
    import copy

    det = copy.copy(engine._load_det_model())
    det.limit_side_len = side
    return det
