"""Storage-engine failures turned into one line a user can act on.

LanceDB reports a damaged table as a Rust error with a source location, and a full disk as
an OS error somewhere in the chain; neither says what to do. These helpers tell them apart
from plain bugs (a bad filter), which are re-raised as they are.
"""

from __future__ import annotations

import re
from pathlib import Path

from imgrag_desktop.types import ImgragError


def damaged(db_dir: Path, name: str, exc: BaseException) -> ImgragError:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    first = re.sub(r",\s*/\S+\.rs:\d+:\d+", "", first)[:200]  # drop the Rust source location
    return ImgragError(
        f"the index table {name!r} in {db_dir} is damaged ({first}); "
        "rebuild it with `imgrag index --rebuild PATH` or delete the data dir's index.lancedb folder"
    )


def looks_damaged(exc: BaseException) -> bool:
    """Storage-engine I/O errors (a data file missing or unreadable), as opposed to a bad
    filter (ValueError 'Invalid input, ... parsing/planning/Schema error'), which is a bug
    to report as it is."""
    text = str(exc)
    if any(k in text for k in ("metadata region", "Protobuf", "file size is too small", "corrupt", "Not found:")):
        return True
    return isinstance(exc, (RuntimeError, OSError)) and "lance" in text.lower()
