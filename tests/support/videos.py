"""Short videos written with PyAV: scenes of known colours and text, a long clip at a low frame
rate (hours of video in a few hundred frames), an audio-only file."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def scene(colour: tuple[int, int, int], text: str = "", size: tuple[int, int] = (320, 240)) -> Image.Image:
    img = Image.new("RGB", size, colour)
    if text:
        draw = ImageDraw.Draw(img)
        try:
            font = ImageFont.load_default(size=40)
        except TypeError:  # Pillow < 10.1
            font = ImageFont.load_default()
        draw.rectangle((10, 80, size[0] - 10, 160), fill=(255, 255, 255))
        draw.text((20, 95), text, fill=(0, 0, 0), font=font)
    return img


def write_video(path: Path, scenes: Sequence[tuple[Image.Image, float]], fps: Fraction | int = 10,
                codec: str = "mpeg4", creation_time: str | None = "2024-06-01T12:30:00.000000Z",
                live: bool = False) -> Path:
    """Scenes of (image, seconds) one after the other; `live`: a Matroska file written as a
    recording is (no duration in its header)."""
    import av

    rate = Fraction(fps)
    opts = {"format": "matroska", "options": {"live": "1"}} if live else {}
    with av.open(str(path), "w", **opts) as out:
        if creation_time:
            out.metadata["creation_time"] = creation_time
        w, h = scenes[0][0].size
        stream = out.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.gop_size = 10
        for img, seconds in scenes:
            arr = np.asarray(img.convert("RGB"))
            for _ in range(max(1, int(round(seconds * rate)))):
                for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_audio_only(path: Path, seconds: float = 1.0) -> Path:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=16000)
        samples = np.zeros((1, 1024), dtype=np.float32)
        for i in range(int(seconds * 16000 / 1024)):
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate = 16000
            frame.pts = i * 1024
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_live_pair(still: Path, clip: Path, content_id: str, colour: tuple[int, int, int] = (30, 90, 160)) -> None:
    """An Apple Live Photo's two files: a JPEG whose Apple MakerNote holds the content identifier
    (tag 0x11) and a short QuickTime clip with `com.apple.quicktime.content.identifier`."""
    import struct

    import av

    val = content_id.encode() + b"\x00"
    ifd = struct.pack(">H", 1) + struct.pack(">HHII", 0x11, 2, len(val), 14 + 2 + 12 + 4) + struct.pack(">I", 0)
    note = b"Apple iOS\x00" + b"\x00\x01" + b"MM" + ifd + val
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x927C] = note
    exif[0x010F] = "Apple"
    Image.new("RGB", (64, 48), colour).save(still, exif=exif.tobytes())
    with av.open(str(clip), "w", format="mov", options={"movflags": "use_metadata_tags"}) as out:
        out.metadata["com.apple.quicktime.content.identifier"] = content_id
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        arr = np.asarray(Image.new("RGB", (64, 48), colour))
        for _ in range(15):
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
