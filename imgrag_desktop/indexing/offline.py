"""Offline roots: telling an unmounted drive from an emptied folder, and holding mass removals.

An unmounted drive looks like an empty folder (or a folder on another device, the mount point
itself); a dead network share does not answer at all. Removing rows then would throw away
every caption, name and correction, so a scan only removes rows on positive evidence: the root
is there, is the same root as before, and the file is not. What "the same root" means is kept
in `roots.json` in the data dir (device and inode of each root, how many files it held), a
small plain file written atomically after each full scan of a root that was online.

A root is **offline** (its rows kept, shown greyed, searchable) when it is missing, does not
answer within the timeout, is empty where it held files, or sits on another device than
before and fewer than `SAME_LIBRARY_FRACTION` of its indexed files are found there (an NFS
share remounted after a reboot often gets a new device number but holds the same files:
that is accepted). A root that is online but lost more than `MASS_FRACTION` of its files in
one scan (and at least `MASS_MIN` files) has those removals **held** until the user confirms.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

from imgrag_desktop.atomic import write_json
from imgrag_desktop.types import ImgragError

ROOTS_FILE = "roots.json"
MASS_FRACTION = 0.2  # more than this share of a root gone in one scan: ask first
MASS_MIN = 5  # … and at least this many files (deleting 1 of 3 photos is not a mass disappearance)
SAME_LIBRARY_FRACTION = 0.8  # on a new device, this share of the indexed files found: the same library


@dataclass
class RootRecord:
    """What a root looked like the last time it was scanned online."""

    dev: int
    ino: int
    files: int = 0
    mount: bool = False
    seen: float = 0.0
    offline: str = ""  # the reason, while offline ("" when online)
    offline_since: float = 0.0


@dataclass
class RootCheck:
    """The verdict on one root after a scan."""

    root: str
    offline: str = ""  # reason; "" = online
    gone: list[str] = field(default_factory=list)  # rows whose files are gone (positive evidence)
    held: bool = False  # a mass disappearance: removal waits for a confirmation
    indexed: int = 0


class RemovalHeld(ImgragError):
    """A scan found most of a root gone: nothing was removed; the user must confirm."""


def held_message(held: dict[str, tuple[int, int]], flag: str = "--confirm-removal") -> str:
    """One line for IndexReport.held (root → (gone, of))."""
    parts = [f"{gone} of {of} images under {root}" for root, (gone, of) in held.items()]
    return (f"{'; '.join(parts)} are gone from disk (more than {MASS_FRACTION:.0%} in one scan): "
            f"their rows were kept; check the drive, then run again with {flag} to remove them")


class RootRegistry:
    """roots.json: root → RootRecord. Loaded once per run; saved atomically (temp file + rename)."""

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = Path(path) if path is not None else None
        self.records: dict[str, RootRecord] = {}
        if self.path is not None:
            self.records = load_records(self.path)

    @classmethod
    def for_data_dir(cls, data_dir: str | os.PathLike[str] | None) -> "RootRegistry":
        return cls(Path(data_dir) / ROOTS_FILE if data_dir is not None else None)

    def get(self, root: str) -> RootRecord | None:
        return self.records.get(root)

    def offline(self) -> dict[str, str]:
        """Roots offline at their last scan (or watcher check): root → reason."""
        return {r: rec.offline for r, rec in self.records.items() if rec.offline}

    def mark_offline(self, root: str, reason: str) -> None:
        rec = self.records.get(root)
        if rec is None:
            rec = self.records[root] = RootRecord(dev=-1, ino=-1)
        if not rec.offline:
            rec.offline_since = time.time()
        rec.offline = reason

    def mark_online(self, root: str, dev: int, ino: int, files: int, mount: bool) -> None:
        self.records[root] = RootRecord(dev, ino, files, mount, time.time())

    def forget(self, root: str) -> None:
        self.records.pop(root, None)

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"version": 1, "roots": {r: asdict(rec) for r, rec in sorted(self.records.items())}}
        write_json(self.path, data, indent=1, fsync=True, prefix=".roots-")


def load_records(path: Path) -> dict[str, RootRecord]:
    """The records of roots.json; a missing or unreadable file is an empty registry (the
    registry only ever makes removal stricter, so losing it loses nothing)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        roots = raw.get("roots", {}) if isinstance(raw, dict) else {}
        out = {}
        for root, rec in roots.items():
            if isinstance(rec, dict):
                known = {k: v for k, v in rec.items() if k in RootRecord.__dataclass_fields__}
                out[str(root)] = RootRecord(**known)
        return out
    except (OSError, ValueError, TypeError):
        return {}


def offline_roots(data_dir: str | os.PathLike[str] | None) -> dict[str, str]:
    """Roots offline at their last check: root → reason (for search and the window)."""
    return RootRegistry.for_data_dir(data_dir).offline()


def judge(root: str, ident: tuple[int, int, bool] | None, scan_reason: str, found: set[str],
          indexed: Iterable[str], record: RootRecord | None, confirmed: bool = False) -> RootCheck:
    """Decide whether `root` is online and which of its indexed rows may be removed.

    `ident`: (st_dev, st_ino, is a mount point) of the root as scanned, None when it could not be
    stat'ed; `scan_reason`: why the scan could not cover it ("" when it could); `found`: the
    paths the scan saw (under this root and others); `indexed`: the paths the index holds under it.
    `confirmed` (the user said so) lets a new device and a mass disappearance through, but
    never a root that is missing or does not answer.
    """
    indexed = list(indexed)
    check = RootCheck(root, indexed=len(indexed))
    if ident is None or scan_reason:
        check.offline = scan_reason or "folder not found (unplugged or removed?)"
        return check
    gone = [p for p in indexed if p not in found]
    if record is not None and record.dev >= 0 and not confirmed:
        present = len(indexed) - len(gone)
        if record.mount and not ident[2] and gone:
            check.offline = "no longer a mount point (drive unmounted?)"
            return check
        if record.dev != ident[0] and present < SAME_LIBRARY_FRACTION * len(indexed):
            # Another drive there. A new inode on the same drive is the folder deleted and
            # re-created (or another folder renamed in): its files decide, as in any folder.
            check.offline = "another drive is there now (device changed)"
            return check
    prefix = root.rstrip(os.sep) + os.sep
    if indexed and len(gone) == len(indexed) and not confirmed and not any(p.startswith(prefix) for p in found):
        # Empty, not merely renewed: a folder whose every old picture gave way to new ones (a
        # folder deleted and re-created, a camera card's folder emptied and refilled) is there.
        check.offline = "empty where it held images (an unmounted drive?)"
        return check
    check.gone = gone
    check.held = (not confirmed and len(gone) >= MASS_MIN and len(gone) > MASS_FRACTION * len(indexed))
    return check
