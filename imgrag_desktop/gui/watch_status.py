"""The window's part that watches the indexed folders and shows how that goes.

It owns the WatchController and its thread, the status-bar label and the folder list's
per-folder states. Everything it asks of the running WatchService goes through the
controller's slots (queued to the controller's thread) and comes back as signals, so a watcher
stuck on a hung network share never freezes the window: the label just keeps its last state.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot
from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from imgrag_desktop.gui.messages import MessageBridge
from imgrag_desktop.gui.watching import WatchController, watch_roots
from imgrag_desktop.store.writers import DataDirWriter

if TYPE_CHECKING:  # pragma: no cover
    from imgrag_desktop.gui.folders import FoldersPanel
    from imgrag_desktop.gui.thumbnails import ImageLoader
    from imgrag_desktop.gui.workers import EngineHost, IndexJob

WATCH_REFRESH_MS = 600  # changes found by the watcher refresh the results at most this often
WATCH_POLL_MS = 1000  # how often the folder list and the status bar ask the watcher how it is doing
REMOVAL_GRACE_MS = 10_000  # a removed folder's rows go at the latest this long after the watcher was asked
CHANGE_NAMES = {"added": "new", "updated": "changed", "moved": "moved", "removed": "removed",
                "changed": "changed", "skipped": "skipped"}


class WatchStatus(QObject):
    """Starts, follows and stops the folder watcher for the window.

    `folders()` gives the window's folder list, `retry_ms()` how long to wait before watching
    again after another process held the writer lock."""

    stateChanged = Signal(str)  # off | starting | running | failed
    eventHandled = Signal(object)  # a WatchEvent, once shown
    changesIndexed = Signal()  # the watcher changed rows: refresh what is shown
    removalReady = Signal(object)  # an IndexJob removing a folder the watcher let go of
    removalHeld = Signal(str, int)  # a folder scan found this many photos gone at once: ask first
    # Requests to the controller, queued to its thread.
    startRequested = Signal(object, bool)
    stopRequested = Signal()
    addRequested = Signal(str)
    removeRequested = Signal(str)
    pauseRequested = Signal(bool)
    pollRequested = Signal()

    def __init__(self, host: "EngineHost", writes: DataDirWriter, options: dict[str, Any], *,
                 folders: Callable[[], list[str]], panel: "FoldersPanel", bridge: MessageBridge,
                 status_bar: QStatusBar, loader: "ImageLoader", retry_ms: Callable[[], int],
                 parent: QWidget) -> None:
        super().__init__(parent)
        self.options = options
        self._folders = folders
        self.panel = panel
        self.bridge = bridge
        self.status_bar = status_bar
        self.loader = loader
        self._retry_ms = retry_ms
        self.ready = False  # the image model loaded: watching may start
        self.closing = False
        self.service: Any = None  # the running WatchService (only ever called on the controller's thread)
        self.state = "off"
        self.error = ""
        self.watched: set[str] = set()
        self.user_paused = False
        self.index_paused = False
        self._pending_removals: dict[str, "IndexJob"] = {}
        self._statuses: dict[str, Any] = {}  # root → FolderStatus, as last polled
        self._poll_in_flight = False
        self._counts: dict[str, int] = {}
        self._stage: tuple[float, str] = (0.0, "")

        self.label = QLabel(parent)
        self.label.setObjectName("watch-status")
        self.label.hide()
        self._refresh = QTimer(self)
        self._refresh.setSingleShot(True)
        self._refresh.setInterval(WATCH_REFRESH_MS)
        self._refresh.timeout.connect(self._refresh_after_watch)
        self._poll = QTimer(self)
        self._poll.setInterval(WATCH_POLL_MS)
        self._poll.timeout.connect(self._request_poll)

        self.ctl_thread = QThread(self)
        self.ctl_thread.setObjectName("imgrag-watch-control")
        self.ctl = WatchController(host, writes, options)
        self.ctl.moveToThread(self.ctl_thread)
        # No deleteLater on finish: shutdown still calls the controller's stop() after its thread ended.
        for request, slot in ((self.startRequested, self.ctl.start_service), (self.stopRequested, self.ctl.stop_service),
                              (self.addRequested, self.ctl.add_folder), (self.removeRequested, self.ctl.remove_folder),
                              (self.pauseRequested, self.ctl.set_paused), (self.pollRequested, self.ctl.poll)):
            request.connect(slot)
        self.ctl.started.connect(self._on_started)
        self.ctl.startFailed.connect(self.on_failed)
        self.ctl.event.connect(self._on_event)
        self.ctl.progress.connect(self._on_progress)
        self.ctl.statusChanged.connect(self._on_status)
        self.ctl.serviceDied.connect(self._on_died)
        self.ctl_thread.start()

    # Starting and stopping ----------------------------------------------------------------------
    def ensure(self) -> None:
        """Watch the indexed folders (once the image model is ready, in the background)."""
        if self.closing or not self.ready or self.state in ("starting", "running"):
            return
        roots = watch_roots(self._folders())
        if not roots:
            return
        self._set_state("starting")
        self.watched = set(roots)
        self.startRequested.emit(roots, bool(self.options.get("reconcile_on_start", False)))

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.stateChanged.emit(state)
        self.update_label()

    @Slot(object)
    def _on_started(self, service: Any) -> None:
        if self.closing or self.state != "starting":
            return  # stopped meanwhile: the controller stops this one next
        self.service = service
        self._statuses = {}
        self.error = ""
        self._set_state("running")
        self.sync()
        self.apply_pause()
        self._poll.start()
        self._request_poll()

    @Slot(str, str, bool)
    def on_failed(self, text: str, details: str, retry: bool) -> None:
        if self.closing:
            return
        self.error = text
        self.watched = set()
        self._set_state("failed")
        self.panel.clear_status()
        self.bridge.warning(f"folders are not watched for changes: {text}", details)
        if retry:  # another instance writes: watch once it is done
            QTimer.singleShot(self._retry_ms(), self.retry)

    def retry(self) -> None:
        """Watch again after a failure (another writer gone, the index rebuilt for the model)."""
        if self.state == "failed" and not self.closing:
            self._set_state("off")
            self.ensure()

    def stop(self) -> None:
        """Stop watching (model change); ensure() starts a new watcher later."""
        if self.state in ("starting", "running"):
            self.service = None
            self.watched = set()
            self._poll.stop()
            self._set_state("off")
            self.panel.clear_status()
            for folder in list(self._pending_removals):
                self._flush_removal(folder)
            self.stopRequested.emit()

    def sync(self) -> None:
        """Make the watcher's folders follow the folder list."""
        if self.service is None:
            self.ensure()
            return
        wanted = set(watch_roots(self._folders()))
        for root in sorted(wanted - self.watched):
            self.addRequested.emit(root)
        for root in sorted(self.watched - wanted):
            self.removeRequested.emit(root)
        self.watched = wanted

    def remove_after_release(self, folder: str, job: "IndexJob") -> bool:
        """Queue `job` (the folder's removal) for when the watcher has let go of the folder: a
        batch of the watcher's in flight could otherwise write rows of the folder after they
        were removed. False when the folder is not watched (run the job now)."""
        watched = self.service is not None and folder in self.watched
        if watched:
            self._pending_removals[folder] = job
            QTimer.singleShot(REMOVAL_GRACE_MS, lambda: self._flush_removal(folder))
        self.sync()
        return watched

    def _flush_removal(self, folder: str) -> None:
        job = self._pending_removals.pop(folder, None)
        if job is not None:
            self.removalReady.emit(job)

    def set_user_paused(self, paused: bool) -> None:
        self.user_paused = bool(paused)
        self.apply_pause()

    def set_index_paused(self, paused: bool) -> None:
        """Pause of indexing means "stop using the computer": the watcher waits too."""
        self.index_paused = bool(paused)
        self.apply_pause()

    def apply_pause(self) -> None:
        if self.service is not None:
            self.pauseRequested.emit(self.user_paused or self.index_paused)
        self.update_label()

    def shutdown(self) -> None:
        self.closing = True
        self._poll.stop()
        self._refresh.stop()
        self.ctl_thread.quit()

    def stop_controller(self, timeout_s: float) -> bool:
        """Stop the watcher (the batch in flight is finished) and give the writer lock back."""
        self.service = None
        stopped = self.ctl.stop(timeout_s)
        if stopped and self.state != "off":
            self.state = "off"
            self.label.hide()
        return stopped

    # What the watcher reports ---------------------------------------------------------------
    def _request_poll(self) -> None:
        if self.service is None:
            self._poll.stop()
            return
        if not self._poll_in_flight:  # a poll stuck on a hung share is not asked again meanwhile
            self._poll_in_flight = True
            self.pollRequested.emit()

    @Slot(object, object)
    def _on_status(self, service: Any, statuses: dict[str, Any]) -> None:
        self._poll_in_flight = False
        if service is None or service is not self.service or self.closing:
            return
        self._statuses = dict(statuses)
        for root, st in statuses.items():
            if root in self.watched:
                self.panel.set_status(root, st.state, st.detail, st.pending)
        self.update_label()

    @Slot(object, str)
    def _on_died(self, service: Any, error: str) -> None:
        self._poll_in_flight = False
        if service is not self.service or self.closing:
            return
        self.service = None  # stopped on an error (the index is safe): say so, watch again later
        self._poll.stop()
        self.on_failed(f"the folder watcher stopped: {error}", "", True)

    @Slot(object)
    def _on_event(self, ev: Any) -> None:
        if self.closing:
            return
        if ev.action == "state":
            state, _, detail = ev.detail.partition(": ")
            if ev.path in self._pending_removals and state == "stopped":
                self._flush_removal(ev.path)
            elif self.service is not None and ev.path in self.watched:
                self.panel.set_status(ev.path, state, detail)
                if ev.path in self._statuses:
                    self._statuses[ev.path] = replace(self._statuses[ev.path], state=state, detail=detail)
                self._request_poll()
            self.update_label()
        elif ev.action in ("added", "updated", "moved", "removed") or (ev.action == "reconciled" and ev.count):
            key = "changed" if ev.action == "reconciled" else ev.action
            self._counts[key] = self._counts.get(key, 0) + max(1, ev.count)
            if ev.action in ("updated", "moved"):
                self.loader.invalidate([ev.path])
            if not self._refresh.isActive():
                self._refresh.start()
        elif ev.action == "failed":
            self._counts["skipped"] = self._counts.get("skipped", 0) + 1
            if not self._refresh.isActive():
                self._refresh.start()
        elif ev.action == "error":
            self.status_bar.showMessage(f"Watching {ev.path or 'folders'}: {ev.detail}", 10000)
        elif ev.action == "held":  # many photos vanished at once: the window asks before removing
            self.removalHeld.emit(ev.root, int(ev.count))
        self.eventHandled.emit(ev)

    @Slot(object)
    def _on_progress(self, p: Any) -> None:
        from imgrag_desktop.gui.index_queue import stage_label

        self._stage = (time.monotonic(), stage_label(p))
        self.update_label()

    def _refresh_after_watch(self) -> None:
        """Changes the watcher indexed: say so, and let the window refresh what it shows."""
        counts, self._counts = self._counts, {}
        parts = [f"{n} {CHANGE_NAMES[k]}" for k, n in counts.items() if n]
        if parts:
            self.status_bar.showMessage("Folder changes indexed: " + ", ".join(parts), 6000)
        self.changesIndexed.emit()

    def update_label(self) -> None:
        state = self.state
        label = self.label
        if state == "off":
            label.hide()
            return
        label.show()
        if state == "failed":
            label.setText("Not watching folders")
            label.setToolTip(self.error + "\nChanges are picked up by the next rescan (F5).")
            return
        if state == "starting":
            label.setText("Starting to watch folders…")
            label.setToolTip("")
            return
        statuses = list(self._statuses.values()) if self.service is not None else []
        offline = sum(1 for st in statuses if st.state == "offline")
        pending = sum(st.pending for st in statuses)
        scanning = any(st.state == "scanning" for st in statuses)
        n = len(statuses) if statuses else len(self.watched) if self.service is not None else 0
        if self.user_paused or self.index_paused:
            text = "Watching paused"
        elif pending:
            text = f"Watching: {pending} change{'s' if pending != 1 else ''} to index…"
        elif scanning:
            text = "Watching: checking folders…"
        elif time.monotonic() - self._stage[0] < 3 and self._stage[1]:
            text = f"Watching: {self._stage[1]}"
        else:
            text = f"Watching {n} folder{'s' if n != 1 else ''}"
        if offline:
            text += f" · {offline} offline"
        label.setText(text)
        tips = [f"{st.root}: {st.state}" + (f" ({st.detail})" if st.detail else "") for st in statuses]
        label.setToolTip("New, changed, moved and deleted images in these folders are indexed as they happen:\n"
                         + "\n".join(tips))
