"""Child processes for an OCR engine that runs inside Python (RapidOCR's onnxruntime).

Tesseract is its own program, so its time limit and its crashes stay outside the app for free.
An in-process engine would hold the GIL's neighbour threads hostage and could not be stopped:
each child here owns one engine, reads one image at a time (the parent sends a path, the child
decodes it itself, so no pixels cross the pipe) and is killed and replaced when an image runs
over the time limit or the child dies. Children start with `spawn` (no fork of a process that
has Qt or torch threads) and load their models once.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing as mp
import queue
import threading
from typing import Any, Callable

from imgrag_desktop.models.ocr_base import OcrResult, OcrTimeout, read_file
from imgrag_desktop.types import DecodeError, ImgragError, ModelUnavailable

log = logging.getLogger(__name__)

START_TIMEOUT_S = 120.0  # importing onnxruntime/OpenCV and loading the models, on a busy machine


def _error(kind: str, message: str) -> ImgragError:
    cls = {"DecodeError": DecodeError, "ModelUnavailable": ModelUnavailable, "OcrTimeout": OcrTimeout}.get(kind)
    return (cls or ImgragError)(message)


def child_main(conn: Any, factory: Callable[..., Any], spec: dict[str, Any]) -> None:
    """The child's loop: (path, detect_first) in, ("ok", OcrResult fields) or ("err", kind, text)
    out. `factory(**spec)` builds the in-process engine (a class, pickled by name)."""
    try:
        engine = factory(**spec)
        engine.check()
        warm = getattr(engine, "warm", None)
        if warm is not None:
            warm()  # load the models now: the first image's time limit is for reading it
    except ImgragError as exc:
        conn.send(("err", type(exc).__name__, str(exc)))
        return
    conn.send(("ready", None))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        path, detect_first, enlarge = (*msg, None)[:3]  # (path, detect_first[, enlarge])
        try:
            res = read_file(engine, path, detect_first, enlarge)
            conn.send(("ok", dataclasses.asdict(res)))
        except ImgragError as exc:
            conn.send(("err", type(exc).__name__, str(exc)))
        except Exception as exc:  # noqa: BLE001 - one bad image never ends the child
            conn.send(("err", "ImgragError", f"unexpected error: {type(exc).__name__}: {exc}"))


class _Child:
    def __init__(self, factory: Callable[..., Any], spec: dict[str, Any]) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child_conn = ctx.Pipe()
        self.proc = ctx.Process(target=child_main, args=(child_conn, factory, spec), daemon=True, name="imgrag-ocr-child")
        self.proc.start()
        child_conn.close()
        if not self.conn.poll(START_TIMEOUT_S):
            self.kill()
            raise ImgragError(f"the OCR process did not start within {START_TIMEOUT_S:g} s")
        try:
            msg = self.conn.recv()
        except EOFError:
            self.kill()
            raise ImgragError("the OCR process ended while starting") from None
        if msg[0] == "err":
            self.kill()
            raise _error(msg[1], msg[2])

    def call(self, path: str, detect_first: bool, timeout_s: float, enlarge: bool | None = None) -> dict[str, Any]:
        self.conn.send((path, detect_first, enlarge))
        if not self.conn.poll(timeout_s if timeout_s > 0 else None):
            self.kill()
            raise OcrTimeout(f"OCR took longer than {timeout_s:g} s (the limit in Settings)")
        try:
            msg = self.conn.recv()
        except EOFError:
            code = self.proc.exitcode
            self.kill()
            raise ImgragError(f"the OCR process ended while reading this image (exit status {code})") from None
        if msg[0] == "err":
            raise _error(msg[1], msg[2])
        return dict(msg[1])

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


class ChildPool:
    """Up to `size` children, started as reads need them; thread-safe (one read per child)."""

    def __init__(self, factory: Callable[..., Any], spec: dict[str, Any], size: int = 1) -> None:
        self.factory = factory
        self.spec = spec
        self.size = max(1, size)
        self._idle: queue.Queue[_Child] = queue.Queue()
        self._started = 0
        self._all: list[_Child] = []
        self._lock = threading.Lock()
        self._slots = threading.Semaphore(self.size)

    def _take(self) -> _Child:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        child = _Child(self.factory, self.spec)
        with self._lock:
            self._all.append(child)
        return child

    def read(self, path: str, detect_first: bool, timeout_s: float, enlarge: bool | None = None) -> OcrResult:
        with self._slots:
            child = self._take()
            try:
                data = child.call(path, detect_first, timeout_s, enlarge)
            finally:
                if child.alive:
                    self._idle.put(child)
                else:
                    with self._lock:
                        self._all = [c for c in self._all if c is not child]
        return OcrResult(**data)

    def pids(self) -> list[int]:
        """The process ids of the running children."""
        with self._lock:
            return [c.proc.pid for c in self._all if c.alive and c.proc.pid is not None]

    def close(self) -> None:
        with self._lock:
            children, self._all = self._all, []
        for child in children:
            child.stop()
