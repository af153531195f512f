"""Decoding, orientation, thumbnails, content hashes and kind detection. No torch here.

Every public decode function either returns a usable RGB image or raises DecodeError with a
reason a user can read. Files are only ever opened for reading, and only when they are regular
files (a FIFO or a device would block or stream forever).
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageFile, UnidentifiedImageError

from imgrag_desktop.atomic import atomic_file
from imgrag_desktop.imaging_raw import RAW_EXTENSIONS, decode_raw, is_raw_name
from imgrag_desktop.types import DecodeError
from imgrag_desktop.video import VIDEO_EXTENSIONS, is_video_name

try:  # HEIC/HEIF support is optional at run time, but a declared dependency.
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_AVAILABLE = True
except Exception:  # pragma: no cover - only without the wheel
    HEIF_AVAILABLE = False

# Truncated files must fail, not be silently padded with grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp", ".dib", ".tif", ".tiff", ".heic", ".heif", ".hif"}
) | RAW_EXTENSIONS
# A JPEG can be decoded at 1/2, 1/4 or 1/8 scale by draft(), so its declared size may be far
# larger than what ends up in memory; other formats are decoded whole.
MAX_PIXELS_FULL_DECODE = 250_000_000
MAX_PIXELS_JPEG = 2_000_000_000
MAX_FILE_BYTES = 1 << 30
THUMB_SIZE = 256
HASH_BYTES = 16

# Pillow's own bomb check would fire before ours with a less useful message.
Image.MAX_IMAGE_PIXELS = None

_SCREEN_SIZES = {
    (1280, 720), (1280, 800), (1280, 1024), (1366, 768), (1440, 900), (1536, 864), (1600, 900),
    (1680, 1050), (1920, 1080), (1920, 1200), (2048, 1152), (2560, 1080), (2560, 1440), (2560, 1600),
    (2880, 1800), (3024, 1964), (3456, 2234), (3840, 2160), (3840, 2400), (5120, 2880),
    (750, 1334), (828, 1792), (1080, 1920), (1080, 2340), (1080, 2400), (1125, 2436), (1170, 2532),
    (1179, 2556), (1242, 2688), (1284, 2778), (1290, 2796), (1440, 3040), (1440, 3200),
}


@dataclass
class Decoded:
    """A decoded image, reduced for the consumers that asked, plus facts about the original."""

    image: Image.Image  # RGB, EXIF orientation applied, at most about `max_side` on its long side
    width: int  # original size after orientation
    height: int
    format: str
    taken_at: float | None
    camera: str
    kind: str


MEDIA_EXTENSIONS = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS


def is_image_name(path: str | os.PathLike[str]) -> bool:
    """A name the library indexes: pictures, RAW files and videos (video.py)."""
    return Path(path).suffix.lower() in MEDIA_EXTENSIONS


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=HASH_BYTES).hexdigest()


def read_file(path: str | os.PathLike[str], max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """Read a regular file whole. FIFOs, devices and sockets are refused before any read."""
    try:
        st = os.stat(path)
    except FileNotFoundError as exc:
        raise DecodeError("file vanished before it could be read") from exc
    except PermissionError as exc:
        raise DecodeError("permission denied") from exc
    except OSError as exc:
        raise DecodeError(f"cannot stat file: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(st.st_mode):
        raise DecodeError("not a regular file (FIFO, device or socket): never opened")
    if st.st_size == 0:
        raise DecodeError("empty file (0 bytes)")
    if st.st_size > max_bytes:
        raise DecodeError(f"file too large ({st.st_size / 2**20:.0f} MiB > {max_bytes / 2**20:.0f} MiB limit)")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError as exc:
        raise DecodeError("file vanished before it could be read") from exc
    except PermissionError as exc:
        raise DecodeError("permission denied") from exc
    except OSError as exc:
        raise DecodeError(f"cannot open file: {exc.strerror or exc}") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped for a FIFO after the stat
            raise DecodeError("not a regular file (FIFO, device or socket): never opened")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise DecodeError(f"read error: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    if not data:
        raise DecodeError("empty file (0 bytes)")
    if len(data) > max_bytes:
        raise DecodeError("file grew past the size limit while being read")
    return data


def _exif_facts(img: Image.Image) -> tuple[float | None, str]:
    """(taken time as epoch seconds, camera make+model); garbage EXIF yields (None, '')."""
    try:
        exif = img.getexif()
    except Exception:
        return None, ""
    taken: float | None = None
    camera = ""
    try:
        make = str(exif.get(0x010F, "") or "").strip("\x00 ").strip()
        model = str(exif.get(0x0110, "") or "").strip("\x00 ").strip()
        camera = model if make and model.lower().startswith(make.lower()) else " ".join(x for x in (make, model) if x)
        camera = camera[:120]
    except Exception:
        camera = ""
    try:
        sub = exif.get_ifd(0x8769)
        raw = sub.get(0x9003) or sub.get(0x9004) or exif.get(0x0132)
        if raw:
            text = str(raw).strip("\x00 ").strip()[:19]
            taken = time.mktime(time.strptime(text, "%Y:%m:%d %H:%M:%S"))
    except Exception:
        taken = None
    return taken, camera


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any mode to RGB; transparency composited on white (how a viewer shows it)."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = img.point(lambda v: v * (1 / 256)).convert("L") if img.mode != "I" else img.convert("L")
        return arr.convert("RGB")
    if img.mode == "F":
        return img.convert("L").convert("RGB")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        img = img.convert("RGBA")
        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, img).convert("RGB")
    return img.convert("RGB")


TEXT_TRANSITIONS = 15.0  # ink/paper changes per inked row (256 px wide) above which rows look like type


def text_transitions(img: Image.Image) -> float:
    """How much the image's dark-on-light marks look like lines of type: the mean number of
    ink/background changes along each row that has ink, at 256 px wide.

    A row through printed text crosses dozens of letter strokes (about 35-60 here); a row
    through a skier on snow or a banana on a white table crosses the object's edges a few
    times (about 5). Cheap: one reduced grey image and a few numpy passes.
    """
    import numpy as np

    g = img.convert("L")
    w = 256
    h = max(8, round(g.height * w / max(1, g.width)))
    a = np.asarray(g.resize((w, h), Image.Resampling.BILINEAR), np.int16)
    ink = np.abs(a - int(np.median(a))) > 50
    rows = ink.any(axis=1)
    if not rows.any():
        return 0.0
    changes = (np.diff(ink.astype(np.int8), axis=1) != 0).sum(axis=1)
    return float(changes[rows].mean())


def detect_kind(img: Image.Image, fmt: str, camera: str, width: int, height: int, name: str = "") -> str:
    """photo / screenshot / document, from cheap signals.

    Camera EXIF means photo. Otherwise, a file named like a screenshot, a lossless image with a
    screen's dimensions, or an image of flat colours is a screenshot; a mostly white, nearly
    colourless page whose marks look like lines of type is a document (a white page without
    type, such as snow or a studio backdrop, stays a photo). Everything else is a photo.
    """
    lname = name.lower()
    if camera:
        return "photo"
    if any(tag in lname for tag in ("screenshot", "screen shot", "bildschirmfoto", "capture d", "scrot", "snip")):
        return "screenshot"
    small = img.convert("RGB").resize((64, 64), Image.Resampling.BILINEAR)
    gray = small.convert("L")
    hist = gray.histogram()
    n = 64 * 64
    white = sum(hist[215:]) / n
    sat = small.convert("HSV").getchannel("S").histogram()
    colourless = sum(sat[:40]) / n
    colours = len(set(small.quantize(colors=256, method=Image.Quantize.FASTOCTREE).getdata()))
    flat = len(set(small.getdata())) / n
    lossless = fmt in ("PNG", "BMP", "GIF", "TIFF", "WEBP")
    pagelike = white > 0.6 and colourless > 0.9 and (height >= width or fmt in ("TIFF", "PNG"))
    if pagelike and (lossless or text_transitions(img) >= TEXT_TRANSITIONS):
        return "document"
    if lossless and ((width, height) in _SCREEN_SIZES or flat < 0.35 or colours < 48):
        return "screenshot"
    if white > 0.45 and colourless > 0.85 and flat < 0.5:
        if lossless:
            return "screenshot"
        if text_transitions(img) >= TEXT_TRANSITIONS:
            return "document"
    return "photo"


def decode_bytes(data: bytes, max_side: int = 512, name: str = "") -> Decoded:
    """Decode image bytes to an RGB image no larger than about `max_side` (long side).

    JPEGs use draft() so the DCT does the reduction; large non-JPEG images are reduced after
    the decode. Raises DecodeError with a readable reason. RAW files (by name) go through
    LibRaw: their embedded preview, else a reduced demosaic (imaging_raw.py).
    """
    if is_video_name(name):  # a video's bytes (visual fill, re-embedding): the sheet of its frames
        return decode_video(io.BytesIO(data), max_side)
    if is_raw_name(name):
        raw_img, width, height, holder, _how = decode_raw(data, max_side, name)
        taken, camera = _exif_facts(holder) if holder is not None else (None, "")
        return Decoded(image=raw_img, width=width, height=height, format="RAW", taken_at=taken, camera=camera,
                       kind="photo")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img: Image.Image = Image.open(io.BytesIO(data))
            fmt = (img.format or "").upper()
            w0, h0 = img.size
            if w0 <= 0 or h0 <= 0:
                raise DecodeError("image has no pixels")
            limit = MAX_PIXELS_JPEG if fmt in ("JPEG", "MPO") else MAX_PIXELS_FULL_DECODE
            if w0 * h0 > limit:
                raise DecodeError(
                    f"declared size {w0}×{h0} ({w0 * h0 / 1e6:.0f} MP) is over the {limit / 1e6:.0f} MP limit for "
                    f"{fmt or 'this format'}: too large to decode safely (or a decompression bomb)")
            if getattr(img, "is_animated", False):
                img.seek(0)
            taken, camera = _exif_facts(img)
            if fmt in ("JPEG", "MPO") and max(w0, h0) > max_side:
                img.draft("RGB", (max_side, max_side))
            if fmt in ("JPEG", "MPO") and (img.size[0] * img.size[1]) > MAX_PIXELS_FULL_DECODE:
                raise DecodeError(f"declared size {w0}×{h0} is too large to decode")
            img.load()
            img = _apply_orientation(img)
            img = _to_rgb(img)
            if max(img.size) > max_side:
                img.thumbnail((max_side, max_side), Image.Resampling.BICUBIC, reducing_gap=2.0)
    except DecodeError:
        raise
    except UnidentifiedImageError as exc:
        raise DecodeError("not an image, or a format this app cannot read") from exc
    except Image.DecompressionBombError as exc:
        raise DecodeError(f"decompression bomb refused: {exc}") from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError, ZeroDivisionError) as exc:
        msg = str(exc) or exc.__class__.__name__
        if "truncated" in msg.lower() or isinstance(exc, EOFError):
            raise DecodeError(f"truncated or damaged image data ({msg})") from exc
        raise DecodeError(f"damaged image data ({msg})") from exc
    except MemoryError as exc:
        raise DecodeError("image too large to decode in memory") from exc
    except Exception as exc:  # Pillow's plugins raise many types (struct.error...) on hostile data
        raise DecodeError(f"damaged image data ({type(exc).__name__}: {str(exc)[:200]})") from exc
    width, height = (h0, w0) if _rotated(img, w0, h0) else (w0, h0)
    return Decoded(
        image=img,
        width=width,
        height=height,
        format=fmt,
        taken_at=taken,
        camera=camera,
        kind=detect_kind(img, fmt, camera, width, height, name),
    )


_ORIENTATIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _apply_orientation(img: Image.Image) -> Image.Image:
    """Turn the pixels upright as the EXIF (or XMP) orientation says.

    Not ImageOps.exif_transpose: it re-serialises the whole EXIF block, which raises on garbage
    values in unrelated tags, and a photo must not be refused for its metadata. An unreadable or
    impossible orientation leaves the image as stored.
    """
    try:
        value = img.getexif().get(0x0112)
    except Exception:
        return img
    method = _ORIENTATIONS.get(value) if isinstance(value, int) else None
    return img.transpose(method) if method is not None else img


def _rotated(img: Image.Image, w0: int, h0: int) -> bool:
    if w0 == h0:
        return False
    return (img.size[0] >= img.size[1]) != (w0 >= h0)


def decode_path(path: str | os.PathLike[str], max_side: int = 512) -> tuple[Decoded, bytes]:
    """A file's picture; a video's is a contact sheet of its kept frames (video.py), read from the
    file without loading it whole (the bytes returned are then empty)."""
    if is_video_name(path):
        return decode_video(path, max_side), b""
    data = read_file(path)
    return decode_bytes(data, max_side=max_side, name=Path(path).name), data


def decode_video(path: "str | os.PathLike[str] | io.BytesIO", max_side: int = 512) -> Decoded:
    from imgrag_desktop.video import contact_sheet, extract

    if not isinstance(path, io.BytesIO):
        st_mode = os.stat(path).st_mode if os.path.exists(path) else 0
        if not stat.S_ISREG(st_mode):
            raise DecodeError("not a regular file (FIFO, device or socket), or vanished: never opened")
    got = extract(path, max_side=max_side)
    sheet = contact_sheet(got.frames, max_side)
    return Decoded(image=sheet, width=got.info.width, height=got.info.height, format="VIDEO",
                   taken_at=got.info.created, camera="", kind="photo")


# Thumbnails live in the data dir, keyed by content hash, so a moved file keeps its thumbnail.
def thumbnail_path(thumbs_dir: str | os.PathLike[str], chash: str) -> Path:
    return Path(thumbs_dir) / chash[:2] / f"{chash}.jpg"


def save_thumbnail(img: Image.Image, thumbs_dir: str | os.PathLike[str], chash: str, size: int = THUMB_SIZE) -> Path:
    dest = thumbnail_path(thumbs_dir, chash)
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    thumb = img.copy()
    thumb.thumbnail((size, size), Image.Resampling.BICUBIC)
    return save_image_atomic(thumb, dest, "JPEG", prefix=".thumb-", quality=85)


def save_image_atomic(img: Image.Image, dest: Path, fmt: str, prefix: str = ".tmp-", **params: object) -> Path:
    """Write an image so that readers see the old file or the new one, never half of one."""
    with atomic_file(dest, "wb", prefix=prefix, suffix=dest.suffix) as fh:
        img.save(fh, fmt, **params)
    return dest


def load_thumbnail(path: str, thumbs_dir: str | os.PathLike[str], chash: str | None = None, size: int = THUMB_SIZE) -> Image.Image:
    """The cached thumbnail when there is one, else decode (reduced) and cache it."""
    if chash:
        cached = thumbnail_path(thumbs_dir, chash)
        if cached.exists():
            try:
                with Image.open(cached) as im:
                    im.load()
                    return im.convert("RGB")
            except OSError:
                pass
    dec, data = decode_path(path, max_side=size * 2)
    chash = chash or content_hash(data)
    save_thumbnail(dec.image, thumbs_dir, chash, size)
    thumb = dec.image.copy()
    thumb.thumbnail((size, size), Image.Resampling.BICUBIC)
    return thumb
