"""Where and when a photo was taken, from its own metadata: EXIF GPS and capture time (with the
offset cameras write since EXIF 2.31), or an XMP sidecar next to it (Lightroom, darktable and
digiKam write `photo.jpg.xmp` or `photo.xmp`). HEIC files are read through pillow-heif (see
imaging.py, which registers it).

Only the file's header is read (Pillow's lazy open); the photo itself is never written.
"""

from __future__ import annotations

import calendar
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from PIL import Image

from imgrag_desktop import imaging  # noqa: F401  (registers the HEIC opener)

_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_DATETIME_ORIGINAL, _DATETIME_DIGITIZED, _DATETIME = 0x9003, 0x9004, 0x0132
_OFFSET_ORIGINAL, _OFFSET_DIGITIZED, _OFFSET = 0x9011, 0x9012, 0x9010


@dataclass
class PhotoMeta:
    lat: float | None = None
    lon: float | None = None
    altitude: float | None = None
    wall: datetime | None = None  # the clock on the camera when it was taken (naive)
    offset_minutes: int | None = None  # from the file (OffsetTimeOriginal, XMP), when it says
    source: str = ""  # where the GPS/time came from: "exif", "xmp sidecar"


def _ratio(v: Any) -> float:
    if isinstance(v, tuple) and len(v) == 2:
        return float(v[0]) / float(v[1]) if v[1] else float("nan")
    return float(v)


def _dms(value: Any, ref: Any) -> float | None:
    try:
        parts = [_ratio(x) for x in value]
        deg = parts[0] + (parts[1] if len(parts) > 1 else 0) / 60 + (parts[2] if len(parts) > 2 else 0) / 3600
    except (TypeError, ValueError, ZeroDivisionError, IndexError):
        return None
    ref_s = (ref.decode("ascii", "ignore") if isinstance(ref, bytes) else str(ref or "")).strip("\x00 ").upper()
    return -deg if ref_s in ("S", "W") else deg


def _text(v: Any) -> str:
    if isinstance(v, bytes):
        v = v.decode("ascii", "ignore")
    return str(v or "").strip("\x00 ").strip()


_OFFSET_RE = re.compile(r"^([+-])(\d{1,2}):?(\d{2})$")


def parse_offset(text: str) -> int | None:
    """"+01:00" → 60, "-05:30" → -330, "Z" → 0; None for anything else (or an absurd offset)."""
    t = text.strip()
    if t in ("Z", "z"):
        return 0
    m = _OFFSET_RE.match(t)
    if not m:
        return None
    minutes = int(m.group(2)) * 60 + int(m.group(3))
    if minutes > 14 * 60:
        return None
    return -minutes if m.group(1) == "-" else minutes


def parse_exif_time(text: str) -> datetime | None:
    t = text.strip()[:19]
    if not t or t.startswith("0000"):
        return None
    for fmt in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y:%m:%d %H:%M", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.strptime(t, fmt)
        except ValueError:
            continue
    return None


def from_exif(img: Image.Image) -> PhotoMeta:
    meta = PhotoMeta()
    try:
        exif = img.getexif()
    except Exception:
        return meta
    try:
        gps = exif.get_ifd(_GPS_IFD)
        if gps and 2 in gps and 4 in gps:
            meta.lat, meta.lon = _dms(gps[2], gps.get(1)), _dms(gps[4], gps.get(3))
            if 6 in gps:
                alt = _ratio(gps[6])
                meta.altitude = -alt if gps.get(5) in (1, b"\x01") else alt
    except Exception:
        meta.lat = meta.lon = None
    try:
        sub = exif.get_ifd(_EXIF_IFD)
        for tag, off in ((_DATETIME_ORIGINAL, _OFFSET_ORIGINAL), (_DATETIME_DIGITIZED, _OFFSET_DIGITIZED)):
            wall = parse_exif_time(_text(sub.get(tag)))
            if wall is not None:
                meta.wall = wall
                meta.offset_minutes = parse_offset(_text(sub.get(off) or sub.get(_OFFSET)))
                break
        if meta.wall is None:
            meta.wall = parse_exif_time(_text(exif.get(_DATETIME)))
            if meta.wall is not None:
                meta.offset_minutes = parse_offset(_text(sub.get(_OFFSET)))
    except Exception:
        meta.wall = None
    if meta.lat is not None or meta.wall is not None:
        meta.source = "exif"
    return meta


# --- XMP sidecars -------------------------------------------------------------------------------
_XMP_DMS = re.compile(r"^\s*(\d+(?:\.\d+)?)(?:,(\d+(?:\.\d+)?))?(?:,(\d+(?:\.\d+)?))?\s*([NSEW])\s*$", re.I)


def _xmp_coord(text: str) -> float | None:
    """XMP writes GPS as "38,42.834N" (degrees, decimal minutes) or "38,42,50N", or decimal."""
    m = _XMP_DMS.match(text or "")
    if m:
        deg = float(m.group(1)) + float(m.group(2) or 0) / 60 + float(m.group(3) or 0) / 3600
        return -deg if m.group(4).upper() in ("S", "W") else deg
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def sidecar_path(path: str) -> str | None:
    stem = os.path.splitext(path)[0]
    for cand in (path + ".xmp", path + ".XMP", stem + ".xmp", stem + ".XMP"):
        if os.path.isfile(cand):
            return cand
    return None


def from_xmp(path: str) -> PhotoMeta:
    """GPS and capture time from an XMP sidecar (defusedxml: no entity expansion)."""
    from defusedxml import ElementTree

    meta = PhotoMeta()
    try:
        if os.path.getsize(path) > 4 * 2**20:
            return meta
        root = ElementTree.parse(path).getroot()
    except Exception:
        return meta
    values: dict[str, str] = {}
    for el in root.iter():
        for key, val in [*el.attrib.items(), *([(el.tag, el.text)] if el.text and el.text.strip() else [])]:
            local = key.rsplit("}", 1)[-1]
            if local in ("GPSLatitude", "GPSLongitude", "DateTimeOriginal", "DateCreated", "CreateDate"):
                values.setdefault(local, str(val).strip())
    meta.lat, meta.lon = _xmp_coord(values.get("GPSLatitude", "")), _xmp_coord(values.get("GPSLongitude", ""))
    if meta.lat is None or meta.lon is None:
        meta.lat = meta.lon = None
    for key in ("DateTimeOriginal", "DateCreated", "CreateDate"):
        raw = values.get(key, "")
        if not raw:
            continue
        m = re.match(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?)(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?$", raw)
        if m:
            fmt = "%Y-%m-%dT%H:%M:%S" if m.group(1).count(":") == 2 else "%Y-%m-%dT%H:%M"
            meta.wall = datetime.strptime(m.group(1), fmt)
            meta.offset_minutes = parse_offset(m.group(2) or "") if m.group(2) else None
            break
    if meta.lat is not None or meta.wall is not None:
        meta.source = "xmp sidecar"
    return meta


def read_meta(path: str) -> PhotoMeta:
    """The file's EXIF, with the gaps filled from an XMP sidecar (the sidecar wins where both
    say something: it is what the user edited). An unreadable file gives an empty PhotoMeta."""
    meta = PhotoMeta()
    try:
        with Image.open(path) as img:
            meta = from_exif(img)
    except Exception:
        from imgrag_desktop.imaging_raw import RawExif, raw_exif_path

        exif = raw_exif_path(path)  # a RAW file Pillow cannot open: its own TIFF directory
        if exif is not None:
            meta = from_exif(RawExif(exif))  # type: ignore[arg-type]
    side = sidecar_path(path)
    if side:
        x = from_xmp(side)
        if x.lat is not None:
            meta.lat, meta.lon, meta.source = x.lat, x.lon, x.source
        if x.wall is not None:
            meta.wall, meta.offset_minutes, meta.source = x.wall, x.offset_minutes, x.source
    return meta


# --- the time of a photo in its own local time --------------------------------------------------
@dataclass(frozen=True)
class When:
    instant: float | None  # epoch seconds (None: no capture time, the file time is used)
    local: float  # the wall clock where it was taken, as seconds of a UTC calendar ("naive epoch")
    offset_minutes: int | None  # the UTC offset there, when known
    zone: str  # IANA zone when the GPS position gave it
    source: str  # exif offset | gps time zone | camera clock | file time


def naive_epoch(wall: datetime) -> float:
    """A wall-clock time as seconds, reading it as if it were UTC: what `local_time` stores,
    so "Tuesday" means the photo's own Tuesday wherever it was taken."""
    return float(calendar.timegm(wall.timetuple())) + wall.microsecond / 1e6


def when(meta: PhotoMeta, mtime: float, zone: str | None = None) -> When:
    """The capture time: the camera's clock with the file's offset, else with the offset of the
    GPS position's time zone at that date (DST included), else the camera's clock read in this
    computer's zone (the old behaviour: right for photos taken at home); no capture time: the
    file's modification time (screenshots), in this computer's zone."""
    if meta.wall is not None:
        if meta.offset_minutes is not None:
            tz = timezone(timedelta(minutes=meta.offset_minutes))
            return When(meta.wall.replace(tzinfo=tz).timestamp(), naive_epoch(meta.wall), meta.offset_minutes,
                        "", "exif offset" if meta.source == "exif" else f"{meta.source} offset")
        if zone:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                aware = meta.wall.replace(tzinfo=ZoneInfo(zone))
                off = aware.utcoffset()
                minutes = int(off.total_seconds() // 60) if off is not None else None
                return When(aware.timestamp(), naive_epoch(meta.wall), minutes, zone, "gps time zone")
            except (ZoneInfoNotFoundError, ValueError):
                pass
        # naive → read in this computer's zone; the offset there is unknown, so none is shown
        return When(meta.wall.astimezone().timestamp(), naive_epoch(meta.wall), None, "", "camera clock")
    local = datetime.fromtimestamp(mtime).astimezone()
    off = local.utcoffset()
    return When(None, naive_epoch(local.replace(tzinfo=None)), int(off.total_seconds() // 60) if off else 0, "",
                "file time")
