"""Watch folders so that every change on disk reaches the index once, without a manual re-scan.

One watchdog observer per folder feeds raw events into one queue; a single worker thread turns
them into index operations, so the index has one writer and events never race each other.
Events are coalesced per path, and a file is indexed only once it has settled (size and mtime
unchanged for a short while, or closed after writing where the platform reports that), so a
burst, a slow copy or a download costs one index pass per finished file. Moves of files and
folders re-key the existing rows (no decode, no embedding).

Nothing is trusted blindly: every operation is checked against the disk when it runs,
deletions are applied only while the folder's root is present (an unplugged drive keeps its
rows and shows as offline), and a reconciliation scan at start-up, on re-attach and now and
then catches whatever happened while nobody was watching (app closed, events lost).
"""

from __future__ import annotations

import logging
import os
import queue
import stat
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from imgrag_desktop import imaging
from imgrag_desktop.indexing import scanner
from imgrag_desktop.store import sql_in, sql_str
from imgrag_desktop.types import ImgragError

log = logging.getLogger(__name__)

# Names a browser or copier gives a file while it is still arriving; the finished file appears by
# a rename, which the watcher sees as a move from an ignored name (indexed as new).
PARTIAL_SUFFIXES = frozenset({".part", ".partial", ".crdownload", ".download", ".opdownload", ".tmp", ".temp",
                              ".filepart", ".!qb", ".!ut", ".swp", ".kate-swp", ".dtapart"})

# Folder states shown to the user (FolderStatus.state).
STARTING, SCANNING, WATCHING, POLLING, OFFLINE, STOPPED = (
    "starting", "scanning", "watching", "polling", "offline", "stopped")


def is_partial_name(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in PARTIAL_SUFFIXES


@dataclass(frozen=True)
class WatchEvent:
    """One change the watcher made to the index, or a folder's change of state.

    action: "added" | "updated" | "moved" | "removed" | "failed" (the file was recorded as
    skipped, `detail` says why) | "error" (a step of the watcher failed, `detail` says why; the
    next reconciliation scan redoes what was lost) | "reconciled" (a folder scan finished; `detail` sums it up,
    `count` is the number of rows it changed) | "state" (the folder's state changed to
    `detail`). For a folder moved or removed as a whole, `path` (and `dest`) are the folder and
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


@dataclass
class _Pending:
    root: str
    last_event: float
    sig: tuple[int, int] | None
    sig_at: float
    writing: bool = False  # modified and not yet closed (only where close events exist)
    closed: bool = False  # closed after writing, or renamed into place: complete


class _Folder:
    def __init__(self, root: str) -> None:
        self.root = root
        self.prefix = root.rstrip(os.sep) + os.sep
        self.observer: Any = None
        self.close_events = False
        self.state = STARTING
        self.detail = ""
        self.since = time.time()
        self.ident: tuple[int, int] | None = None
        self.probe: _Probe | None = None
        self.probe_started = 0.0
        self.next_probe = 0.0
        self.next_rescan = float("inf")
        self.reconcile = False
        self.polling = False
        self.dead = False  # the root's own watch ended (it was deleted): re-attach even if it looks the same

    def observer_alive(self) -> bool:
        obs = self.observer
        if obs is None:
            return False
        try:
            return obs.is_alive() and all(e.is_alive() for e in list(getattr(obs, "emitters", ())))
        except Exception:
            return True


class _Probe:
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


class _Forwarder:
    """The watchdog handler: stamps each raw event and hands it to the worker, nothing more
    (observer threads must never block on the index). Events in excluded folders (the data
    dir's thumbnails) are dropped here, so that they never interrupt the later stages."""

    def __init__(self, root: str, put: Callable[[Any], None], clock: Callable[[], float],
                 exclude: tuple[str, ...] = ()) -> None:
        self.root = root
        self._put = put
        self._clock = clock
        self._exclude = exclude

    def dispatch(self, event: Any) -> None:
        if self._exclude and (os.fsdecode(event.src_path) + os.sep).startswith(self._exclude) and \
                (not getattr(event, "dest_path", "") or
                 (os.fsdecode(event.dest_path) + os.sep).startswith(self._exclude)):
            return
        self._put(("fs", self.root, event, self._clock()))


class _OverflowSpy(logging.Handler):
    """watchdog logs (and otherwise swallows) a kernel event-queue overflow; events were lost, so
    the folders must be rescanned."""

    def __init__(self, put: Callable[[Any], None]) -> None:
        super().__init__(logging.WARNING)
        self._put = put

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).lower().startswith("inotify queue overflowed"):
            self._put(("overflow",))


def _sig(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def _default_observer() -> Any:
    from watchdog.observers import Observer

    return Observer()


def _emits_close_events(observer: Any) -> bool:
    try:
        from watchdog.observers.inotify import InotifyObserver
    except Exception:  # not Linux
        return False
    return isinstance(observer, InotifyObserver)


def _event_filter() -> list[type]:
    from watchdog import events as e

    # No open/close-without-write events: the indexer's own reads would wake the watcher.
    return [e.FileCreatedEvent, e.FileModifiedEvent, e.FileAttribEvent, e.FileClosedEvent, e.FileDeletedEvent,
            e.FileMovedEvent, e.DirCreatedEvent, e.DirDeletedEvent, e.DirMovedEvent]


class WatchService:
    """Keeps the index in line with a set of folders while it runs.

    Dependencies come in: the `indexer` (an `Indexer`, which also gives the store) does all the
    writing; `write_lock` is held around every write so a window can share one lock between
    the watcher and its own indexing jobs; `after_batch(cancel)` runs (under the lock) after each
    round that changed rows, for later stages such as OCR or captions: `cancel` is set as soon as
    new file events arrive (or the watcher stops), and an interrupted stage is called again once
    the new files are indexed, so slow stages never hold back the visual index. Listeners (`add_listener`) receive
    `WatchEvent`s on the watcher's worker thread: a GUI must hand them to its own thread.

    Timing: a file is indexed once no event arrived for it for `settle_s` and its size and
    mtime did not change meanwhile; after a close-after-write event (Linux) `closed_settle_s`
    suffices. A file still open for writing waits until closed (at most `write_open_grace_s`
    of stillness). An empty file waits `empty_grace_s` (a placeholder that a download is about to
    replace). Deletions wait `2 * settle_s`, so that a move between two watched folders, seen as
    a delete plus a create, reuses the vectors of the deleted row. Settled files are indexed
    in chunks of at most `batch_max`, each committed before the next starts: in a burst the
    first files become searchable early instead of all at the end.
    """

    def __init__(self, indexer: Any, store: Any = None, *, settle_s: float = 1.0, closed_settle_s: float = 0.25,
                 write_open_grace_s: float = 30.0, empty_grace_s: float = 10.0, root_poll_s: float = 2.0,
                 probe_timeout_s: float = 10.0, rescan_s: float = 1800.0, poll_fallback_s: float = 60.0,
                 batch_max: int = 64, optimize_after: int = 1000, ignore_hidden: bool | None = None,
                 exclude: Iterable[str] | None = None, reconcile_on_start: bool = True,
                 write_lock: Any = None, after_batch: Callable[[threading.Event], Any] | None = None,
                 observer_factory: Callable[[], Any] = _default_observer,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.indexer = indexer
        self.store = store if store is not None else indexer.store
        self.settle_s = settle_s
        self.closed_settle_s = min(closed_settle_s, settle_s)
        self.write_open_grace_s = write_open_grace_s
        self.empty_grace_s = empty_grace_s
        self.root_poll_s = root_poll_s
        self.probe_timeout_s = probe_timeout_s
        self.rescan_s = rescan_s
        self.poll_fallback_s = poll_fallback_s
        self.batch_max = batch_max
        self.optimize_after = optimize_after
        self.ignore_hidden = indexer.ignore_hidden if ignore_hidden is None else ignore_hidden
        ex = list(exclude) if exclude is not None else list(getattr(indexer, "exclude", []))
        self.exclude = [scanner.normalize_root(e).rstrip(os.sep) + os.sep for e in ex]
        self.reconcile_on_start = reconcile_on_start
        self.write_lock = write_lock if write_lock is not None else threading.RLock()
        self.after_batch = after_batch
        self._yield = threading.Event()  # set by new file events and by stop(): later stages yield
        self._after_due = False
        self.observer_factory = observer_factory
        self.clock = clock

        self._inbox: queue.Queue[Any] = queue.Queue()
        self._lock = threading.RLock()  # guards _folders and the counters read by other threads
        self._folders: dict[str, _Folder] = {}
        self._listeners: list[Callable[[WatchEvent], None]] = []
        self._pending: dict[str, _Pending] = {}
        self._file_moves: dict[str, tuple[str, str, float]] = {}  # src → (dest, root, at)
        self._dir_moves: dict[str, tuple[str, str, float]] = {}
        self._deletes: dict[str, tuple[str, float]] = {}  # path → (root, at)
        self._dir_deletes: dict[str, tuple[str, float]] = {}
        self._dir_scans: dict[str, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._cancel = threading.Event()
        self._paused = threading.Event()
        self._busy = False
        self._draining = False
        self._thread: threading.Thread | None = None
        self._changed_since_optimize = 0
        self._spy: _OverflowSpy | None = None
        self.error: BaseException | None = None
        self.stats = {"indexed": 0, "moved": 0, "removed": 0, "failed": 0, "batches": 0, "reconciles": 0}

    @classmethod
    def from_services(cls, services: Any, **kwargs: Any) -> "WatchService":
        """A watcher for the app's services (the window's and `imgrag watch`'s way in)."""
        kwargs.setdefault("ignore_hidden", services.cfg.settings.ignore_hidden)
        on_progress = kwargs.pop("on_progress", None)
        return cls(services.indexer(on_progress=on_progress), services.store, **kwargs)

    # Public API (any thread) ---------------------------------------------------------------
    def add_listener(self, fn: Callable[[WatchEvent], None]) -> None:
        self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[WatchEvent], None]) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def add_folder(self, root: str) -> str:
        """Watch a folder (recursively). A missing folder is accepted and shown offline."""
        root = scanner.normalize_root(root)
        with self._lock:
            if root not in self._folders:
                self._folders[root] = _Folder(root)
        self._inbox.put(("wake",))
        return root

    def remove_folder(self, root: str, forget_rows: bool = False) -> None:
        """Stop watching a folder; with `forget_rows`, also drop its rows from the index."""
        root = scanner.normalize_root(root)
        if self.running:
            self._inbox.put(("remove", root, forget_rows))
        else:
            self._remove(root, forget_rows)

    def start(self, roots: Iterable[str] = ()) -> "WatchService":
        for r in roots:
            self.add_folder(r)
        if self._thread is None:
            # watchdog warns when a folder created while it sets up a recursive watch is added twice:
            # harmless, and not for the user's terminal.
            warnings.filterwarnings("ignore", message="Callback with id .* already exists for watch",
                                    category=RuntimeWarning)
            self._spy = _OverflowSpy(self._inbox.put)
            logging.getLogger("watchdog").addHandler(self._spy)
            self._thread = threading.Thread(target=self._main, name="imgrag-watch", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float | None = 60.0) -> bool:
        """Finish the batch in flight, detach every observer and return True once stopped.

        Files still settling are left for the next start's reconciliation scan."""
        self._stop.set()
        self._cancel.set()
        self._yield.set()
        self._inbox.put(("wake",))
        t = self._thread
        if t is not None:
            t.join(timeout)
            return not t.is_alive()
        return True

    def pause(self) -> None:
        """Keep collecting events but write nothing until resume() (e.g. on battery)."""
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()
        self._inbox.put(("wake",))

    def rescan(self, root: str | None = None) -> None:
        """Ask for a reconciliation scan of one folder (or all) soon."""
        self._inbox.put(("rescan", scanner.normalize_root(root) if root else None))

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def status(self) -> dict[str, FolderStatus]:
        with self._lock:
            pending: dict[str, int] = {}
            for p in list(self._pending.values()):
                pending[p.root] = pending.get(p.root, 0) + 1
            return {r: FolderStatus(r, f.state, f.detail, f.since, pending.get(r, 0)) for r, f in self._folders.items()}

    def idle(self) -> bool:
        """Nothing queued, settling, scanning or being written right now."""
        with self._lock:
            return (self._inbox.empty() and not self._busy and not self._draining and not self._pending
                    and not self._file_moves and not self._dir_moves and not self._deletes
                    and not self._dir_deletes and not self._dir_scans and not self._after_due
                    and not any(f.reconcile or f.state in (STARTING, SCANNING) for f in self._folders.values()))

    def wait_idle(self, timeout: float = 30.0, quiet_s: float = 0.3) -> bool:
        """Block until idle() held for `quiet_s` (events from the kernel may still be in flight
        for a moment after a write); False on timeout."""
        deadline = time.monotonic() + timeout
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            if self.error is not None:
                return False
            if self.idle():
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= quiet_s:
                    return True
            else:
                quiet_since = None
            time.sleep(0.05)
        return False

    # Worker thread -----------------------------------------------------------------------------
    def _main(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # reported to the owner; the index stays consistent
            log.exception("the folder watcher stopped on an error")
            self.error = exc
        finally:
            for f in list(self._folders.values()):
                self._detach(f)
                self._set_state(f, STOPPED, "")
            if self._spy is not None:
                logging.getLogger("watchdog").removeHandler(self._spy)
                self._spy = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._inbox.get(timeout=self._wait_time())
            except queue.Empty:
                item = None
            self._draining = True  # idle() must not see the gap between taking an event and queueing its work
            try:
                while item is not None:
                    self._handle(item)
                    if self._stop.is_set():
                        return
                    try:
                        item = self._inbox.get_nowait()
                    except queue.Empty:
                        item = None
                self._tick()
            finally:
                self._draining = False

    def _wait_time(self) -> float:
        if self._paused.is_set():
            return self.root_poll_s
        if self._pending or self._deletes or self._dir_deletes or self._file_moves or self._dir_moves \
                or self._dir_scans:
            # Coarser ticks while very many files settle: each tick stats the ones that are due.
            return min(1.0, max(0.05, len(self._pending) / 20000))
        if any(f.reconcile for f in self._folders.values()):
            return 0.0
        if any(f.state == STARTING or (f.probe is not None and f.state != OFFLINE) for f in self._folders.values()):
            return 0.05
        return self.root_poll_s

    def _handle(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "fs":
            try:
                self._on_fs_event(item[1], item[2], item[3])
            except Exception:  # one odd event must not stop the watcher
                log.exception("cannot handle file system event %r", item[2])
        elif kind == "remove":
            self._remove(item[1], item[2])
        elif kind == "overflow":
            log.warning("file system events were lost (kernel queue overflow): rescanning watched folders")
            for f in self._folders.values():
                if f.state not in (OFFLINE, STOPPED):
                    f.reconcile = True
        elif kind == "rescan":
            for r, f in self._folders.items():
                if item[1] in (None, r) and f.state not in (OFFLINE, STOPPED):
                    f.reconcile = True

    def _tick(self) -> None:
        now = self.clock()
        for f in list(self._folders.values()):
            self._check_root(f, now)
            if self._stop.is_set():
                return
        if self._paused.is_set():
            return
        for f in list(self._folders.values()):
            if f.reconcile and f.state not in (OFFLINE, STOPPED) and not self._stop.is_set():
                self._guarded(self._reconcile, f.root, f)
        if not self._stop.is_set():
            self._guarded(self._apply, "", self.clock())
        if self._after_due and not self._pending and self._inbox.empty() and not self._stop.is_set():
            with self.write_lock:
                self._busy = True
                try:
                    self._after_batch()
                finally:
                    self._busy = False
        if self._changed_since_optimize >= self.optimize_after and not self._pending and not self._stop.is_set():
            with self.write_lock:
                self._guarded(self.store.optimize, "")
            self._changed_since_optimize = 0

    def _guarded(self, fn: Callable[..., Any], root: str, *args: Any) -> None:
        """Run one unit of work; an error (a damaged file system, a full disk) is reported and
        the watcher goes on: what was lost is redone by the next reconciliation scan."""
        try:
            fn(*args)
        except Exception as exc:
            if isinstance(exc, ImgragError):
                log.warning("watcher: %s", exc)
            else:
                log.exception("watcher step failed")
            msg = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            self._emit(WatchEvent("error", root, root, detail=msg))
            retry = self.clock() + self.poll_fallback_s
            for f in self._folders.values():
                if not root or f.root == root:
                    f.next_rescan = min(f.next_rescan, retry)  # redo what the failed step lost
                    if f.state == SCANNING:
                        self._set_watching(f, f"scan failed: {msg}")

    # Roots: attach, detach, offline ------------------------------------------------------------
    def _check_root(self, f: _Folder, now: float) -> None:
        if f.state in (WATCHING, POLLING) and now >= f.next_rescan:
            f.reconcile = True
        if f.probe is None:
            if now < f.next_probe and f.state != STARTING:
                return
            f.probe = _Probe(f.root)
            f.probe_started = now
            f.probe.done.wait(0.05)  # a healthy folder answers at once; a hung one is checked later
        if not f.probe.done.is_set():
            if now - f.probe_started > self.probe_timeout_s and f.state != OFFLINE:
                self._go_offline(f, "not responding")
            return
        result, value = f.probe.result or ("offline", "unknown")
        f.probe = None
        f.next_probe = now + self.root_poll_s
        if result != "ok":
            if f.state != OFFLINE:
                self._go_offline(f, value)
            return
        if f.state == OFFLINE or f.state == STARTING:
            self._attach(f, value)  # type: ignore[arg-type]  # value is the ident when ok
        elif value != f.ident or f.dead or (not f.polling and not f.observer_alive()):
            # Deleted and re-created (a new inode may even reuse the old number, hence `dead`),
            # another drive mounted there, or the observer died.
            log.info("folder %s was replaced: re-attaching", f.root)
            self._detach(f)
            self._attach(f, value)  # type: ignore[arg-type]  # value is the ident when ok

    def _attach(self, f: _Folder, ident: tuple[int, int]) -> None:
        f.ident = ident
        f.polling = False
        f.dead = False
        try:
            obs = self.observer_factory()
            obs.schedule(_Forwarder(f.root, self._put_event, self.clock, tuple(self.exclude)), f.root, recursive=True,
                         event_filter=_event_filter())
            obs.start()
            f.observer = obs
            f.close_events = _emits_close_events(obs)
        except Exception as exc:  # e.g. the inotify watch limit: rescan periodically instead
            f.observer = None
            f.polling = True
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            log.warning("cannot watch %s live (%s): rescanning every %.0f s", f.root, reason, self.poll_fallback_s)
            f.detail = f"live watching unavailable ({reason}); rescanning every {self.poll_fallback_s:.0f} s"
        # Always after a return or a replacement; at start-up unless the owner opted out.
        f.reconcile = f.state != STARTING or self.reconcile_on_start
        if f.reconcile:
            self._set_state(f, SCANNING, "")
        else:
            self._set_watching(f)

    def _set_watching(self, f: _Folder, summary: str = "") -> None:
        if f.polling:
            f.next_rescan = self.clock() + self.poll_fallback_s
            self._set_state(f, POLLING, f"live watching unavailable; rescanning every {self.poll_fallback_s:.0f} s")
        else:
            f.next_rescan = self.clock() + self.rescan_s if self.rescan_s > 0 else float("inf")
            self._set_state(f, WATCHING, summary)

    def _detach(self, f: _Folder) -> None:
        obs, f.observer = f.observer, None
        if obs is not None:
            try:
                obs.stop()
                obs.join(5.0)
            except Exception:
                log.exception("stopping the observer of %s failed", f.root)

    def _go_offline(self, f: _Folder, reason: str) -> None:
        self._detach(f)
        f.reconcile = False
        # Rows are kept; queued work for the folder is dropped (the re-attach scan redoes it).
        self._drop_queued(f.prefix, f.root)
        self._set_state(f, OFFLINE, reason)

    def _remove(self, root: str, forget_rows: bool) -> None:
        with self._lock:
            f = self._folders.pop(root, None)
        if f is not None:
            self._detach(f)
            self._drop_queued(f.prefix, root)
            self._set_state(f, STOPPED, "removed", notify_only=True)
        if forget_rows:
            with self.write_lock:
                n = self.indexer.remove_folder(root)
            if n:
                self._emit(WatchEvent("removed", root, root, count=n))

    def _drop_queued(self, prefix: str, root: str) -> None:
        """Forget queued work below a root (every queued path of a root lies below it)."""
        with self._lock:
            for d in (self._pending, self._deletes, self._dir_deletes, self._dir_scans, self._file_moves, self._dir_moves):
                for k in [k for k in d if k.startswith(prefix)]:
                    del d[k]

    def _set_state(self, f: _Folder, state: str, detail: str, notify_only: bool = False) -> None:
        changed = (f.state, f.detail) != (state, detail)
        with self._lock:
            f.state, f.detail = state, detail
            if changed:
                f.since = time.time()
        if changed or notify_only:
            self._emit(WatchEvent("state", f.root, f.root, detail=state + (f": {detail}" if detail else "")))

    def _reconcile(self, f: _Folder) -> None:
        f.reconcile = False
        self._set_state(f, SCANNING, "")
        self._busy = True
        try:
            with self.write_lock:
                report = self.indexer.index_paths([f.root], cancel=self._cancel)
            # Later stages resume what earlier runs left (once the folder is watching).
            self._after_due = self.after_batch is not None
        finally:
            self._busy = False
        if report.cancelled:
            return  # stopping: the next start scans again
        self.stats["reconciles"] += 1
        changed = report.added + report.updated + report.removed
        self._changed_since_optimize += changed
        summary = (f"{report.added} new, {report.updated} changed, {report.removed} removed, "
                   f"{report.unchanged} unchanged, {report.failed} skipped")
        self._emit(WatchEvent("reconciled", f.root, f.root, detail=summary, count=changed))
        for fl in report.failures:
            self._emit(WatchEvent("failed", fl.path, f.root, detail=fl.reason))
        if f.state == SCANNING and not self._stop.is_set():
            self._set_watching(f, "")

    # Events -> queued operations ----------------------------------------------------------------
    def _root_of(self, path: str) -> _Folder | None:
        best = None
        for f in self._folders.values():
            if (path == f.root or path.startswith(f.prefix)) and (best is None or len(f.root) > len(best.root)):
                best = f
        return best

    def _ignored_rel(self, path: str, root: str) -> bool:
        if self.exclude and (path + os.sep).startswith(tuple(self.exclude)):
            return True
        if not self.ignore_hidden:
            return False
        rel = os.path.relpath(path, root)
        return any(scanner.is_ignored_name(part) for part in rel.split(os.sep))

    def _wanted_file(self, path: str, root: str) -> bool:
        return imaging.is_image_name(path) and not is_partial_name(path) and not self._ignored_rel(path, root)

    def _wanted_dir(self, path: str, root: str) -> bool:
        return not self._ignored_rel(path, root)

    def _on_fs_event(self, root: str, ev: Any, at: float) -> None:
        from watchdog import events as e

        f = self._folders.get(root)
        if f is None or f.state in (OFFLINE, STOPPED):
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
                src_ok = self._wanted_dir(src, root)
                dest_ok = bool(dest) and dest.startswith(f.prefix) and self._wanted_dir(dest, root)
                if src_ok and dest_ok:
                    self._queue_dir_move(src, dest, root, at)
                elif src_ok:
                    self._queue_dir_delete(src, root, at)
                elif dest_ok:
                    self._dir_scans[dest] = (root, at)
            elif isinstance(ev, e.DirCreatedEvent):
                if self._wanted_dir(src, root):
                    self._dir_scans[src] = (root, at)
            elif isinstance(ev, e.DirDeletedEvent):
                if self._wanted_dir(src, root):
                    self._queue_dir_delete(src, root, at)
            return
        if isinstance(ev, e.FileMovedEvent):
            if ev.is_synthetic:
                return
            dest = os.fsdecode(ev.dest_path)
            src_ok = self._wanted_file(src, root)
            dest_ok = bool(dest) and dest.startswith(f.prefix) and self._wanted_file(dest, root)
            p = self._pending.pop(src, None)
            if dest_ok:
                self._deletes.pop(dest, None)
            if src_ok and dest_ok:
                # a → b → c before anything ran: one move a → c.
                first = next((s for s, (d, _, _) in self._file_moves.items() if d == src), src)
                self._file_moves.pop(first, None)
                self._file_moves[first] = (dest, root, at)
                if p is not None:
                    self._touch(dest, root, at, closed=True, base=p)
            elif src_ok:
                self._queue_delete(src, root, at)
            elif dest_ok:
                self._touch(dest, root, at, closed=True)  # e.g. photo.jpg.part → photo.jpg
            return
        if isinstance(ev, e.FileDeletedEvent):
            if self._wanted_file(src, root):
                self._pending.pop(src, None)
                self._queue_delete(src, root, at)
            return
        if isinstance(ev, (e.FileCreatedEvent, e.FileModifiedEvent, e.FileAttribEvent, e.FileClosedEvent)):
            if self._wanted_file(src, root):
                self._touch(src, root, at, writing=isinstance(ev, e.FileModifiedEvent) and f.close_events,
                            closed=isinstance(ev, e.FileClosedEvent))

    def _touch(self, path: str, root: str, at: float, writing: bool = False, closed: bool = False,
               base: _Pending | None = None) -> None:
        try:
            st = os.stat(path)
            sig: tuple[int, int] | None = (st.st_size, st.st_mtime_ns)
            if self.ignore_hidden and scanner.is_hidden_stat(st):
                return  # Windows' hidden attribute
        except OSError:
            sig = None
        with self._lock:
            p = self._pending.get(path) or base
            if p is None:
                p = _Pending(root, at, sig, at)
            p.root = root
            p.last_event = max(p.last_event, at)
            if sig != p.sig:
                p.sig, p.sig_at = sig, at
            if writing:
                p.writing, p.closed = True, False
            if closed:
                p.writing, p.closed = False, True
            self._pending[path] = p
            self._deletes.pop(path, None)

    def _queue_delete(self, path: str, root: str, at: float) -> None:
        self._deletes[path] = (root, at)

    def _queue_dir_delete(self, path: str, root: str, at: float) -> None:
        prefix = path + os.sep
        with self._lock:
            for k in [k for k in self._pending if k.startswith(prefix)]:
                del self._pending[k]
            for k in [k for k in self._deletes if k.startswith(prefix)]:
                del self._deletes[k]  # the folder delete covers them
            self._dir_scans.pop(path, None)
        self._dir_deletes[path] = (root, at)

    def _queue_dir_move(self, src: str, dest: str, root: str, at: float) -> None:
        sp, dp = src + os.sep, dest + os.sep
        with self._lock:
            for k in [k for k in self._pending if k.startswith(sp)]:
                self._pending[dp + k[len(sp):]] = self._pending.pop(k)
            for k in [k for k in self._dir_scans if k == src or k.startswith(sp)]:
                r, t = self._dir_scans.pop(k)
                self._dir_scans[dest + k[len(src):]] = (r, t)
        first = next((s for s, (d, _, _) in self._dir_moves.items() if d == src), src)
        self._dir_moves.pop(first, None)
        self._dir_moves[first] = (dest, root, at)

    # Queued operations -> index -----------------------------------------------------------------
    def _apply(self, now: float) -> None:
        wrote = False
        self._busy = True
        try:
            with self.write_lock:
                wrote |= self._apply_dir_moves()
                self._apply_dir_scans(now)
                wrote |= self._apply_file_moves()
                wrote |= self._apply_ready(now)
                wrote |= self._apply_deletes(now)
                if wrote and not self._stop.is_set():
                    self.stats["batches"] += 1
                    self._after_batch()
        finally:
            self._busy = False

    def _put_event(self, item: Any) -> None:
        self._inbox.put(item)
        self._yield.set()

    def _after_batch(self) -> None:
        if self.after_batch is not None:
            if self._stop.is_set():
                return
            if not self._inbox.empty():
                self._after_due = True  # new events first
                return
            self._yield.clear()
            self._after_due = False
            try:
                self.after_batch(self._yield)
                if self._yield.is_set() and not self._stop.is_set():
                    self._after_due = True  # interrupted by new files: resume once they are indexed
            except Exception:
                log.exception("after-batch stage failed")

    def _apply_dir_moves(self) -> bool:
        if not self._dir_moves:
            return False
        moves, self._dir_moves = self._dir_moves, {}
        for src, (dest, root, at) in moves.items():
            if not os.path.isdir(dest):
                if not os.path.lexists(src):
                    self._queue_dir_delete(src, root, at)  # moved, then deleted
                continue
            n = self.indexer.move_folder(src, dest, root)
            self._changed_since_optimize += n
            self.stats["moved"] += n
            if n:
                self._emit(WatchEvent("moved", src, root, dest=dest, count=n))
            self._dir_scans[dest] = (root, self.clock())  # files the index did not hold yet
        return True

    def _apply_dir_scans(self, now: float) -> None:
        if not self._dir_scans:
            return
        scans, self._dir_scans = self._dir_scans, {}
        for d, (root, _) in scans.items():
            if self._stop.is_set():
                return
            res = scanner.scan([d], self.ignore_hidden, cancelled=self._stop.is_set,
                               exclude=getattr(self.indexer, "exclude", []))
            known = self.store.file_states(f"starts_with(path, {sql_str(d + os.sep)})")
            for fe in res.files:
                if fe.path in self._pending or self._ignored_rel(fe.path, root) or is_partial_name(fe.path):
                    continue
                k = known.get(fe.path)
                if k is None or k[:2] != (fe.size, fe.mtime_ns):
                    self._touch(fe.path, root, now)
            on_disk = {fe.path for fe in res.files}
            keep = tuple(u.rstrip(os.sep) + os.sep for u in res.unreadable)
            for path in known:
                if path not in on_disk and not (keep and path.startswith(keep)):
                    self._queue_delete(path, root, now)

    def _apply_file_moves(self) -> bool:
        if not self._file_moves:
            return False
        moves, self._file_moves = self._file_moves, {}
        rows = self.store.rows(list(moves), ["size", "mtime_ns"])
        by_root: dict[str, dict[str, str]] = {}
        now = self.clock()
        for src, (dest, root, at) in moves.items():
            sig = _sig(dest)
            row = rows.get(src)
            if sig is None:  # moved on again or deleted: later events say where
                if row is not None and not os.path.lexists(src):
                    self._queue_delete(src, root, at)
                continue
            if row is not None and (row["size"], row["mtime_ns"]) == sig:
                by_root.setdefault(root, {})[src] = dest
            else:
                # Not indexed yet, or changed on the way: index the new name (reusing the old row's
                # vectors when the content matches), then forget the old one.
                self._touch(dest, root, now, closed=True)
                if not os.path.lexists(src):
                    self._queue_delete(src, root, at)
        for root, m in by_root.items():
            self.indexer.move_paths(m, root)
            self.store.clear_failures(list(m))
            moved = self.store.rows(list(m.values()), ["path"])
            for src, dest in m.items():
                if dest in moved:
                    self.stats["moved"] += 1
                    self._emit(WatchEvent("moved", src, root, dest=dest))
                else:
                    self._touch(dest, root, now, closed=True)
            self._changed_since_optimize += len(m)
        return bool(by_root)

    def _due(self, path: str, p: _Pending, now: float) -> str:
        """'ready', 'wait' or 'gone' for one settling file."""
        need = self.closed_settle_s if p.closed else self.settle_s
        if now - p.last_event < need:
            return "wait"
        sig = _sig(path)
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

    def _apply_ready(self, now: float) -> bool:
        ready: dict[str, list[str]] = {}
        with self._lock:
            for path, p in list(self._pending.items()):
                verdict = self._due(path, p, now)
                if verdict == "gone":
                    del self._pending[path]
                elif verdict == "ready":
                    ready.setdefault(p.root, []).append(path)
        wrote = False
        for root, paths in ready.items():
            for i in range(0, len(paths), self.batch_max):
                if self._stop.is_set():
                    return wrote
                chunk = paths[i : i + self.batch_max]
                with self._lock:
                    for pth in chunk:
                        self._pending.pop(pth, None)
                wrote |= self._index_chunk(chunk, root)
        return wrote

    def _index_chunk(self, paths: list[str], root: str) -> bool:
        where = sql_in("path", paths)
        before = self.store.file_states(where)
        report = self.indexer.index_files(paths, root=root, cancel=self._cancel)
        after = self.store.file_states(where)
        failed = {fl.path: fl.reason for fl in report.failures}
        n = 0
        for path in paths:
            if path in failed:
                self.stats["failed"] += 1
                self._emit(WatchEvent("failed", path, root, detail=failed[path]))
            elif path in after and after[path] != before.get(path):
                n += 1
                self._emit(WatchEvent("updated" if path in before else "added", path, root))
        self.stats["indexed"] += n
        self._changed_since_optimize += n
        return bool(n or failed)

    def _apply_deletes(self, now: float) -> bool:
        wait = 2 * self.settle_s
        due = {p: r for p, (r, at) in self._deletes.items() if now - at >= wait}
        dirs = {p: r for p, (r, at) in self._dir_deletes.items() if now - at >= wait}
        if not due and not dirs:
            return False
        for p in due:
            del self._deletes[p]
        for p in dirs:
            del self._dir_deletes[p]
        wrote = False
        for d, root in dirs.items():
            if not self._root_present(root):
                continue  # unplugged: keep the rows, the root check takes it offline
            if os.path.isdir(d):
                self._dir_scans[d] = (root, now)  # re-created meanwhile: compare with the disk instead
                continue
            n = self.indexer.remove_folder(d)
            if n:
                wrote = True
                self.stats["removed"] += n
                self._changed_since_optimize += n
                self._emit(WatchEvent("removed", d, root, count=n))
        by_root: dict[str, list[str]] = {}
        for p, root in due.items():
            if not os.path.lexists(p) and self._root_present(root):
                by_root.setdefault(root, []).append(p)
        for root, paths in by_root.items():
            had = self.store.rows(paths, ["path"])
            self.indexer.remove_paths(paths)
            wrote = True
            for p in paths:
                if p in had:
                    self.stats["removed"] += 1
                    self._emit(WatchEvent("removed", p, root))
            self._changed_since_optimize += len(had)
        return wrote

    def _root_present(self, root: str) -> bool:
        f = self._folders.get(root)
        return f is not None and f.state != OFFLINE and os.path.isdir(root)

    def _emit(self, ev: WatchEvent) -> None:
        for fn in list(self._listeners):
            try:
                fn(ev)
            except Exception:  # a broken listener must not stop the watcher
                log.exception("watch listener failed")


def watch_roots(paths: Sequence[str]) -> list[str]:
    """Normalised, de-duplicated folders; a folder inside another watched one is dropped (the
    outer observer already sees it)."""
    roots = list(dict.fromkeys(scanner.normalize_root(p) for p in paths))
    return [r for r in roots if not any(o != r and scanner.is_within(r, [o]) for o in roots)]
