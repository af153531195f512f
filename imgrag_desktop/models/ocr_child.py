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
from typing import Any, Callable

from imgrag_desktop.models.child_proc import ERRORS as BASE_ERRORS
from imgrag_desktop.models.child_proc import START_TIMEOUT_S, Child, Pool, serve
from imgrag_desktop.models.ocr_base import OcrResult, OcrTimeout, read_file
from imgrag_desktop.types import ImgragError

log = logging.getLogger(__name__)

ERRORS = {**BASE_ERRORS, "OcrTimeout": OcrTimeout}
__all__ = ["START_TIMEOUT_S", "ChildPool", "child_main"]


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

    def handle(msg: Any) -> dict[str, Any]:
        path, detect_first, enlarge = (*msg, None)[:3]  # (path, detect_first[, enlarge])
        return dataclasses.asdict(read_file(engine, path, detect_first, enlarge))

    serve(conn, handle)


class ChildPool:
    """Up to `size` children, started as reads need them; thread-safe (one read per child).
    The processes themselves are models/child_proc.py's, shared with the face children."""

    def __init__(self, factory: Callable[..., Any], spec: dict[str, Any], size: int = 1) -> None:
        self.factory = factory
        self.spec = spec
        self.size = max(1, size)
        self._pool = Pool(lambda: Child(child_main, (factory, spec), what="OCR", name="imgrag-ocr-child",
                                        errors=ERRORS), self.size)

    def read(self, path: str, detect_first: bool, timeout_s: float, enlarge: bool | None = None) -> OcrResult:
        def late() -> OcrTimeout:
            return OcrTimeout(f"OCR took longer than {timeout_s:g} s (the limit in Settings)")

        data = self._pool.call((path, detect_first, enlarge), timeout_s, late)
        return OcrResult(**dict(data))

    def pids(self) -> list[int]:
        """The process ids of the running children."""
        return self._pool.pids()

    def close(self) -> None:
        self._pool.close()
