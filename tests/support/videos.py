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
                codec: str = "mpeg4", creation_time: str | None = "2024-06-01T12:30:00.000000Z") -> Path:
    """Scenes of (image, seconds) one after the other."""
    import av

    rate = Fraction(fps)
    with av.open(str(path), "w") as out:
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
