"""Child processes for a model that runs inside Python but must not run in the app's process.

A native model (RapidOCR's onnxruntime, dlib) holds the GIL in long calls, cannot be stopped in
the middle of one, and takes the process down when it crashes. Each child here owns one
engine, works on one request at a time and is killed and replaced when a request runs over its
time limit or the child dies; the caller sees an error for that request, and the next request
gets a fresh child. Children start with `spawn` (no fork of a process that has Qt or torch
threads) and load their models once, before they say "ready".

The protocol: the child's loop (`target(conn, *args)`) sends ("ready", info) or ("err", kind,
text) once started, then answers each request with ("ok", value) or ("err", kind, text); a
request `None` ends it. `serve(conn, handle)` is that loop, once the engine has loaded. `IdleChildren` adds what an engine needs around a pool: started on the
first request, closed `keep_s` after the last one (the watcher's and the window's many small
runs reuse warm children; an idle app holds none).

Used by models/ocr_child.py (RapidOCR) and models/faces_child.py (dlib).
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import threading
import time
from typing import Any, Callable, Generic, Mapping, TypeVar

from imgrag_desktop.types import DecodeError, ImgragError, ModelUnavailable

START_TIMEOUT_S = 120.0  # importing the native libraries and loading the models, on a busy machine

ERRORS: dict[str, type[ImgragError]] = {"DecodeError": DecodeError, "ModelUnavailable": ModelUnavailable}


class ChildTimeout(ImgragError):
    """A request ran over its time limit; its child was killed (the next request starts another)."""


class ChildEnded(ImgragError):
    """The child died while working on a request (a crash, a signal): the next request starts another."""


def error_from(kind: str, message: str, errors: Mapping[str, type[ImgragError]] = ERRORS) -> ImgragError:
    """The parent's exception for a child's ("err", kind, text) answer."""
    cls = errors.get(kind) or ERRORS.get(kind)
    return (cls or ImgragError)(message)


def serve(conn: Any, handle: Callable[[Any], Any], ready: Any = None) -> None:
    """A child's loop once its engine has loaded: says ("ready", `ready`), then answers each
    request with ("ok", handle(request)) or ("err", kind, text) until a request `None` or the
    parent is gone. One bad request never ends the child."""
    conn.send(("ready", ready))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        try:
            conn.send(("ok", handle(msg)))
        except ImgragError as exc:
            conn.send(("err", type(exc).__name__, str(exc)))
        except Exception as exc:  # noqa: BLE001 - one bad request never ends the child
            conn.send(("err", "ImgragError", f"unexpected error: {type(exc).__name__}: {exc}"))


class Child:
    """One child process running `target(conn, *args)`; `call` sends a request and waits."""

    def __init__(self, target: Callable[..., None], args: tuple[Any, ...], *, what: str = "model",
                 name: str = "imgrag-child", errors: Mapping[str, type[ImgragError]] = ERRORS,
                 start_timeout_s: float = START_TIMEOUT_S) -> None:
        self.what = what  # "the {what} process …" in the messages a user sees
        self.errors = errors
        ctx = mp.get_context("spawn")
        self.conn, child_conn = ctx.Pipe()
        self.proc = ctx.Process(target=target, args=(child_conn, *args), daemon=True, name=name)
        self.proc.start()
        child_conn.close()
        if not self.conn.poll(start_timeout_s):
            self.kill()
            raise ImgragError(f"the {what} process did not start within {start_timeout_s:g} s")
        try:
            msg = self.conn.recv()
        except EOFError:
            code = self.proc.exitcode if not self.proc.is_alive() else None
            self.kill()
            raise ImgragError(f"the {what} process ended while starting (exit status {code})") from None
        if msg[0] == "err":
            self.kill()
            raise error_from(msg[1], msg[2], errors)
        self.ready_info = msg[1]  # what the child said about itself when ready

    def call(self, request: Any, timeout_s: float, on_timeout: Callable[[], ImgragError] | None = None) -> Any:
        """The child's answer to `request`; past `timeout_s` (0: no limit) the child is killed
        and `on_timeout()` (a ChildTimeout by default) raised; a dead child raises ImgragError."""
        try:
            self.conn.send(request)
        except (OSError, ValueError):
            self.kill()
            raise ChildEnded(f"the {self.what} process has ended") from None
        if not self.conn.poll(timeout_s if timeout_s > 0 else None):
            self.kill()
            raise (on_timeout() if on_timeout else ChildTimeout(f"the {self.what} took longer than {timeout_s:g} s"))
        try:
            msg = self.conn.recv()
        except (EOFError, OSError):
            self.proc.join(2.0)
            code = self.proc.exitcode
            self.kill()
            raise ChildEnded(f"the {self.what} process ended while working on this image (exit status {code})") from None
        if msg[0] == "err":
            raise error_from(msg[1], msg[2], self.errors)
        return msg[1]

    @property
    def alive(self) -> bool:
        return self.proc.is_alive()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.proc.join(5.0)
        self.kill()

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5.0)
        self.conn.close()


class Pool:
    """Up to `size` children made by `make()`, started as requests need them; thread-safe (one
    request per child at a time)."""

    def __init__(self, make: Callable[[], Child], size: int = 1) -> None:
        self.make = make
        self.size = max(1, size)
        self._idle: queue.Queue[Child] = queue.Queue()
        self._all: list[Child] = []
        self._lock = threading.Lock()
        self._slots = threading.Semaphore(self.size)

    def _take(self) -> Child:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        child = self.make()
        with self._lock:
            self._all.append(child)
        return child

    def start(self) -> Child:
        """A started child (one already running, else a new one), left idle for the next request."""
        with self._slots:
            child = self._take()
            self._idle.put(child)
            return child

    def call(self, request: Any, timeout_s: float, on_timeout: Callable[[], ImgragError] | None = None) -> Any:
        with self._slots:
            child = self._take()
            try:
                return child.call(request, timeout_s, on_timeout)
            finally:
                if child.alive:
                    self._idle.put(child)
                else:
                    with self._lock:
                        self._all = [c for c in self._all if c is not child]

    def pids(self) -> list[int]:
        """The process ids of the running children."""
        with self._lock:
            return [c.proc.pid for c in self._all if c.alive and c.proc.pid is not None]

    def close(self) -> None:
        with self._lock:
            children, self._all = self._all, []
        for child in children:
            child.stop()


P = TypeVar("P")


class IdleChildren(Generic[P]):
    """A pool made on the first request and closed `keep_s` after the last one ends (0: kept
    until `close()`). `use()` is a context manager giving the pool for one request."""

    def __init__(self, make_pool: Callable[[], P], keep_s: float) -> None:
        self.make_pool = make_pool
        self.keep_s = keep_s
        self._pool: Any = None
        self._lock = threading.Lock()
        self._busy = 0
        self._last_used = 0.0
        self._timer: threading.Timer | None = None

    def __enter__(self) -> P:
        with self._lock:
            if self._pool is None:
                self._pool = self.make_pool()
            self._busy += 1
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            return self._pool  # type: ignore[no-any-return]

    def __exit__(self, *exc: Any) -> None:
        with self._lock:
            self._busy -= 1
            self._last_used = time.monotonic()
            if self._busy or self._pool is None or self.keep_s <= 0:
                return
            timer = threading.Timer(self.keep_s, self._close_if_idle)
            timer.daemon = True
            self._timer = timer
        timer.start()

    def use(self) -> "IdleChildren[P]":
        return self

    def _close_if_idle(self) -> None:
        with self._lock:
            if self._busy or time.monotonic() - self._last_used < self.keep_s * 0.9:
                return
            pool, self._pool, self._timer = self._pool, None, None
        if pool is not None:
            pool.close()

    @property
    def pool(self) -> P | None:
        with self._lock:
            return self._pool  # type: ignore[no-any-return]

    def close(self) -> None:
        """End the children now (they start again on the next request)."""
        with self._lock:
            pool, self._pool = self._pool, None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        if pool is not None:
            pool.close()
