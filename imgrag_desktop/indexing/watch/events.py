"""What the watcher reports (`WatchEvent`), and how raw watchdog events become queued work.

Raw events are not applied as they come: they are sorted into per-path queues (files settling,
moves, deletions, folders to compare with the disk), so that a burst coalesces and a move
seen as a delete plus a create can still reuse the deleted row's vectors. Only the watcher's
worker thread touches these queues, so they need no lock.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

from imgrag_desktop import imaging
from imgrag_desktop.indexing import scanner
from imgrag_desktop.indexing.watch.roots import OFFLINE, STOPPED, Folder
from imgrag_desktop.indexing.watch.settle import Settler, Settling

# Names a browser or copier gives a file while it is still arriving; the finished file appears by
# a rename, which the watcher sees as a move from an ignored name (indexed as new).
PARTIAL_SUFFIXES = frozenset({".part", ".partial", ".crdownload", ".download", ".opdownload", ".tmp", ".temp",
                              ".filepart", ".!qb", ".!ut", ".swp", ".kate-swp", ".dtapart"})


def is_partial_name(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in PARTIAL_SUFFIXES


@dataclass(frozen=True)
class WatchEvent:
    """One change the watcher made to the index, or a folder's change of state.

    action: "added" | "updated" | "moved" | "removed" | "failed" (the file was recorded as
    skipped, `detail` says why) | "error" (a step of the watcher failed, `detail` says why; the
    next reconciliation scan redoes what was lost) | "reconciled" (a folder scan finished; `detail` sums it up,
    `count` is the number of rows it changed) | "state" (the folder's state changed to
    `detail`) | "held" (a scan found many of the folder's images gone: nothing removed,
    `detail` says how to confirm, `count` how many). For a folder moved or removed as a whole, `path` (and `dest`) are the folder and
    `count` the number of rows it carried.
    """

    action: str
    path: str
    root: str
    dest: str = ""
    detail: str = ""
    count: int = 1
    at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {"event": self.action, "path": self.path, "dest": self.dest or None, "root": self.root,
                "detail": self.detail, "count": self.count, "at": round(self.at, 3)}

    def describe(self) -> str:
        if self.action == "moved":
            return f"moved {self.path} -> {self.dest}" + (f" ({self.count} images)" if self.count != 1 else "")
        if self.action == "removed" and self.count != 1:
            return f"removed {self.path} ({self.count} images)"
        if self.action == "failed":
            return f"failed {self.path}: {self.detail}"
        if self.action == "error":
            return f"error{' in ' + self.path if self.path else ''}: {self.detail}"
        if self.action == "state":
            return f"folder {self.path}: {self.detail}"
        if self.action == "reconciled":
            return f"folder {self.path}: scanned ({self.detail})"
        return f"{self.action} {self.path}"


class WorkQueue:
    """The work that raw events leave behind, keyed by path so that repeated events coalesce.

    `settling` holds the files waiting to settle; deletions wait there too (see
    `WatchService`), moves are chained (a → b → c is one move a → c), and a created or
    moved-in folder is queued for a comparison with the index rather than trusted event by event.
    """

    def __init__(self, settling: Settler, ignore_hidden: bool, exclude: Iterable[str]) -> None:
        self.settling = settling
        self.ignore_hidden = ignore_hidden
        self.exclude = tuple(exclude)
        self.file_moves: dict[str, tuple[str, str, float]] = {}  # src → (dest, root, at)
        self.dir_moves: dict[str, tuple[str, str, float]] = {}
        self.deletes: dict[str, tuple[str, float]] = {}  # path → (root, at)
        self.dir_deletes: dict[str, tuple[str, float]] = {}
        self.dir_scans: dict[str, tuple[str, float]] = {}

    def moves_or_deletes(self) -> bool:
        return bool(self.deletes or self.dir_deletes or self.file_moves or self.dir_moves or self.dir_scans)

    def empty(self) -> bool:
        return not self.settling.files and not self.moves_or_deletes()

    def drop_below(self, prefix: str) -> None:
        """Forget queued work below a root (every queued path of a root lies below it)."""
        for d in (self.settling.files, self.deletes, self.dir_deletes, self.dir_scans, self.file_moves,
                  self.dir_moves):
            for k in [k for k in d if k.startswith(prefix)]:
                del d[k]

    # Which paths count ---------------------------------------------------------------------
    def ignored_rel(self, path: str, root: str) -> bool:
        if self.exclude and (path + os.sep).startswith(self.exclude):
            return True
        if not self.ignore_hidden:
            return False
        rel = os.path.relpath(path, root)
        return any(scanner.is_ignored_name(part) for part in rel.split(os.sep))

    def wanted_file(self, path: str, root: str) -> bool:
        return (imaging.is_image_name(path) or path.lower().endswith(".xmp")) and not is_partial_name(path) \
            and not self.ignored_rel(path, root)

    def wanted_dir(self, path: str, root: str) -> bool:
        return not self.ignored_rel(path, root)

    # Events -> queued operations -------------------------------------------------------------
    def on_fs_event(self, f: Folder, ev: Any, at: float) -> None:
        from watchdog import events as e

        root = f.root
        if f.state in (OFFLINE, STOPPED):
            return  # late event from a detached observer
        src = os.fsdecode(ev.src_path)
        if not (src == root or src.startswith(f.prefix)):
            return
        if src == root:
            if isinstance(ev, (e.DirDeletedEvent, e.DirMovedEvent)):
                f.dead = True  # the root itself went away: its watch is gone, check it now
                f.next_probe = 0.0
            return
        if ev.is_directory:
            if isinstance(ev, e.DirMovedEvent):
                if ev.is_synthetic:
                    return  # a sub-folder of a moved folder: the prefix move covers it
                dest = os.fsdecode(ev.dest_path)
                src_ok = self.wanted_dir(src, root)
                dest_ok = bool(dest) and dest.startswith(f.prefix) and self.wanted_dir(dest, root)
                if src_ok and dest_ok:
                    self.queue_dir_move(src, dest, root, at)
                elif src_ok:
                    self.queue_dir_delete(src, root, at)
                elif dest_ok:
                    self.dir_scans[dest] = (root, at)
            elif isinstance(ev, e.DirCreatedEvent):
                if self.wanted_dir(src, root):
                    self.dir_scans[src] = (root, at)
            elif isinstance(ev, e.DirDeletedEvent):
                if self.wanted_dir(src, root):
                    self.queue_dir_delete(src, root, at)
            return
        if isinstance(ev, e.FileMovedEvent):
            if ev.is_synthetic:
                return
            dest = os.fsdecode(ev.dest_path)
            src_ok = self.wanted_file(src, root)
            dest_ok = bool(dest) and dest.startswith(f.prefix) and self.wanted_file(dest, root)
            p = self.settling.files.pop(src, None)
            if dest_ok:
                self.deletes.pop(dest, None)
            if src_ok and dest_ok:
                # a → b → c before anything ran: one move a → c.
                first = next((s for s, (d, _, _) in self.file_moves.items() if d == src), src)
                self.file_moves.pop(first, None)
                self.file_moves[first] = (dest, root, at)
                if p is not None:
                    self.touch(dest, root, at, closed=True, base=p)
            elif src_ok:
                self.queue_delete(src, root, at)
            elif dest_ok:
                self.touch(dest, root, at, closed=True)  # e.g. photo.jpg.part → photo.jpg
            return
        if isinstance(ev, e.FileDeletedEvent):
            if self.wanted_file(src, root):
                self.settling.files.pop(src, None)
                self.queue_delete(src, root, at)
            return
        if isinstance(ev, (e.FileCreatedEvent, e.FileModifiedEvent, e.FileAttribEvent, e.FileClosedEvent)):
            if self.wanted_file(src, root):
                self.touch(src, root, at, writing=isinstance(ev, e.FileModifiedEvent) and f.close_events,
                           closed=isinstance(ev, e.FileClosedEvent))

    def touch(self, path: str, root: str, at: float, writing: bool = False, closed: bool = False,
              base: Settling | None = None) -> None:
        """A file changed: (re)start its settling, and cancel a deletion queued for it."""
        if self.settling.touch(path, root, at, writing=writing, closed=closed, base=base):
            self.deletes.pop(path, None)

    def queue_delete(self, path: str, root: str, at: float) -> None:
        self.deletes[path] = (root, at)

    def queue_dir_delete(self, path: str, root: str, at: float) -> None:
        prefix = path + os.sep
        files = self.settling.files
        for k in [k for k in files if k.startswith(prefix)]:
            del files[k]
        for k in [k for k in self.deletes if k.startswith(prefix)]:
            del self.deletes[k]  # the folder delete covers them
        self.dir_scans.pop(path, None)
        self.dir_deletes[path] = (root, at)

    def queue_dir_move(self, src: str, dest: str, root: str, at: float) -> None:
        sp, dp = src + os.sep, dest + os.sep
        files = self.settling.files
        for k in [k for k in files if k.startswith(sp)]:
            files[dp + k[len(sp):]] = files.pop(k)
        for k in [k for k in self.dir_scans if k == src or k.startswith(sp)]:
            r, t = self.dir_scans.pop(k)
            self.dir_scans[dest + k[len(src):]] = (r, t)
        first = next((s for s, (d, _, _) in self.dir_moves.items() if d == src), src)
        self.dir_moves.pop(first, None)
        self.dir_moves[first] = (dest, root, at)
