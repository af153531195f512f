import io
import os
import struct

import pytest
from PIL import Image

from imgrag_desktop import imaging
from imgrag_desktop.types import DecodeError


def _jpeg(size=(800, 600), color=(200, 30, 30), exif=None) -> bytes:
    im = Image.new("RGB", size, color)
    im.paste((20, 200, 20), (0, 0, size[0] // 2, size[1] // 3))
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif) if exif is not None else im.save(buf, "JPEG")
    return buf.getvalue()


@pytest.mark.parametrize("fmt,ext", [("PNG", "png"), ("WEBP", "webp"), ("BMP", "bmp"), ("TIFF", "tiff"), ("GIF", "gif")])
def test_decodes_common_formats(tmp_path, fmt, ext):
    im = Image.new("RGB", (120, 80), (10, 120, 250))
    p = tmp_path / f"x.{ext}"
    im.save(p, fmt)
    dec, data = imaging.decode_path(p)
    assert dec.image.mode == "RGB" and (dec.width, dec.height) == (120, 80)
    assert dec.format == fmt
    assert imaging.content_hash(data) == imaging.content_hash(p.read_bytes())


def test_decodes_heic(tmp_path):
    import pillow_heif

    im = Image.new("RGB", (64, 48), (255, 128, 0))
    p = tmp_path / "x.heic"
    pillow_heif.from_pillow(im).save(p, quality=90)
    dec, _ = imaging.decode_path(p)
    assert (dec.width, dec.height) == (64, 48)
    r, g, b = dec.image.getpixel((32, 24))
    assert r > 200 and 90 < g < 170 and b < 60


def test_gif_first_frame(tmp_path):
    frames = [Image.new("RGB", (40, 40), c) for c in [(255, 0, 0), (0, 0, 255)]]
    p = tmp_path / "anim.gif"
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=100, loop=0)
    dec, _ = imaging.decode_path(p)
    r, g, b = dec.image.getpixel((20, 20))
    assert r > 200 and b < 50


def test_exif_orientation_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when shown
    p = tmp_path / "rot.jpg"
    p.write_bytes(_jpeg((800, 600), exif=exif))
    dec, _ = imaging.decode_path(p)
    assert (dec.width, dec.height) == (600, 800)
    assert dec.image.size[0] < dec.image.size[1]


def test_exif_date_and_camera(tmp_path):
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS 5D"
    exif.get_ifd(0x8769)[0x9003] = "2021:06:05 14:30:00"
    p = tmp_path / "cam.jpg"
    p.write_bytes(_jpeg(exif=exif))
    dec, _ = imaging.decode_path(p)
    assert dec.camera == "Canon EOS 5D"
    assert dec.kind == "photo"
    import time

    assert time.strftime("%Y-%m-%d %H:%M", time.localtime(dec.taken_at)) == "2021-06-05 14:30"


def test_jpeg_draft_reduces_large_images(tmp_path):
    p = tmp_path / "big.jpg"
    p.write_bytes(_jpeg((4000, 3000)))
    dec, _ = imaging.decode_path(p, max_side=448)
    assert (dec.width, dec.height) == (4000, 3000)  # original size is reported
    assert max(dec.image.size) <= 448


def test_bomb_is_refused_without_decoding(tmp_path):
    # A PNG header declaring 100,000 × 100,000 pixels with no real data behind it.
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b"")
    p = tmp_path / "bomb.png"
    p.write_bytes(png)
    with pytest.raises(DecodeError, match="bomb|limit"):
        imaging.decode_path(p)


@pytest.mark.parametrize("content,reason", [
    (b"", "empty"),
    (b"this is not an image at all" * 10, "not an image"),
])
def test_bad_files_have_reasons(tmp_path, content, reason):
    p = tmp_path / "bad.jpg"
    p.write_bytes(content)
    with pytest.raises(DecodeError, match=reason):
        imaging.decode_path(p)


def test_truncated_jpeg_is_refused(tmp_path):
    p = tmp_path / "trunc.jpg"
    p.write_bytes(_jpeg((640, 480))[:2000])
    with pytest.raises(DecodeError, match="truncated|damaged"):
        imaging.decode_path(p)


def test_fifo_is_never_opened(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    with pytest.raises(DecodeError, match="not a regular file"):
        imaging.read_file(fifo)  # would block forever if it were opened for reading


def test_rgba_and_16bit_become_rgb(tmp_path):
    rgba = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    p = tmp_path / "a.png"
    rgba.save(p)
    dec, _ = imaging.decode_path(p)
    assert dec.image.getpixel((5, 5)) == (255, 255, 255)  # transparent → white
    im16 = Image.new("I;16", (10, 10), 65535)
    p16 = tmp_path / "b.png"
    im16.save(p16)
    dec16, _ = imaging.decode_path(p16)
    assert dec16.image.mode == "RGB" and dec16.image.getpixel((5, 5))[0] == 255


def test_thumbnail_cached_by_hash(tmp_path):
    p = tmp_path / "x.jpg"
    p.write_bytes(_jpeg((1600, 1200)))
    thumbs = tmp_path / "thumbs"
    t = imaging.load_thumbnail(str(p), thumbs)
    assert max(t.size) == imaging.THUMB_SIZE
    chash = imaging.content_hash(p.read_bytes())
    cached = imaging.thumbnail_path(thumbs, chash)
    assert cached.exists()
    again = imaging.load_thumbnail(str(p), thumbs, chash)
    assert again.size == t.size


def test_kind_detection_basic():
    photo = Image.effect_noise((256, 256), 60).convert("RGB")
    assert imaging.detect_kind(photo, "JPEG", "", 4000, 3000, "IMG_1234.jpg") == "photo"
    screen = Image.new("RGB", (1920, 1080), (40, 40, 40))
    assert imaging.detect_kind(screen, "PNG", "", 1920, 1080, "shot.png") == "screenshot"
    assert imaging.detect_kind(photo, "PNG", "", 800, 600, "Screenshot 2024-01-01.png") == "screenshot"
    assert imaging.detect_kind(photo, "JPEG", "Canon EOS", 4000, 3000, "Screenshot.jpg") == "photo"
