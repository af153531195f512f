"""The watchdog side: one observer per root, started and stopped here, and what it forwards.

Observer threads only stamp events and queue them (they must never block on the index); when
live events are unavailable (the inotify watch limit, an exotic file system) the caller falls
back to periodic rescans.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable

log = logging.getLogger(__name__)


class Forwarder:
    """The watchdog handler: stamps each raw event and hands it to the worker, nothing more.
    Events in excluded folders (the data dir's thumbnails) are dropped here, so that they never
    interrupt the later stages."""

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


class OverflowSpy(logging.Handler):
    """watchdog logs (and otherwise swallows) a kernel event-queue overflow; events were lost, so
    the folders must be rescanned."""

    def __init__(self, put: Callable[[Any], None]) -> None:
        super().__init__(logging.WARNING)
        self._put = put

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).lower().startswith("inotify queue overflowed"):
            self._put(("overflow",))


def default_observer() -> Any:
    from watchdog.observers import Observer

    return Observer()


def emits_close_events(observer: Any) -> bool:
    try:
        from watchdog.observers.inotify import InotifyObserver
    except Exception:  # not Linux
        return False
    return isinstance(observer, InotifyObserver)


def event_filter() -> list[type]:
    from watchdog import events as e

    # No open/close-without-write events: the indexer's own reads would wake the watcher.
    return [e.FileCreatedEvent, e.FileModifiedEvent, e.FileAttribEvent, e.FileClosedEvent, e.FileDeletedEvent,
            e.FileMovedEvent, e.DirCreatedEvent, e.DirDeletedEvent, e.DirMovedEvent]


def start_observer(factory: Callable[[], Any], handler: Forwarder, root: str) -> Any:
    """A running recursive observer of `root`; raises when live watching is unavailable."""
    obs = factory()
    obs.schedule(handler, root, recursive=True, event_filter=event_filter())
    obs.start()
    return obs


def stop_observer(obs: Any, root: str) -> None:
    if obs is None:
        return
    try:
        obs.stop()
        obs.join(5.0)
    except Exception:
        log.exception("stopping the observer of %s failed", root)


def observer_alive(obs: Any) -> bool:
    if obs is None:
        return False
    try:
        return obs.is_alive() and all(e.is_alive() for e in list(getattr(obs, "emitters", ())))
    except Exception:
        return True
