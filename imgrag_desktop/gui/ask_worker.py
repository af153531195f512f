"""The Ask panel's worker: it builds the Answerer on its own QThread, iterates
`Answerer.stream` and forwards the text, at most every `min_interval_s` (the first piece at
once), so a fast model on a GPU cannot flood the event loop with one signal per token.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal, Slot

from imgrag_desktop.gui.messages import describe_exception
from imgrag_desktop.gui.workers import EngineHost, ResultItem
from imgrag_desktop.search.filters import Filters
from imgrag_desktop.types import Answer, Hit, ImgragError, ModelUnavailable

if TYPE_CHECKING:  # pragma: no cover
    from imgrag_desktop.services import Services

DEFAULT_IMAGES = 4
MAX_IMAGES = 16
DEFAULT_MAX_TOKENS = 320
STREAM_INTERVAL_S = 0.05
NO_MODEL = ("no local model is set up to answer questions: download one in File → Models… (Ctrl+Shift+M), "
            "or choose local files in Settings (Ctrl+,)")
MODEL_HINT = "Choose another model in Settings (Ctrl+,)."
DETAIL_COLUMNS = ["path", "name", "size", "mtime_ns", "width", "height", "taken_at", "kind", "camera", "ocr_text",
                  "caption", "content_hash"]


@dataclass
class AskRequest:
    """One question; `cancel` is set from the GUI thread (Cancel, a newer question, quitting)."""

    question: str
    images: int = DEFAULT_IMAGES
    max_tokens: int = DEFAULT_MAX_TOKENS
    folder: str = ""  # only pictures in this indexed folder ("" for all)
    filters: Filters = field(default_factory=Filters)  # the window's filter bar
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass
class AskResult:
    """What the worker hands back when an answer is complete (or was cancelled)."""

    answer: Answer | None
    sources: list[ResultItem] = field(default_factory=list)  # [n-1] is the picture behind [n]
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)  # path → index row (camera, OCR, caption)
    cancelled: bool = False
    cited_explicitly: bool = False
    tokens: int = 0
    seconds: float = 0.0
    tokens_per_s: float = 0.0
    skipped: bool = False  # cancelled before it started

    @property
    def citations(self) -> list[str]:
        return list(self.answer.citations) if self.answer is not None else []

    def number_of(self, path: str) -> int:
        """The source number [n] of a picture (0 when it was not a source)."""
        for i, item in enumerate(self.sources, 1):
            if item.hit.path == path:
                return i
        return 0


class AskWorker(QObject):
    """Runs questions on the ask thread; one at a time, in the order asked."""

    started = Signal(int)  # ask id: retrieval and model preparation begin
    text = Signal(int, str)  # ask id, new text (one or more pieces)
    finished = Signal(int, object)  # ask id, AskResult
    failed = Signal(int, str, str, str)  # ask id, one line, details, kind: model (Settings fixes it) | user | bug

    def __init__(self, host: EngineHost, min_interval_s: float = STREAM_INTERVAL_S) -> None:
        super().__init__()
        self.host = host
        self.min_interval_s = min_interval_s

    @Slot(int, object)
    def run(self, ask_id: int, req: AskRequest) -> None:
        if req.cancel.is_set():  # replaced or cancelled while it waited
            self.finished.emit(ask_id, AskResult(None, cancelled=True, skipped=True))
            return
        self.started.emit(ask_id)
        stream = None
        try:
            svc = self.host.services
            # The same pictures the window's search would look at: folder and filter bar.
            where = req.filters.with_folder(req.folder).where()
            answerer = svc.answerer(where, images=req.images, max_tokens=req.max_tokens)
            stream = answerer.stream(req.question, cancel=req.cancel)
            pending: list[str] = []
            last = 0.0
            for piece in stream:
                pending.append(piece)
                now = time.monotonic()
                if now - last >= self.min_interval_s:
                    self.text.emit(ask_id, "".join(pending))
                    pending.clear()
                    last = now
            if pending:
                self.text.emit(ask_id, "".join(pending))
            result = self._result(svc, stream)
        except Exception as exc:
            text, details = describe_exception(exc)
            kind = "model" if isinstance(exc, ModelUnavailable) else "user" if isinstance(exc, ImgragError) else "bug"
            if kind == "model":
                from imgrag_desktop.models.registry import NO_MODEL_MESSAGE

                if str(exc) == NO_MODEL_MESSAGE:  # the CLI's wording names settings.json; here Settings is one click
                    text = NO_MODEL
            self.failed.emit(ask_id, text, details, kind)
            return
        finally:
            if stream is not None:
                stream.close()
        self.finished.emit(ask_id, result)

    @staticmethod
    def _result(svc: "Services", stream: Any) -> AskResult:
        answer: Answer = stream.answer
        paths = [h.path for h in answer.sources]
        try:
            rows = svc.store.rows(paths, DETAIL_COLUMNS) if paths else {}
        except Exception:  # the details only enrich the preview; the answer stands without them
            rows = {}
        items = []
        for hit in answer.sources:
            row = rows.get(hit.path) or {}
            items.append(ResultItem(_with_row(hit, row), row.get("content_hash") or ""))
        st = stream.stats
        return AskResult(answer, items, rows, cancelled=bool(stream.cancelled),
                         cited_explicitly=bool(stream.cited_explicitly), tokens=int(getattr(st, "tokens", 0) or 0),
                         seconds=float(getattr(st, "seconds", 0.0) or 0.0),
                         tokens_per_s=float(getattr(st, "tokens_per_s", 0.0) or 0.0))


def _with_row(hit: Hit, row: dict[str, Any]) -> Hit:
    """A source hit completed from its index row (retrieval may not carry OCR text or captions)."""
    if not row:
        return hit
    return Hit(path=hit.path, score=hit.score, size=int(row.get("size") or hit.size or 0),
               width=int(row.get("width") or hit.width or 0), height=int(row.get("height") or hit.height or 0),
               mtime=(row.get("mtime_ns") or 0) / 1e9 or hit.mtime, taken_at=row.get("taken_at") or hit.taken_at,
               kind=row.get("kind") or hit.kind, ocr_text=row.get("ocr_text") or hit.ocr_text,
               caption=row.get("caption") or hit.caption, reasons=list(hit.reasons))
