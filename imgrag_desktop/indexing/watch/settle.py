"""When a changed file is complete enough to index.

A file is read once it has settled: no event for a while and its size and mtime unchanged
meanwhile, or closed after writing where the platform reports that. So a burst, a slow copy or
a download costs one index pass per finished file instead of one per event. These checks stat
the file, which can block for long on a hung network share: nothing here runs under a lock that
another thread waits on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from imgrag_desktop.indexing import scanner


@dataclass
class Settling:
    root: str
    last_event: float
    sig: tuple[int, int] | None
    sig_at: float
    writing: bool = False  # modified and not yet closed (only where close events exist)
    closed: bool = False  # closed after writing, or renamed into place: complete


def signature(path: str) -> tuple[int, int] | None:
    """(size, mtime_ns), or None when the file is gone or unreadable."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class SettleRules:
    """How long a file must keep still (see `WatchService` for what each wait is for)."""

    settle_s: float = 1.0
    closed_settle_s: float = 0.25
    write_open_grace_s: float = 30.0
    empty_grace_s: float = 10.0

    def verdict(self, path: str, p: Settling, now: float) -> str:
        """'ready', 'wait' or 'gone' for one settling file (updates its signature)."""
        need = self.closed_settle_s if p.closed else self.settle_s
        if now - p.last_event < need:
            return "wait"
        sig = signature(path)
        if sig is None:
            return "gone"
        if sig != p.sig:
            p.sig, p.sig_at = sig, now
            return "wait"
        still = now - p.sig_at
        if still < need:
            return "wait"
        if p.writing and still < self.write_open_grace_s:
            return "wait"
        if sig[0] == 0 and still < self.empty_grace_s:
            return "wait"
        return "ready"


class Settler:
    """The files waiting to settle, by path. Used by the watcher's worker thread only."""

    def __init__(self, rules: SettleRules, ignore_hidden: bool) -> None:
        self.rules = rules
        self.ignore_hidden = ignore_hidden
        self.files: dict[str, Settling] = {}

    def touch(self, path: str, root: str, at: float, writing: bool = False, closed: bool = False,
              base: Settling | None = None) -> bool:
        """Note an event for `path`; False when the file is to be ignored (Windows' hidden attribute)."""
        try:
            st = os.stat(path)
            sig: tuple[int, int] | None = (st.st_size, st.st_mtime_ns)
            if self.ignore_hidden and scanner.is_hidden_stat(st):
                return False
        except OSError:
            sig = None
        p = self.files.get(path) or base
        if p is None:
            p = Settling(root, at, sig, at)
        p.root = root
        p.last_event = max(p.last_event, at)
        if sig != p.sig:
            p.sig, p.sig_at = sig, at
        if writing:
            p.writing, p.closed = True, False
        if closed:
            p.writing, p.closed = False, True
        self.files[path] = p
        return True

    def take_ready(self, now: float) -> dict[str, list[str]]:
        """The settled files by root (still queued: the caller pops each chunk it indexes);
        files that vanished are forgotten."""
        ready: dict[str, list[str]] = {}
        for path, p in list(self.files.items()):
            verdict = self.rules.verdict(path, p, now)
            if verdict == "gone":
                del self.files[path]
            elif verdict == "ready":
                ready.setdefault(p.root, []).append(path)
        return ready

    def counts(self) -> dict[str, int]:
        """Files settling per root (for the status snapshot)."""
        out: dict[str, int] = {}
        for p in list(self.files.values()):
            out[p.root] = out.get(p.root, 0) + 1
        return out
