"""Builds a folder of hostile files: everything a real photo library throws at an indexer.

`build_corpus(root)` writes the files and returns a `Corpus` that says, for every file, whether
it must be indexed (`good`) or skipped with a reason (`bad`: path → words the reason must
contain), plus files that must be neither (`ignored`: not images, hidden). Cases that depend on
privileges (unreadable files as root, device nodes) are decided here from what the machine
actually allows, so the expectations are always the truth for this run.

`tree_state(root)` fingerprints a folder (paths, bytes, modes, mtimes, ctimes, link targets)
without ever opening a FIFO or a device, so a test can prove the indexer changed nothing.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import random
import stat
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

PATH_MAX = 4096
NAME_MAX = 255
HASH_LIMIT = 64 << 20  # files above this are fingerprinted by metadata only (see tree_state)


@dataclass
class Corpus:
    root: Path
    good: dict[str, str] = field(default_factory=dict)  # path → what it is
    bad: dict[str, tuple[str, ...]] = field(default_factory=dict)  # path → any of these words in the reason
    bad_prefix: dict[str, tuple[str, ...]] = field(default_factory=dict)  # a folder failure covers what is below
    ignored: list[str] = field(default_factory=list)  # neither a row nor a failure
    special: list[str] = field(default_factory=list)  # FIFOs and devices: must never be opened
    notes: list[str] = field(default_factory=list)  # what this machine could not build, and why
    rotated: dict[str, tuple[int, int]] = field(default_factory=dict)  # path → (width, height) after EXIF
    unreadable: list[str] = field(default_factory=list)  # chmod 000 paths (restore before cleanup)
    perm_good: dict[str, str] = field(default_factory=dict)  # what a reader that ignores permissions indexes
    perm_bad: dict[str, tuple[str, ...]] = field(default_factory=dict)  # what a reader bound by them skips

    def expected(self, permissions_apply: bool) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
        """(good, bad) for a reader that is bound by permission bits, or one that is not (root)."""
        if permissions_apply:
            return dict(self.good), {**self.bad, **self.perm_bad}
        return {**self.good, **self.perm_good}, dict(self.bad)

    def counts(self, permissions_apply: bool) -> dict[str, int]:
        good, bad = self.expected(permissions_apply)
        return {"good": len(good), "bad": len(bad) + len(self.bad_prefix), "ignored": len(self.ignored)}


def _rng(seed: int) -> random.Random:
    return random.Random(seed)


def _noise(size: tuple[int, int], seed: int, mode: str = "RGB") -> Image.Image:
    """A photo-like image: a smooth gradient plus noise (not flat, so it reads as a photo)."""
    w, h = size
    rnd = _rng(seed)
    base = Image.linear_gradient("L").resize((w, h)).convert("RGB")
    tint = Image.new("RGB", (w, h), (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)))
    noise = Image.frombytes("RGB", (w, h), rnd.randbytes(w * h * 3))
    img = Image.blend(Image.blend(base, tint, 0.5), noise, 0.35)
    return img.convert(mode) if mode != "RGB" else img


def _jpeg(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", **kw)
    return buf.getvalue()


def _png(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", **kw)
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_raw(width: int, height: int, bit_depth: int, colour_type: int, raw_rows: bytes, level: int = 6) -> bytes:
    """A PNG written by hand (Pillow cannot write 16-bit RGB, nor lie about a size)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw_rows, level)) + _chunk(b"IEND", b"")


def jpeg_with_app1(jpeg: bytes, payload: bytes) -> bytes:
    """Insert an APP1 segment right after SOI (where EXIF lives)."""
    seg = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + seg + jpeg[2:]


def jpeg_huge_header(width: int, height: int) -> bytes:
    """A JPEG whose SOF declares `width`×`height` but which holds no image data worth the name."""
    small = _jpeg(Image.new("RGB", (16, 16), (10, 20, 30)))
    i = small.index(b"\xff\xc0")
    sof = bytearray(small[i : i + 2 + struct.unpack(">H", small[i + 2 : i + 4])[0]])
    sof[5:7] = struct.pack(">H", height)
    sof[7:9] = struct.pack(">H", width)
    return small[:i] + bytes(sof) + small[i + len(sof) :]


def gif_huge_header(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("P", (4, 4)).save(buf, "GIF")
    data = bytearray(buf.getvalue())
    data[6:10] = struct.pack("<HH", width, height)  # logical screen
    i = data.index(b"\x2c")  # image descriptor
    data[i + 5 : i + 9] = struct.pack("<HH", width, height)
    return bytes(data)


def exif_bytes(orientation: int | None = None, make: bytes | None = None, datetime: bytes | None = None) -> bytes:
    """A minimal little-endian TIFF/EXIF block with the given (possibly absurd) values."""
    entries = []
    extra = b""
    n_entries = sum(x is not None for x in (orientation, make, datetime))
    base = 8 + 2 + 12 * n_entries + 4
    if orientation is not None:
        entries.append(struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0))
    for tag, value in ((0x010F, make), (0x0132, datetime)):
        if value is None:
            continue
        value = value + b"\x00"
        entries.append(struct.pack("<HHII", tag, 2, len(value), base + len(extra)))
        extra += value
    ifd = struct.pack("<H", len(entries)) + b"".join(entries) + struct.pack("<I", 0)
    return b"Exif\x00\x00" + b"II*\x00" + struct.pack("<I", 8) + ifd + extra


def _write(path: Path, data: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


def _deep_dir(root: Path, total_len: int, seg: int = 200) -> Path:
    """Create nested folders until the path is about `total_len` bytes long, using dir fds so
    that creation works past PATH_MAX (where plain paths stop working)."""
    names: list[str] = []
    length = len(os.fsencode(str(root)))
    i = 0
    while length + 1 + seg < total_len:
        names.append(f"{i:03d}" + "d" * (seg - 3))
        length += 1 + seg
        i += 1
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in names:
            os.mkdir(name, dir_fd=fd)
            nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
    finally:
        os.close(fd)
    return root.joinpath(*names)


def _write_at(dir_path: Path, name: str, data: bytes) -> None:
    """Write a file into a folder that may be deeper than PATH_MAX."""
    fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in dir_path.parts[1:]:
            nfd = os.open(part, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        f = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=fd)
        with os.fdopen(f, "wb") as fh:
            fh.write(data)
    finally:
        os.close(fd)


# Run a command without the two capabilities that let root ignore permission bits (dropped from
# the bounding set, so the exec'd program never has them). For a non-root user it changes
# nothing: permission bits already apply.
_DROP_DAC = (
    "import ctypes, os, sys\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH\n"
    "    libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP; fails harmlessly when not root\n"
    "os.execv(sys.argv[1], sys.argv[1:])\n"
)


def unprivileged(cmd: list[str]) -> list[str]:
    """`cmd` run so that chmod 000 really denies reading, even for root."""
    return [sys.executable, "-c", _DROP_DAC, *cmd]


def permissions_apply(probe_dir: str | os.PathLike[str], drop: bool) -> bool:
    """Whether a chmod-000 file is unreadable for this process (drop=False) or for one started
    through `unprivileged` (drop=True): the truth for this machine, not an assumption."""
    probe = Path(probe_dir) / ".perm-probe"
    probe.write_bytes(b"x")
    os.chmod(probe, 0)
    try:
        if not drop:
            try:
                with open(probe, "rb"):
                    return False
            except PermissionError:
                return True
        code = f"open({str(probe)!r}, 'rb')"
        proc = subprocess.run(unprivileged([sys.executable, "-c", code]), capture_output=True, text=True, timeout=60)
        return "PermissionError" in proc.stderr
    finally:
        os.chmod(probe, 0o644)
        probe.unlink()


def build_corpus(root: str | os.PathLike[str], huge: bool = True) -> Corpus:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    c = Corpus(root)

    def good(rel: str, data: bytes, what: str) -> str:
        p = _write(root / rel, data)
        c.good[p] = what
        return p

    def bad(rel: str, data: bytes, *words: str) -> str:
        p = _write(root / rel, data)
        c.bad[p] = words
        return p

    photo = _noise((320, 240), 1)
    # --- good: modes, formats, sizes --------------------------------------------------------
    plain = good("plain.jpg", _jpeg(photo, quality=90), "RGB JPEG")
    good("one_by_one.png", _png(Image.new("RGB", (1, 1), (200, 10, 10))), "1×1 PNG")
    good("one_by_one.gif", _gif(Image.new("P", (1, 1))), "1×1 GIF")
    good("one_by_one.jpg", _jpeg(Image.new("RGB", (1, 1), (1, 2, 3))), "1×1 JPEG")
    good("cmyk.jpg", _jpeg(_noise((200, 150), 2).convert("CMYK")), "CMYK JPEG")
    good("cmyk.tif", _save(_noise((120, 90), 3).convert("CMYK"), "TIFF"), "CMYK TIFF")
    good("gray.jpg", _jpeg(_noise((160, 120), 4, "L")), "grayscale JPEG")
    g16 = Image.linear_gradient("L").resize((200, 100)).point(lambda v: v * 257).convert("I").convert("I;16")
    good("gray16.png", _png(g16), "16-bit grayscale PNG")
    good("gray16.tif", _save(g16, "TIFF"), "16-bit grayscale TIFF")
    rows16 = b"".join(b"\x00" + b"".join(struct.pack(">HHH", x * 600, y * 900, 30000) for x in range(100)) for y in range(70))
    good("rgb16.png", png_raw(100, 70, 16, 2, rows16), "16-bit RGB PNG")
    good("float.tif", _save(_noise((90, 60), 5, "L").convert("F"), "TIFF"), "32-bit float TIFF")
    good("palette.png", _png(_noise((160, 120), 6).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)), "palette PNG")
    pal_t = _noise((100, 100), 7).convert("P", palette=Image.Palette.ADAPTIVE, colors=32)
    good("palette_transparent.gif", _save(pal_t, "GIF", transparency=0), "palette GIF with transparency")
    rgba = _noise((150, 150), 8).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize((150, 150)))
    good("alpha.png", _png(rgba), "RGBA PNG")
    good("alpha.webp", _save(rgba, "WEBP"), "RGBA WebP")
    good("gray_alpha.png", _png(rgba.convert("LA")), "LA PNG")
    good("bilevel.bmp", _save(_noise((64, 64), 9).convert("1"), "BMP"), "1-bit BMP")
    good("panorama.png", _png(_noise((12000, 8), 10)), "12000×8 panorama")
    frames = [_noise((80, 60), 20 + i) for i in range(3)]
    good("animated.gif", _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0), "animated GIF")
    good("animated.webp", _save(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100), "animated WebP")
    good("progressive.jpg", _jpeg(_noise((300, 200), 11), progressive=True), "progressive JPEG")
    good("UPPER CASE.JPEG", _jpeg(_noise((64, 48), 12)), "upper-case extension")
    good("png_named.jpg", _png(_noise((64, 48), 13)), "PNG data under a .jpg name")
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
        good("photo.heic", _save(_noise((96, 64), 14), "HEIF"), "HEIC")
    except Exception as exc:  # pragma: no cover - only without a HEIF encoder
        c.notes.append(f"no HEIC case: {exc}")
    # --- good: EXIF nonsense -----------------------------------------------------------------
    base = _jpeg(_noise((120, 80), 15))
    good("garbage_exif.jpg", jpeg_with_app1(base, b"Exif\x00\x00" + _rng(16).randbytes(600)), "random bytes as EXIF")
    good("exif_bad_values.jpg",
         jpeg_with_app1(base, exif_bytes(orientation=9, make=b"\xff\xfe\x00garbage", datetime=b"0000:00:00 99:99:99")),
         "EXIF with impossible orientation and date")
    good("exif_truncated.jpg", jpeg_with_app1(base, exif_bytes(orientation=6, make=b"Canon")[:20]), "EXIF cut short")
    rot = good("exif_rotated.jpg", jpeg_with_app1(base, exif_bytes(orientation=6, make=b"Canon",
                                                                      datetime=b"2021:07:04 12:30:00")),
               "EXIF orientation 6 (rotated)")
    c.rotated[rot] = (80, 120)
    # --- good: names and paths ---------------------------------------------------------------
    names = ["with space.jpg", "ünïcödé ñame.jpg", "emoji 📷🌅.png", "new\nline.jpg", "tab\there.jpg",
             "quote's \"double\".jpg", "back\\slash.jpg", "percent%_under.jpg", "semi;colon -- drop.jpg",
             "-leading dash.jpg", "日本語の写真.jpg", "carriage\rreturn.png"]
    for i, n in enumerate(names):
        img = _noise((48 + i, 40), 100 + i)
        good(f"names/{n}", _png(img) if n.endswith(".png") else _jpeg(img), f"odd file name {n!r}")
    good("sub dir with spaces/ünï/nested.jpg", _jpeg(_noise((50, 40), 30)), "nested folders with odd names")
    long_name = "L" * (NAME_MAX - 4) + ".jpg"
    good(f"long/{long_name}", _jpeg(_noise((40, 40), 31)), "255-byte file name")
    deep_ok = _deep_dir(root / "deep_ok", PATH_MAX - 60)
    _write_at(deep_ok, "deep.jpg", _jpeg(_noise((40, 30), 32)))
    c.good[str(deep_ok / "deep.jpg")] = "path of about 4040 bytes"
    deep_bad = _deep_dir(root / "deep_too", PATH_MAX + 300)
    _write_at(deep_bad, "too_deep.jpg", _jpeg(_noise((40, 30), 33)))
    c.bad_prefix[str(deep_bad / "too_deep.jpg")] = ("name too long", "too long")
    # --- good (or bad): symlinks ----------------------------------------------------------------
    os.symlink(plain, root / "link_to_plain.jpg")
    c.good[str(root / "link_to_plain.jpg")] = "symbolic link to an image"
    loop = root / "loop"
    loop.mkdir()
    good("loop/inside_loop.jpg", _jpeg(_noise((40, 30), 34)), "image beside a symlink loop")
    os.symlink("..", loop / "back_up")  # loop/back_up → root: must not index anything twice
    os.symlink(".", loop / "self_dir")
    os.symlink("self_loop.jpg", root / "self_loop.jpg")
    c.bad[str(root / "self_loop.jpg")] = ("symbolic link", "too many levels", "cannot stat")
    os.symlink(str(root / "does_not_exist.jpg"), root / "broken_link.jpg")
    c.bad[str(root / "broken_link.jpg")] = ("broken symbolic link",)
    # --- huge, legitimate ----------------------------------------------------------------------
    if huge:
        big = Image.linear_gradient("L").resize((20000, 20000))
        good("huge_20000.jpg", _jpeg(big, quality=70), "20000×20000 JPEG (decoded at 1/8 scale)")
        del big
        zero_rows = b"\x00" * (20000 + 1)
        # A 20000×20000 PNG: legitimate, but 400 MP has to be decoded whole (PNG has no reduced
        # decode), which is past the 250 MP limit: skipped with a clear reason.
        bad("huge_20000.png", png_raw(20000, 20000, 8, 0, zero_rows * 20000, level=1), "mp limit", "too large")
    # --- bad: broken data --------------------------------------------------------------------
    bad("empty.jpg", b"", "empty")
    bad("empty.png", b"", "empty")
    full = _jpeg(_noise((640, 480), 40), quality=92)
    bad("truncated.jpg", full[: len(full) // 2], "truncated", "damaged")
    fullpng = _png(_noise((300, 300), 41))
    bad("truncated.png", fullpng[: len(fullpng) // 2], "truncated", "damaged")
    bad("header_only.jpg", full[:600], "truncated", "damaged")
    bad("random.jpg", _rng(42).randbytes(5000), "not an image")
    bad("random.webp", _rng(43).randbytes(333), "not an image")
    bad("text.png", b"This is a text file, not a picture.\n" * 20, "not an image")
    bad("page.gif", b"<!doctype html><html><body>404 Not Found</body></html>", "not an image")
    bad("bomb.png", png_raw(100_000, 100_000, 8, 2, b"\x00" * 32), "limit", "bomb")
    bad("bomb.jpg", jpeg_huge_header(65000, 65000), "limit", "bomb")
    bad("bomb.gif", gif_huge_header(65535, 65535), "limit", "bomb")
    ztxt = _chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"A" * (64 << 20), 9))
    small_png = _png(Image.new("RGB", (8, 8)))
    bad("text_bomb.png", small_png[:33] + ztxt + small_png[33:], "too large", "damaged")
    sparse = root / "sparse_2gib.jpg"  # a 2 GiB file that takes no disk space: refused unread
    with open(sparse, "wb") as fh:
        fh.write(_jpeg(_noise((32, 32), 48)))
        fh.truncate(2 << 30)
    c.bad[str(sparse)] = ("too large",)
    # --- bad: not regular files (must never be opened) ---------------------------------------
    os.mkfifo(root / "fifo.jpg")
    c.bad[str(root / "fifo.jpg")] = ("not a regular file",)
    c.special.append(str(root / "fifo.jpg"))
    if os.path.exists("/dev/zero"):
        os.symlink("/dev/zero", root / "dev_zero.png")  # reading it would never end
        c.bad[str(root / "dev_zero.png")] = ("not a regular file",)
        c.special.append(str(root / "dev_zero.png"))
    try:
        os.mknod(root / "char_device.jpg", 0o644 | stat.S_IFCHR, os.makedev(1, 5))  # a /dev/zero node
        c.bad[str(root / "char_device.jpg")] = ("not a regular file",)
        c.special.append(str(root / "char_device.jpg"))
    except OSError as exc:
        c.notes.append(f"no device-node case: mknod refused ({errno.errorcode.get(exc.errno, exc.errno)})")
    # --- bad: a name that is not UTF-8 (legal on Linux, unstorable as text) -----------------------
    try:
        raw = os.fsencode(str(root)) + b"/not_utf8_\xff\xfe.jpg"
        with open(raw, "wb") as fh:
            fh.write(_jpeg(_noise((30, 30), 44)))
        shown = raw.decode("utf-8", "replace")
        c.bad[shown] = ("utf-8",)
    except OSError as exc:  # pragma: no cover - filesystems that insist on UTF-8
        c.notes.append(f"no non-UTF-8 name case: {exc}")
    # --- unreadable file and folder (expectations depend on who reads: see expected()) ------
    unreadable = _write(root / "unreadable.jpg", _jpeg(_noise((50, 50), 45)))
    locked_dir = root / "locked_dir"
    locked_img = _write(locked_dir / "inside_locked.jpg", _jpeg(_noise((50, 50), 46)))
    os.chmod(unreadable, 0)
    os.chmod(locked_dir, 0)
    c.unreadable += [unreadable, str(locked_dir)]
    c.perm_good = {unreadable: "chmod 000 file (read anyway: privileged reader)",
                   locked_img: "file in a chmod 000 folder (read anyway: privileged reader)"}
    c.perm_bad = {unreadable: ("permission denied",), str(locked_dir): ("permission denied",)}
    # --- ignored: not image names, hidden --------------------------------------------------------
    for rel in ("notes.txt", "raw_data.bin", ".hidden.jpg", ".hidden_dir/secret.jpg"):
        data = b"hello" if rel.endswith((".txt", ".bin")) else _jpeg(_noise((20, 20), 47))
        c.ignored.append(_write(root / rel, data))
    return c


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _gif(img: Image.Image) -> bytes:
    return _save(img, "GIF")


def restore_permissions(c: Corpus) -> None:
    """Give chmod-000 paths their modes back so pytest can clean up (as a non-root user)."""
    for p in c.unreadable:
        try:
            os.chmod(p, 0o755 if os.path.isdir(p) else 0o644)
        except OSError:
            pass


def tree_state(root: str | os.PathLike[str]) -> dict[bytes, tuple]:
    """Every entry below `root` (bytes path relative to it) → what it is, never opening a FIFO
    or a device: regular files by content hash, links by target, everything by mode, size,
    mtime and ctime (a rename, a chmod or a write anywhere changes the fingerprint; files over
    HASH_LIMIT are fingerprinted by those and their block count only). Walks with
    folder descriptors, so paths longer than PATH_MAX are covered too."""
    out: dict[bytes, tuple] = {}
    root_b = os.fsencode(str(root))
    for dirpath, dirnames, filenames, dfd in os.fwalk(root_b, follow_symlinks=False):
        rel_dir = os.path.relpath(dirpath, root_b)
        st = os.stat(dfd)
        out[rel_dir] = ("dir", st.st_mode, st.st_mtime_ns, st.st_ctime_ns)
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            rel = os.path.normpath(os.path.join(rel_dir, name))
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            facts: tuple = (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            if stat.S_ISLNK(st.st_mode):
                facts += (os.readlink(name, dir_fd=dfd),)
            elif stat.S_ISREG(st.st_mode) and st.st_size > HASH_LIMIT:
                facts += ("large", st.st_blocks)  # any write moves mtime/ctime; reading 2 GiB proves no more
            elif stat.S_ISREG(st.st_mode):
                try:
                    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dfd)
                except PermissionError:
                    facts += ("unreadable",)
                else:
                    with os.fdopen(fd, "rb") as fh:
                        facts += (hashlib.blake2b(fh.read()).hexdigest(),)
            else:
                facts += (st.st_rdev,)
            out[rel] = facts
    return out
