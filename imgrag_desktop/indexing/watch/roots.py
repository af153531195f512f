"""Watched roots: their states, and telling a present folder from an offline one.

A root can vanish at any time (an unplugged drive, a dead network share, a folder renamed
away). Its rows are then kept and it shows as offline until it answers again; a root that was
replaced (deleted and re-created, another drive mounted there) is re-attached and rescanned.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from dataclasses import dataclass
from typing import Any, Sequence

from imgrag_desktop.indexing import scanner
from imgrag_desktop.indexing.watch.observer import observer_alive

# Folder states shown to the user (FolderStatus.state).
STARTING, SCANNING, WATCHING, POLLING, OFFLINE, STOPPED = (
    "starting", "scanning", "watching", "polling", "offline", "stopped")


@dataclass(frozen=True)
class FolderStatus:
    """What a watched folder is doing, for the window's folder list.

    state: "starting" | "scanning" (reconciliation scan running) | "watching" (live events) |
    "polling" (no live events available, e.g. the inotify watch limit: rescanned periodically)
    | "offline" (missing, unreadable or not responding: rows kept, re-attached on return) |
    "stopped". `detail` is a one-line reason or summary; `pending` the files waiting to settle.
    """

    root: str
    state: str
    detail: str = ""
    since: float = 0.0
    pending: int = 0


class Folder:
    """The watcher's own record of one root (its worker thread's, not for other threads)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.prefix = root.rstrip(os.sep) + os.sep
        self.observer: Any = None
        self.close_events = False
        self.state = STARTING
        self.detail = ""
        self.since = time.time()
        self.ident: tuple[int, int] | None = None
        self.probe: Probe | None = None
        self.probe_started = 0.0
        self.next_probe = 0.0
        self.next_rescan = float("inf")
        self.reconcile = False
        self.polling = False
        self.dead = False  # the root's own watch ended (it was deleted): re-attach even if it looks the same

    def status(self, pending: int = 0) -> FolderStatus:
        return FolderStatus(self.root, self.state, self.detail, self.since, pending)


class Probe:
    """Checks a root in a throwaway thread: a dead network share can block stat() for minutes,
    and the watcher must keep serving its other folders meanwhile."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.result: tuple[str, Any] | None = None
        self.done = threading.Event()
        threading.Thread(target=self._run, name="imgrag-watch-probe", daemon=True).start()

    def _run(self) -> None:
        try:
            st = os.stat(self.root)
            if not stat.S_ISDIR(st.st_mode):
                self.result = ("offline", "not a folder")
            else:
                with os.scandir(self.root) as it:
                    next(it, None)
                self.result = ("ok", (st.st_dev, st.st_ino))
        except FileNotFoundError:
            self.result = ("offline", "folder not found (unplugged or removed?)")
        except PermissionError:
            self.result = ("offline", "permission denied")
        except OSError as exc:
            self.result = ("offline", f"cannot read folder: {exc.strerror or exc}")
        finally:
            self.done.set()


def probe_root(f: Folder, now: float, probe_timeout_s: float, root_poll_s: float) -> tuple[str, Any]:
    """Start or read the folder's probe and say what to do with the folder:

    ("", None) nothing (yet); ("offline", reason); ("attach", ident) when it came (back);
    ("reattach", ident) when it was replaced or its observer died.
    """
    if f.probe is None:
        if now < f.next_probe and f.state != STARTING:
            return ("", None)
        f.probe = Probe(f.root)
        f.probe_started = now
        f.probe.done.wait(0.05)  # a healthy folder answers at once; a hung one is checked later
    if not f.probe.done.is_set():
        if now - f.probe_started > probe_timeout_s and f.state != OFFLINE:
            return ("offline", "not responding")
        return ("", None)
    result, value = f.probe.result or ("offline", "unknown")
    f.probe = None
    f.next_probe = now + root_poll_s
    if result != "ok":
        return ("offline", value) if f.state != OFFLINE else ("", None)
    if f.state == OFFLINE or f.state == STARTING:
        return ("attach", value)
    if value != f.ident or f.dead or (not f.polling and not observer_alive(f.observer)):
        # Deleted and re-created (a new inode may even reuse the old number, hence `dead`),
        # another drive mounted there, or the observer died.
        return ("reattach", value)
    return ("", None)


def watch_roots(paths: Sequence[str]) -> list[str]:
    """Normalised, de-duplicated folders; a folder inside another watched one is dropped (the
    outer observer already sees it)."""
    roots = list(dict.fromkeys(scanner.normalize_root(p) for p in paths))
    return [r for r in roots if not any(o != r and scanner.is_within(r, [o]) for o in roots)]
