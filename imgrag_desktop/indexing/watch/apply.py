"""Queued work → the index: each operation is checked against the disk when it runs.

Events are old news by the time they are applied (a moved file may have moved on, a deleted
folder may be back), so every step looks at the disk first, and deletions are applied only
while the root is present: an unplugged drive keeps its rows.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable

from imgrag_desktop.indexing import scanner
from imgrag_desktop.indexing.watch.events import WatchEvent, WorkQueue, is_partial_name
from imgrag_desktop.indexing.watch.settle import signature
from imgrag_desktop.store import sql_in, sql_str


class Applier:
    """Runs the queued operations of a `WorkQueue` through the indexer (the caller holds the
    write lock). `stats` and `changed` (rows changed since the last optimize) are counted here."""

    def __init__(self, indexer: Any, store: Any, work: WorkQueue, *, settle_s: float, batch_max: int,
                 stats: dict[str, int], emit: Callable[[WatchEvent], None], clock: Callable[[], float],
                 stop: threading.Event, cancel: threading.Event, root_present: Callable[[str], bool],
                 publish: Callable[[], None]) -> None:
        self.indexer = indexer
        self.store = store
        self.work = work
        self.settle_s = settle_s
        self.batch_max = batch_max
        self.stats = stats
        self.emit = emit
        self.clock = clock
        self.stop = stop
        self.cancel = cancel
        self.root_present = root_present
        self.publish = publish
        self.changed = 0

    def dir_moves(self) -> bool:
        w = self.work
        if not w.dir_moves:
            return False
        moves, w.dir_moves = w.dir_moves, {}
        for src, (dest, root, at) in moves.items():
            if not os.path.isdir(dest):
                if not os.path.lexists(src):
                    w.queue_dir_delete(src, root, at)  # moved, then deleted
                continue
            n = self.indexer.move_folder(src, dest, root)
            self.changed += n
            self.stats["moved"] += n
            if n:
                self.emit(WatchEvent("moved", src, root, dest=dest, count=n))
            w.dir_scans[dest] = (root, self.clock())  # files the index did not hold yet
        return True

    def dir_scans(self, now: float) -> None:
        w = self.work
        if not w.dir_scans:
            return
        scans, w.dir_scans = w.dir_scans, {}
        for d, (root, _) in scans.items():
            if self.stop.is_set():
                return
            res = scanner.scan([d], w.ignore_hidden, cancelled=self.stop.is_set,
                               exclude=getattr(self.indexer, "exclude", []))
            known = self.store.file_states(f"starts_with(path, {sql_str(d + os.sep)})")
            for fe in res.files:
                if fe.path in w.settling.files or w.ignored_rel(fe.path, root) or is_partial_name(fe.path):
                    continue
                k = known.get(fe.path)
                if k is None or k[:2] != (fe.size, fe.mtime_ns):
                    w.touch(fe.path, root, now)
            on_disk = {fe.path for fe in res.files}
            keep = tuple(u.rstrip(os.sep) + os.sep for u in res.unreadable)
            for path in known:
                if path not in on_disk and not (keep and path.startswith(keep)):
                    w.queue_delete(path, root, now)

    def file_moves(self) -> bool:
        w = self.work
        if not w.file_moves:
            return False
        moves, w.file_moves = w.file_moves, {}
        rows = self.store.rows(list(moves), ["size", "mtime_ns"])
        by_root: dict[str, dict[str, str]] = {}
        now = self.clock()
        for src, (dest, root, at) in moves.items():
            sig = signature(dest)
            row = rows.get(src)
            if sig is None:  # moved on again or deleted: later events say where
                if row is not None and not os.path.lexists(src):
                    w.queue_delete(src, root, at)
                continue
            if row is not None and (row["size"], row["mtime_ns"]) == sig:
                by_root.setdefault(root, {})[src] = dest
            else:
                # Not indexed yet, or changed on the way: index the new name (reusing the old row's
                # vectors when the content matches), then forget the old one.
                w.touch(dest, root, now, closed=True)
                if not os.path.lexists(src):
                    w.queue_delete(src, root, at)
        for root, m in by_root.items():
            self.indexer.move_paths(m, root)
            self.store.clear_failures(list(m))
            moved = self.store.rows(list(m.values()), ["path"])
            for src, dest in m.items():
                if dest in moved:
                    self.stats["moved"] += 1
                    self.emit(WatchEvent("moved", src, root, dest=dest))
                else:
                    w.touch(dest, root, now, closed=True)
            self.changed += len(m)
        return bool(by_root)

    def ready(self, now: float) -> bool:
        """Index the settled files in chunks of `batch_max`, each committed before the next."""
        files = self.work.settling.files
        wrote = False
        for root, paths in self.work.settling.take_ready(now).items():
            for i in range(0, len(paths), self.batch_max):
                if self.stop.is_set():
                    return wrote
                chunk = paths[i : i + self.batch_max]
                for pth in chunk:
                    files.pop(pth, None)
                self.publish()
                wrote |= self._index_chunk(chunk, root)
        return wrote

    def _index_chunk(self, paths: list[str], root: str) -> bool:
        where = sql_in("path", paths)
        before = self.store.file_states(where)
        report = self.indexer.index_files(paths, root=root, cancel=self.cancel)
        after = self.store.file_states(where)
        failed = {fl.path: fl.reason for fl in report.failures}
        n = 0
        for path in paths:
            if path in failed:
                self.stats["failed"] += 1
                self.emit(WatchEvent("failed", path, root, detail=failed[path]))
            elif path in after and after[path] != before.get(path):
                n += 1
                self.emit(WatchEvent("updated" if path in before else "added", path, root))
        self.stats["indexed"] += n
        self.changed += n
        sidecars = (getattr(report, "extra", None) or {}).get("sidecars_changed", 0)  # their photos' metadata is re-read
        return bool(n or failed or sidecars)

    def deletes(self, now: float) -> bool:
        w = self.work
        wait = 2 * self.settle_s
        due = {p: r for p, (r, at) in w.deletes.items() if now - at >= wait}
        dirs = {p: r for p, (r, at) in w.dir_deletes.items() if now - at >= wait}
        if not due and not dirs:
            return False
        for p in due:
            del w.deletes[p]
        for p in dirs:
            del w.dir_deletes[p]
        wrote = False
        for d, root in dirs.items():
            if not self.root_present(root):
                continue  # unplugged: keep the rows, the root check takes it offline
            if os.path.isdir(d):
                w.dir_scans[d] = (root, now)  # re-created meanwhile: compare with the disk instead
                continue
            n = self.indexer.remove_folder(d)
            if n:
                wrote = True
                self.stats["removed"] += n
                self.changed += n
                self.emit(WatchEvent("removed", d, root, count=n))
        by_root: dict[str, list[str]] = {}
        for p, root in due.items():
            if not os.path.lexists(p) and self.root_present(root):
                by_root.setdefault(root, []).append(p)
        for root, paths in by_root.items():
            had = self.store.rows(paths, ["path"])
            self.indexer.remove_paths(paths)
            wrote = True
            for p in paths:
                if p in had:
                    self.stats["removed"] += 1
                    self.emit(WatchEvent("removed", p, root))
            self.changed += len(had)
        return wrote
