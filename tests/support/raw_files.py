"""Minimal DNG files written byte by byte (a TIFF with a Bayer CFA image, as the DNG spec lays
it out), so RAW decoding is tested on files LibRaw really parses: one with an embedded JPEG
preview in IFD0 and the raw data in a SubIFD (as cameras and converters write them), one with
the raw data only (decoded by demosaicing)."""

from __future__ import annotations

import io
import struct
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image

SHORT, LONG, RATIONAL, ASCII, BYTE, SRATIONAL = 3, 4, 5, 2, 1, 10


def _bayer(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    """An RGGB mosaic of a flat colour, with a bright square (16-bit, little endian)."""
    r, g, b = (int(c / 255 * 4000) for c in colour)
    img = np.zeros((height, width), dtype="<u2")
    img[0::2, 0::2] = r
    img[0::2, 1::2] = g
    img[1::2, 0::2] = g
    img[1::2, 1::2] = b
    img[height // 4: height // 2, width // 4: width // 2] = 4000
    return img.tobytes()


class _Ifd:
    def __init__(self) -> None:
        self.entries: list[tuple[int, int, list[object] | bytes | str]] = []

    def add(self, tag: int, typ: int, value: list[object] | bytes | str) -> None:
        self.entries.append((tag, typ, value))


def _pack_value(typ: int, value: list[object] | bytes | str) -> tuple[bytes, int]:
    if typ == ASCII:
        raw = (str(value) + "\x00").encode()
        return raw, len(raw)
    if typ == BYTE:
        raw = bytes(value) if not isinstance(value, bytes) else value  # type: ignore[arg-type]
        return raw, len(raw)
    assert isinstance(value, list)
    if typ == SHORT:
        return struct.pack(f"<{len(value)}H", *value), len(value)
    if typ == LONG:
        return struct.pack(f"<{len(value)}I", *value), len(value)
    if typ in (RATIONAL, SRATIONAL):
        flat = [x for pair in value for x in pair]  # type: ignore[union-attr]
        return struct.pack(f"<{len(flat)}{'i' if typ == SRATIONAL else 'I'}", *flat), len(value)
    raise ValueError(typ)


def _write_ifd(buf: bytearray, ifd: _Ifd, next_offset: int = 0) -> int:
    """Append an IFD (its out-of-line values after it); returns its offset."""
    entries = sorted(ifd.entries, key=lambda e: e[0])
    at = len(buf)
    size = 2 + 12 * len(entries) + 4
    data_at = at + size
    body = bytearray()
    table = bytearray(struct.pack("<H", len(entries)))
    for tag, typ, value in entries:
        raw, count = _pack_value(typ, value)
        if len(raw) <= 4:
            table += struct.pack("<HHI", tag, typ, count) + raw.ljust(4, b"\x00")
        else:
            if (data_at + len(body)) % 2:
                body += b"\x00"
            table += struct.pack("<HHII", tag, typ, count, data_at + len(body))
            body += raw
    table += struct.pack("<I", next_offset)
    buf += table + body
    return at


def write_dng(path: Path, colour: tuple[int, int, int] = (200, 120, 40), width: int = 256, height: int = 192,
              preview: Image.Image | None = None, taken: datetime | None = datetime(2024, 5, 6, 7, 8, 9),
              make: str = "Imgrag", model: str = "Test DNG", gps: tuple[float, float] | None = None) -> Path:
    """A DNG LibRaw reads: the raw mosaic, and `preview` as IFD0's JPEG when given."""
    buf = bytearray(b"II*\x00" + b"\x00\x00\x00\x00")
    raw = _bayer(width, height, colour)
    raw_at = len(buf)
    buf += raw
    jpeg = b""
    if preview is not None:
        out = io.BytesIO()
        preview.convert("RGB").save(out, "JPEG", quality=90)
        jpeg = out.getvalue()
    jpeg_at = len(buf)
    buf += jpeg
    if len(buf) % 2:
        buf += b"\x00"

    gps_at = 0
    if gps is not None:
        def dms(v: float) -> list[object]:
            v = abs(v)
            d, m = int(v), int((v - int(v)) * 60)
            s = round(((v - d) * 60 - m) * 60 * 1000)
            return [(d, 1), (m, 1), (s, 1000)]

        g = _Ifd()
        g.add(0, BYTE, [2, 3, 0, 0])
        g.add(1, ASCII, "N" if gps[0] >= 0 else "S")
        g.add(2, RATIONAL, dms(gps[0]))
        g.add(3, ASCII, "E" if gps[1] >= 0 else "W")
        g.add(4, RATIONAL, dms(gps[1]))
        gps_at = _write_ifd(buf, g)

    def common(ifd: _Ifd) -> None:
        if gps_at:
            ifd.add(34853, LONG, [gps_at])
        ifd.add(271, ASCII, make)
        ifd.add(272, ASCII, model)
        ifd.add(50706, BYTE, [1, 4, 0, 0])  # DNGVersion
        ifd.add(50708, ASCII, f"{make} {model}")  # UniqueCameraModel
        ifd.add(50721, SRATIONAL, [(10000, 10000), (0, 1), (0, 1), (0, 1), (10000, 10000), (0, 1), (0, 1), (0, 1),
                                   (10000, 10000)])  # ColorMatrix1: identity
        ifd.add(50778, SHORT, [21])  # CalibrationIlluminant1: D65
        ifd.add(274, SHORT, [1])
        if taken is not None:
            ifd.add(306, ASCII, taken.strftime("%Y:%m:%d %H:%M:%S"))

    rawifd = _Ifd()
    rawifd.add(254, LONG, [0])
    rawifd.add(256, LONG, [width])
    rawifd.add(257, LONG, [height])
    rawifd.add(258, SHORT, [16])
    rawifd.add(259, SHORT, [1])
    rawifd.add(262, SHORT, [32803])  # CFA
    rawifd.add(273, LONG, [raw_at])
    rawifd.add(277, SHORT, [1])
    rawifd.add(278, LONG, [height])
    rawifd.add(279, LONG, [len(raw)])
    rawifd.add(284, SHORT, [1])
    rawifd.add(33421, SHORT, [2, 2])  # CFARepeatPatternDim
    rawifd.add(33422, BYTE, [0, 1, 1, 2])  # CFAPattern: RGGB
    rawifd.add(50714, LONG, [0])  # BlackLevel
    rawifd.add(50717, LONG, [4095])  # WhiteLevel
    if preview is None:
        common(rawifd)
        at = _write_ifd(buf, rawifd)
        struct.pack_into("<I", buf, 4, at)
    else:
        sub_at = _write_ifd(buf, rawifd)
        ifd0 = _Ifd()
        common(ifd0)
        ifd0.add(254, LONG, [1])  # a reduced-resolution image: the preview
        ifd0.add(256, LONG, [preview.width])
        ifd0.add(257, LONG, [preview.height])
        ifd0.add(258, SHORT, [8, 8, 8])
        ifd0.add(259, SHORT, [7])  # JPEG
        ifd0.add(262, SHORT, [6])  # YCbCr
        ifd0.add(273, LONG, [jpeg_at])
        ifd0.add(277, SHORT, [3])
        ifd0.add(278, LONG, [preview.height])
        ifd0.add(279, LONG, [len(jpeg)])
        ifd0.add(284, SHORT, [1])
        ifd0.add(330, LONG, [sub_at])  # SubIFDs
        at = _write_ifd(buf, ifd0)
        struct.pack_into("<I", buf, 4, at)
    path.write_bytes(bytes(buf))
    return path
