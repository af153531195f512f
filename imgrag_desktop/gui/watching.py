"""The window's folder watcher.

It shares the data dir's writer (`store.writers.DataDirWriter`) with the window's indexing, so
the two never write at once and a slow later stage gives way to the other writer.

The WatchService itself has no Qt; `WatchController` builds it on its own QThread (building
it imports the engine and opens the store) and turns its listener calls into Qt signals.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal, Slot

from imgrag_desktop.gui.messages import describe_exception
from imgrag_desktop.store.writers import DataDirWriter

if TYPE_CHECKING:  # pragma: no cover
    from imgrag_desktop.gui.workers import EngineHost

log = logging.getLogger(__name__)


class WatchController(QObject):
    """Builds, starts and stops the window's WatchService off the GUI thread.

    Lives on its own QThread, and the window reaches the running service only through this
    object's slots (queued to that thread). `WatchService.status()` returns a published snapshot
    and does not wait on the watcher's work; the window still asks from here so that no engine
    call, present or future, can stall its painting (a hung network share can hold a thread as
    long as it hangs). `poll` answers with `statusChanged`."""

    started = Signal(object)  # the running WatchService
    startFailed = Signal(str, str, bool)  # one line, details, True when another process holds the lock
    stopped = Signal()
    event = Signal(object)  # type: ignore[assignment]  # WatchEvent, emitted on the watcher's thread (queued to the receiver's)
    progress = Signal(object)  # Progress of the watcher's later stages
    stageWarning = Signal(str)  # one line: a later stage could not run (e.g. "OCR skipped: …")
    statusChanged = Signal(object, object)  # the service polled, {root: FolderStatus}
    serviceDied = Signal(object, str)  # the service, why it stopped on its own (the index is safe)

    def __init__(self, host: "EngineHost", writes: DataDirWriter, options: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.host = host
        self.writes = writes
        self.options = dict(options or {})
        self._service: Any = None
        self._mutex = threading.Lock()

    @property
    def service(self) -> Any:
        with self._mutex:
            return self._service

    @Slot(object, bool)
    def start_service(self, roots: list[str], reconcile: bool = False) -> None:
        if self.service is not None and self.service.running:
            return
        from imgrag_desktop.types import ImgragError

        try:
            svc = self.host.services
            self.writes.hold()
        except ImgragError as exc:
            self.startFailed.emit(*describe_exception(exc), True)
            return
        except Exception as exc:
            self.startFailed.emit(*describe_exception(exc), False)
            return
        try:
            from imgrag_desktop.indexing.visual_fill import clip_ready
            from imgrag_desktop.indexing.watch.service import WatchService
            from imgrag_desktop.library import check_vector_size

            clip_ready(svc.clip)  # without CLIP yet, watched files are indexed for text; vectors come later
            check_vector_size(svc, remedy="rebuild the index to watch folders with this model")
            opts = dict(self.options)
            opts.setdefault("reconcile_on_start", reconcile)
            service = WatchService.from_services(svc, write_lock=self.writes.lock,
                                                 after_batch=self._after_batch, **opts)
            service.add_listener(self.event.emit)
            service.start(roots)
        except Exception as exc:
            self.writes.release()
            self.startFailed.emit(*describe_exception(exc), False)
            return
        with self._mutex:
            self._service = service
        self.started.emit(service)

    def _after_batch(self, cancel: threading.Event) -> None:
        """Later stages after the watcher's rows changed; they give way to new files (the
        watcher sets `cancel`) and to the window's own indexing (the shared lock sets it)."""
        from imgrag_desktop.indexing.stages import run_later_stages

        with self.writes.lock.yielding(cancel):
            run_later_stages(self.host.services, cancel, self.progress.emit, self.stageWarning.emit)

    @Slot()
    def poll(self) -> None:
        """Ask the running service how its folders are doing (may wait on the watcher's lock)."""
        service = self.service
        if service is None:
            self.statusChanged.emit(None, {})
        elif not service.running:
            self.serviceDied.emit(service, str(service.error or "unknown error"))
        else:
            self.statusChanged.emit(service, service.status())

    @Slot(str)
    def add_folder(self, root: str) -> None:
        service = self.service
        if service is not None:
            service.add_folder(root)

    @Slot(str)
    def remove_folder(self, root: str) -> None:
        service = self.service
        if service is not None:
            service.remove_folder(root)

    @Slot(bool)
    def set_paused(self, paused: bool) -> None:
        service = self.service
        if service is not None:
            (service.pause if paused else service.resume)()

    @Slot()
    def stop_service(self) -> None:
        self.stop(60.0)

    def stop(self, timeout: float) -> bool:
        """Stop the service (finishing the batch in flight) and let go of the file lock.
        Safe from any thread; True once stopped."""
        with self._mutex:
            service = self._service
        if service is None:
            return True
        ok = service.stop(timeout)
        if ok:
            with self._mutex:
                if self._service is service:
                    self._service = None
                    self.writes.release()
            self.stopped.emit()
        return ok


def watch_roots(folders: list[str]) -> list[str]:
    """The folders one observer each should watch: de-duplicated, and a folder inside another
    listed one left out (the outer observer already sees it). Pure path logic: no engine import
    on the GUI thread."""
    import os

    roots = list(dict.fromkeys(os.path.abspath(os.path.expanduser(f)) for f in folders))

    def inside(a: str, b: str) -> bool:
        return a != b and a.startswith(b.rstrip(os.sep) + os.sep)

    return [r for r in roots if not any(inside(r, o) for o in roots)]
