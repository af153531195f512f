"""Camera RAW files (CR2/CR3, NEF, ARW, DNG, RAF, ORF, RW2 …) through LibRaw (`rawpy`).

Fast path first: the JPEG (or bitmap) preview the camera embedded, which is what every photo
browser shows; only a RAW without one is demosaiced, at half size (LibRaw's `half_size`, four
times fewer pixels) and then reduced. The EXIF (camera, time, GPS) is read from the RAW's own
TIFF directory where it has one (DNG, NEF, CR2, ARW, PEF …; Pillow's EXIF reader), else from the
preview's EXIF (CR3, RAF). Files are only read.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

from PIL import Image

from imgrag_desktop.types import DecodeError

RAW_EXTENSIONS = frozenset({
    ".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf", ".rw2", ".pef",
    ".srw", ".x3f", ".3fr", ".iiq", ".erf", ".kdc", ".mef", ".mos", ".mrw", ".raw", ".rwl",
})
_FLIPS = {3: Image.Transpose.ROTATE_180, 5: Image.Transpose.ROTATE_90, 6: Image.Transpose.ROTATE_270}


def is_raw_name(name: str) -> bool:
    dot = name.rfind(".")
    return dot >= 0 and name[dot:].lower() in RAW_EXTENSIONS


class RawExif:
    """Stands in for an image where only `getexif()` is asked (imaging._exif_facts, photometa)."""

    def __init__(self, exif: Image.Exif) -> None:
        self.exif = exif

    def getexif(self) -> Image.Exif:
        return self.exif


def raw_exif(data: bytes) -> Image.Exif | None:
    """The EXIF of a TIFF-based RAW (II*/MM* header), or None."""
    if data[:4] not in (b"II*\x00", b"MM\x00*"):
        return None
    try:
        exif = Image.Exif()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exif.load(data)
        return exif if len(exif) else None
    except Exception:
        return None


def raw_exif_path(path: str, limit: int = 4 << 20) -> Image.Exif | None:
    try:
        with open(path, "rb") as fh:  # read only
            head = fh.read(limit)
    except OSError:
        return None
    return raw_exif(head)


def decode_raw(data: bytes, max_side: int, name: str) -> tuple[Image.Image, int, int, Any, str]:
    """(RGB image ≤ about max_side, width, height, an object with getexif(), how it was decoded).

    DecodeError with the reason when LibRaw cannot read it."""
    try:
        import rawpy
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise DecodeError("RAW files need the rawpy package (pip install rawpy)") from exc
    try:
        with rawpy.imread(io.BytesIO(data)) as raw:
            sizes = raw.sizes
            flip = int(sizes.flip or 0)
            w, h = int(sizes.width), int(sizes.height)
            if flip in (5, 6):
                w, h = h, w
            img, how, exif_src = _preview(raw, flip, max_side)
            if img is None:
                rgb = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)
                img = Image.fromarray(rgb).convert("RGB")
                how = "demosaic"
    except DecodeError:
        raise
    except MemoryError as exc:
        raise DecodeError("RAW image too large to decode in memory") from exc
    except Exception as exc:  # LibRawFileUnsupportedError, LibRawIOError, LibRawDataError …
        kind = type(exc).__name__
        if "Unsupported" in kind:
            raise DecodeError(f"not a RAW file LibRaw can read ({name or 'RAW'})") from exc
        raise DecodeError(f"damaged RAW data ({kind}: {str(exc)[:160]})") from exc
    if max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.Resampling.BICUBIC, reducing_gap=2.0)
    exif = raw_exif(data)
    holder: Any = RawExif(exif) if exif is not None else exif_src
    return img, w, h, holder, how


def _preview(raw: Any, flip: int, max_side: int) -> tuple[Image.Image | None, str, Any]:
    import rawpy

    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
        return None, "", None
    except Exception:
        return None, "", None
    try:
        if thumb.format == rawpy.ThumbFormat.JPEG:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                src = Image.open(io.BytesIO(thumb.data))
                src.draft("RGB", (max_side, max_side))
                src.load()
            if max(src.size) * 2 < max_side:
                return None, "", None  # a thumbnail too small to search by: demosaic instead
            if src.getexif().get(0x0112) not in (None, 1):
                from PIL import ImageOps

                img = ImageOps.exif_transpose(src).convert("RGB")
            else:
                img = src.convert("RGB")
                img = img.transpose(_FLIPS[flip]) if flip in _FLIPS else img
            return img, "preview", src
        img = Image.fromarray(thumb.data).convert("RGB")
        return (img.transpose(_FLIPS[flip]) if flip in _FLIPS else img), "preview", None
    except Exception:
        return None, "", None  # a damaged preview: demosaic instead
