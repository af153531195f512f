"""`imgrag bench --part places`: what places and time cost per photo, against decoding the same
photo for the visual pass (the ratio is what travels between machines), the reverse geocoding
of a large library, and the reading of typed queries."""

from __future__ import annotations

import random
import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from imgrag_desktop.bench.common import Progress, say

PHRASES = ("yesterday", "the screenshot from Tuesday", "what was the error code in the screenshot from Tuesday?",
           "last week", "July 2023", "beach summer 2022", "2019", "between May and June", "in Lisbon", "in Japan",
           "photos from Japan", "a receipt from the hardware store", "Paris Hilton", "may I see the cat",
           "March of the penguins", "the beach in Lisbon last summer", "dinner on 3 March 2024", "in Lisboa")


def _gps_jpeg(path: Path, lat: float, lon: float, size: tuple[int, int]) -> None:
    from PIL import Image
    from PIL.TiffImagePlugin import IFDRational

    def dms(v: float) -> tuple[IFDRational, ...]:
        v = abs(v)
        d, m = int(v), int((abs(v) - int(v)) * 60)
        return IFDRational(d, 1), IFDRational(m, 1), IFDRational(int((v - d - m / 60) * 36_000_000), 10_000)

    img = Image.effect_noise(size, 60).convert("RGB")
    exif = Image.Exif()
    exif[0x010F] = "Bench"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N" if lat >= 0 else "S", dms(lat), "E" if lon >= 0 else "W", dms(lon)
    exif.get_ifd(0x8769)[0x9003] = datetime(2024, 7, 1, 12, 0).strftime("%Y:%m:%d %H:%M:%S")
    img.save(path, "JPEG", exif=exif.tobytes(), quality=85)


def bench_places(tmp: Path, photos: int, positions: int, progress: Progress | None = None) -> dict[str, Any]:
    from imgrag_desktop.imaging import decode_bytes
    from imgrag_desktop.indexing.places_stage import place_row
    from imgrag_desktop.search.places import geocoder
    from imgrag_desktop.search.understand import ReadContext, understand

    rng = random.Random(7)
    t0 = time.perf_counter()
    geo = geocoder()
    load_s = time.perf_counter() - t0
    import numpy as np

    idx = rng.sample(range(len(geo.city)), min(positions, len(geo.city)))
    data = geo.tree.data[idx]
    lat = np.degrees(np.arcsin(data[:, 2]))
    lon = np.degrees(np.arctan2(data[:, 1], data[:, 0]))
    points = [(float(a) + rng.uniform(-0.05, 0.05), float(b) + rng.uniform(-0.05, 0.05)) for a, b in zip(lat, lon)]
    say(progress, f"places: geocoding {len(points)} positions")
    t0 = time.perf_counter()
    named = geo.places(points)
    geocode_s = time.perf_counter() - t0

    folder = tmp / "places"
    folder.mkdir()
    files = []
    for i in range(photos):
        p = folder / f"p{i:04d}.jpg"
        _gps_jpeg(p, *points[i % len(points)], (1600, 1200))
        files.append(p)
    say(progress, f"places: {photos} photos, places-and-time vs decode")
    t0 = time.perf_counter()
    for p in files:
        place_row(str(p), 0.0)
    stage_s = (time.perf_counter() - t0) / photos
    t0 = time.perf_counter()
    for p in files:
        decode_bytes(p.read_bytes(), max_side=224)
    decode_s = (time.perf_counter() - t0) / photos

    ctx = ReadContext(places=lambda: [("Lisbon", "Lisbon", "Portugal", "PT"), ("Tokyo", "Tokyo", "Japan", "JP")])
    t0 = time.perf_counter()
    understand(PHRASES[0] + " in Lisbon", context=ctx)
    first_query_s = time.perf_counter() - t0
    times = []
    for _ in range(5):
        for q in PHRASES:
            t0 = time.perf_counter()
            understand(q, context=ctx)
            times.append(time.perf_counter() - t0)
    per_photo_us = geocode_s / len(points) * 1e6
    return {
        "positions": len(points), "named_share": round(sum(1 for n in named if n) / len(points), 3),
        "geocoder_load_s": round(load_s, 2), "geocode_per_photo_us": round(per_photo_us, 1),
        "geocode_100k_photos_s": round(per_photo_us * 100_000 / 1e6, 1),
        "photos": photos, "places_and_time_per_photo_ms": round(stage_s * 1e3, 2),
        "decode_per_photo_ms": round(decode_s * 1e3, 2),
        "places_vs_decode": round(stage_s / decode_s, 3) if decode_s else None,
        "stage_100k_photos_s": round((stage_s + per_photo_us / 1e6) * 100_000, 0),
        "query_first_s": round(first_query_s, 2),
        "query_p50_ms": round(statistics.median(times) * 1e3, 3),
        "query_max_ms": round(max(times) * 1e3, 2), "queries": len(PHRASES),
    }
