"""Generated photos with GPS EXIF for known positions and capture times with offsets, and
screenshots with file times on known weekdays (tests of places and time, issue 17)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PIL import Image
from PIL.TiffImagePlugin import IFDRational


@dataclass(frozen=True)
class Spot:
    name: str
    lat: float
    lon: float
    city: str | None  # the town expected (None: nothing within 25 km)
    country: str | None


SPOTS = [
    Spot("lisbon", 38.7139, -9.1394, "Lisbon", "Portugal"),
    Spot("tokyo", 35.6812, 139.7671, "Tokyo", "Japan"),
    Spot("paris", 48.8584, 2.2945, "Paris", "France"),
    Spot("new_york", 40.7580, -73.9855, "New York City", "United States"),
    Spot("sydney", -33.8568, 151.2153, "Sydney", "Australia"),
    Spot("sintra", 38.7976, -9.3886, "Sintra", "Portugal"),
    Spot("baarle", 51.4385, 4.9276, "Baarle-Nassau", "Netherlands"),  # the border town (Belgian enclaves)
    Spot("atlantic_ship", 40.0, -40.0, None, None),  # a ship at sea
    Spot("null_island", 0.0, 0.0, None, None),
]


def _dms(value: float) -> tuple[IFDRational, ...]:
    """Degrees, minutes, seconds as EXIF rationals (seconds to 1/10000)."""
    v = abs(value)
    d = int(v)
    m = int((v - d) * 60)
    s = round((v - d - m / 60) * 3600, 4)
    return (IFDRational(d, 1), IFDRational(m, 1), IFDRational(int(round(s * 10000)), 10000))


def gps_photo(path: Path, lat: float | None, lon: float | None, taken: datetime | None = None,
              offset: str | None = None, colour: tuple[int, int, int] = (90, 140, 200), make: str = "Pixel") -> Path:
    """A small JPEG with camera EXIF, GPS (lat/lon) and DateTimeOriginal (+ OffsetTimeOriginal)."""
    img = Image.new("RGB", (96, 64), colour)
    exif = Image.Exif()
    exif[0x010F] = make
    exif[0x0110] = f"{make} 8"
    if lat is not None and lon is not None:
        gps = exif.get_ifd(0x8825)
        gps[1], gps[2] = ("N" if lat >= 0 else "S"), _dms(lat)
        gps[3], gps[4] = ("E" if lon >= 0 else "W"), _dms(lon)
    if taken is not None:
        sub = exif.get_ifd(0x8769)
        sub[0x9003] = taken.strftime("%Y:%m:%d %H:%M:%S")
        if offset is not None:
            sub[0x9011] = offset
    img.save(path, "JPEG", exif=exif.tobytes(), quality=80)
    return path


def screenshot(path: Path, at: datetime) -> Path:
    """A flat-colour PNG named like a screenshot whose file time is `at` (local time here)."""
    img = Image.new("RGB", (1280, 800), (245, 245, 245))
    for y in range(40, 760, 40):
        img.paste((30, 30, 30), (40, y, 40 + (y * 7) % 900 + 200, y + 12))
    img.save(path, "PNG")
    ts = at.timestamp()
    os.utime(path, (ts, ts))
    return path
