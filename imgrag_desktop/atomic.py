"""Files written whole or not at all.

Settings, calibration, the offline-roots record, thumbnails, exports and menu entries are read
by other processes (the window, `imgrag`, the desktop) while they may be written. Each is written
to a temporary file beside the destination and renamed over it, so a reader sees the old file or
the new one, and a crash or a full disk mid-write leaves the old file and no stray temp file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator


@contextlib.contextmanager
def atomic_file(dest: str | os.PathLike[str], mode: str = "w", *, prefix: str | None = None, suffix: str = ".tmp",
                fsync: bool = False, chmod: int | None = None) -> Iterator[IO[Any]]:
    """Open a temporary file beside `dest` for writing; on a clean exit it replaces `dest`.

    `fsync`: flush it to the disk before the rename (a power cut then leaves the old file or the
    new one, not an empty one). `chmod`: the new file's mode (temporary files are created 0600).
    An exception inside the block removes the temporary file and leaves `dest` as it was.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_file writes a whole file: mode 'w' or 'wb', not {mode!r}")
    path = Path(dest)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=prefix or f".{path.name}-", suffix=suffix, dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as fh:
            yield fh
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        if chmod is not None:
            os.chmod(tmp, chmod)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_json(dest: str | os.PathLike[str], data: Any, *, indent: int | None = 1, sort_keys: bool = False,
               fsync: bool = False, prefix: str | None = None, default: Any = None) -> None:
    """`data` as JSON into `dest`, atomically (see `atomic_file`)."""
    with atomic_file(dest, prefix=prefix, fsync=fsync) as fh:
        json.dump(data, fh, indent=indent, sort_keys=sort_keys, default=default)


def write_bytes(dest: str | os.PathLike[str], data: bytes, *, chmod: int | None = None,
                prefix: str | None = None) -> None:
    """`data` into `dest`, atomically (see `atomic_file`)."""
    with atomic_file(dest, "wb", prefix=prefix, chmod=chmod) as fh:
        fh.write(data)
