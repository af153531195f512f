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

Other threads (the window's) only ever read a published snapshot of the folders' states: the
worker stats files, and a stat can hang for minutes on a dead network share, so no lock that a
reader takes is ever held across file-system work.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import warnings
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping

from imgrag_desktop.indexing import scanner
from imgrag_desktop.indexing.watch.apply import Applier
from imgrag_desktop.indexing.watch.events import WatchEvent, WorkQueue
from imgrag_desktop.indexing.watch.observer import (
    Forwarder,
    OverflowSpy,
    default_observer,
    emits_close_events,
    start_observer,
    stop_observer,
)
from imgrag_desktop.indexing.watch.roots import (
    OFFLINE,
    POLLING,
    SCANNING,
    STARTING,
    STOPPED,
    WATCHING,
    Folder,
    FolderStatus,
    probe_root,
)
from imgrag_desktop.indexing.watch.settle import Settler, SettleRules
from imgrag_desktop.types import ImgragError

log = logging.getLogger(__name__)


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
                 observer_factory: Callable[[], Any] = default_observer,
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
        # Guards _folders' membership and the swap of _snapshot; held for in-memory work only.
        self._lock = threading.RLock()
        self._folders: dict[str, Folder] = {}
        self._snapshot: Mapping[str, FolderStatus] = MappingProxyType({})
        self._listeners: list[Callable[[WatchEvent], None]] = []
        rules = SettleRules(settle_s, self.closed_settle_s, write_open_grace_s, empty_grace_s)
        self._work = WorkQueue(Settler(rules, self.ignore_hidden), self.ignore_hidden, self.exclude)
        self._stop = threading.Event()
        self._cancel = threading.Event()
        self._paused = threading.Event()
        self._busy = False
        self._draining = False
        self._thread: threading.Thread | None = None
        self._spy: OverflowSpy | None = None
        self.error: BaseException | None = None
        self.stats = {"indexed": 0, "moved": 0, "removed": 0, "failed": 0, "batches": 0, "reconciles": 0}
        self._applier = Applier(indexer, self.store, self._work, settle_s=settle_s, batch_max=batch_max,
                                stats=self.stats, emit=self._emit, clock=clock, stop=self._stop,
                                cancel=self._cancel, root_present=self._root_present, publish=self._publish)

    @classmethod
    def from_services(cls, services: Any, **kwargs: Any) -> "WatchService":
        """A watcher for the app's services (the window's and `imgrag watch`'s way in)."""
        kwargs.setdefault("ignore_hidden", services.cfg.settings.ignore_hidden)
        return cls(services.indexer(), services.store, **kwargs)

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
                f = self._folders[root] = Folder(root)
                self._snapshot = MappingProxyType({**self._snapshot, root: f.status()})
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
            self._spy = OverflowSpy(self._inbox.put)
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
        """The folders' states as last published by the worker (after each round of work and
        each change of state). Never waits for the worker and touches no file: safe to call
        from a GUI thread while a watched share hangs."""
        return dict(self._snapshot)

    def idle(self) -> bool:
        """Nothing queued, settling, scanning or being written right now."""
        with self._lock:
            return (self._inbox.empty() and not self._busy and not self._draining and self._work.empty()
                    and not self._after_due
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

    def _publish(self) -> None:
        """Swap in a fresh status snapshot. Called by the worker thread (or while it is not
        running): the settling files are the worker's alone, and counting them touches no file."""
        pending = self._work.settling.counts()
        with self._lock:
            self._snapshot = MappingProxyType({r: f.status(pending.get(r, 0)) for r, f in self._folders.items()})

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
            published = time.monotonic()
            try:
                while item is not None:
                    self._handle(item)
                    if self._stop.is_set():
                        return
                    if time.monotonic() - published > 0.25:  # a long burst: keep the pending counts fresh
                        self._publish()
                        published = time.monotonic()
                    try:
                        item = self._inbox.get_nowait()
                    except queue.Empty:
                        item = None
                self._publish()
                self._tick()
                self._publish()
            finally:
                self._draining = False

    def _wait_time(self) -> float:
        if self._paused.is_set():
            return self.root_poll_s
        if not self._work.empty():
            # Coarser ticks while very many files settle: each tick stats the ones that are due.
            return min(1.0, max(0.05, len(self._work.settling.files) / 20000))
        if any(f.reconcile for f in self._folders.values()):
            return 0.0
        if any(f.state == STARTING or (f.probe is not None and f.state != OFFLINE) for f in self._folders.values()):
            return 0.05
        return self.root_poll_s

    def _handle(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "fs":
            f = self._folders.get(item[1])
            try:
                if f is not None:
                    self._work.on_fs_event(f, item[2], item[3])
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
        if self._after_due and not self._work.settling.files and self._inbox.empty() and not self._stop.is_set():
            with self.write_lock:
                self._busy = True
                try:
                    self._after_batch()
                finally:
                    self._busy = False
        if self._applier.changed >= self.optimize_after and not self._work.settling.files \
                and not self._stop.is_set():
            with self.write_lock:
                self._guarded(self.store.optimize, "")
            self._applier.changed = 0

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
    def _check_root(self, f: Folder, now: float) -> None:
        if f.state in (WATCHING, POLLING) and now >= f.next_rescan:
            f.reconcile = True
        action, value = probe_root(f, now, self.probe_timeout_s, self.root_poll_s)
        if action == "offline":
            self._go_offline(f, value)
        elif action == "attach":
            self._attach(f, value)
        elif action == "reattach":
            log.info("folder %s was replaced: re-attaching", f.root)
            self._detach(f)
            self._attach(f, value)

    def _attach(self, f: Folder, ident: tuple[int, int]) -> None:
        f.ident = ident
        f.polling = False
        f.dead = False
        try:
            obs = start_observer(self.observer_factory, Forwarder(f.root, self._put_event, self.clock,
                                                                  tuple(self.exclude)), f.root)
            f.observer = obs
            f.close_events = emits_close_events(obs)
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

    def _set_watching(self, f: Folder, summary: str = "") -> None:
        if f.polling:
            f.next_rescan = self.clock() + self.poll_fallback_s
            self._set_state(f, POLLING, f"live watching unavailable; rescanning every {self.poll_fallback_s:.0f} s")
        else:
            f.next_rescan = self.clock() + self.rescan_s if self.rescan_s > 0 else float("inf")
            self._set_state(f, WATCHING, summary)

    def _detach(self, f: Folder) -> None:
        obs, f.observer = f.observer, None
        stop_observer(obs, f.root)

    def _go_offline(self, f: Folder, reason: str) -> None:
        self._detach(f)
        f.reconcile = False
        # Rows are kept; queued work for the folder is dropped (the re-attach scan redoes it).
        self._work.drop_below(f.prefix)
        self._set_state(f, OFFLINE, reason)
        cfg = getattr(self.indexer, "cfg", None)
        if cfg is not None:  # search and the folder list read it (offline.offline_roots)
            from imgrag_desktop.indexing.offline import RootRegistry

            try:
                reg = RootRegistry.for_data_dir(cfg.data_dir)
                reg.mark_offline(f.root, reason)
                reg.save()
            except OSError:
                log.warning("cannot record %s as offline", f.root)

    def _remove(self, root: str, forget_rows: bool) -> None:
        with self._lock:
            f = self._folders.pop(root, None)
        if f is not None:
            self._detach(f)
            self._work.drop_below(f.prefix)
            self._set_state(f, STOPPED, "removed", notify_only=True)
        if forget_rows:
            with self.write_lock:
                n = self.indexer.remove_folder(root)
            if n:
                self._emit(WatchEvent("removed", root, root, count=n))

    def _set_state(self, f: Folder, state: str, detail: str, notify_only: bool = False) -> None:
        changed = (f.state, f.detail) != (state, detail)
        f.state, f.detail = state, detail
        if changed:
            f.since = time.time()
        self._publish()
        if changed or notify_only:
            self._emit(WatchEvent("state", f.root, f.root, detail=state + (f": {detail}" if detail else "")))

    def _reconcile(self, f: Folder) -> None:
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
        if f.root in report.offline:  # emptied, unmounted, replaced or hung: rows kept
            self._go_offline(f, report.offline[f.root])
            return
        if report.held:
            from imgrag_desktop.indexing.offline import held_message

            gone = sum(g for g, _ in report.held.values())
            self._emit(WatchEvent("held", f.root, f.root, detail=held_message(report.held), count=gone))
        self.stats["reconciles"] += 1
        changed = report.added + report.updated + report.removed
        self._applier.changed += changed
        summary = (f"{report.added} new, {report.updated} changed, {report.removed} removed, "
                   f"{report.unchanged} unchanged, {report.failed} skipped")
        self._emit(WatchEvent("reconciled", f.root, f.root, detail=summary, count=changed))
        for fl in report.failures:
            self._emit(WatchEvent("failed", fl.path, f.root, detail=fl.reason))
        if f.state == SCANNING and not self._stop.is_set():
            self._set_watching(f, "")

    # Queued operations -> index -----------------------------------------------------------------
    def _apply(self, now: float) -> None:
        a = self._applier
        wrote = False
        self._busy = True
        try:
            with self.write_lock:
                wrote |= a.dir_moves()
                a.dir_scans(now)
                wrote |= a.file_moves()
                wrote |= a.ready(now)
                wrote |= a.deletes(now)
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

    def _root_present(self, root: str) -> bool:
        f = self._folders.get(root)
        return f is not None and f.state != OFFLINE and os.path.isdir(root)

    def _emit(self, ev: WatchEvent) -> None:
        for fn in list(self._listeners):
            try:
                fn(ev)
            except Exception:  # a broken listener must not stop the watcher
                log.exception("watch listener failed")
