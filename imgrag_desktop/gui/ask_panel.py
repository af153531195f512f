"""The Ask panel: a question about the indexed pictures, answered by the local model with the
pictures it cites.

The model never runs on the GUI thread: an AskWorker on its own QThread builds the Answerer
(`Services.answerer`), iterates `Answerer.stream` and forwards the text. Asking has its own
thread so that searching (query thread) and indexing (index thread) keep answering while a
slow model writes. Text is forwarded at most every `min_interval_s` (the first piece at once),
so a fast model on a GPU cannot flood the event loop with one signal per token.

Each question gets an id; a new question cancels the running one, and the panel ignores what
arrives for an id it no longer waits for, so the answer shown always belongs to the question
shown.
"""

from __future__ import annotations

import html
import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import QEvent, QObject, QSize, Qt, QThread, QUrl, Signal, Slot
from PySide6.QtGui import QIcon, QKeyEvent, QKeySequence, QPalette, QPixmap, QTextOption
from PySide6.QtWidgets import (
    QAbstractItemView, QFrame, QHBoxLayout, QLabel, QLineEdit, QListView, QListWidget, QListWidgetItem, QMenu,
    QPushButton, QSizePolicy, QSpinBox, QSplitter, QTextBrowser, QVBoxLayout, QWidget,
)

from imgrag_desktop.gui.messages import MessageBridge, describe_exception
from imgrag_desktop.gui.preview import PreviewPanel
from imgrag_desktop.gui.thumbnails import ImageLoader
from imgrag_desktop.gui.workers import EngineHost, Request, ResultItem
from imgrag_desktop.search.filters import Filters
from imgrag_desktop.types import Answer, Hit, ImgragError, ModelUnavailable

if TYPE_CHECKING:  # pragma: no cover
    from imgrag_desktop.services import Services

DEFAULT_IMAGES = 4
MAX_IMAGES = 16
DEFAULT_MAX_TOKENS = 320
STREAM_INTERVAL_S = 0.05
NO_MODEL = ("no local model is set up to answer questions: choose one in Settings (Ctrl+,), or download one "
            "with `imgrag models download NAME` (`imgrag models list` shows the choices)")
MODEL_HINT = "Choose another model in Settings (Ctrl+,)."
PathRole = Qt.ItemDataRole.UserRole + 1
_CITE_GROUP = re.compile(r"\[(\s*\d+(?:\s*(?:,|;|-|–|and)\s*\d+)*\s*)\]")
_NUMBER = re.compile(r"\d+")
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
            where = Request("browse", folder=req.folder, filters=req.filters).where()
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


def answer_html(text: str, n_sources: int, cited: set[int] | None = None) -> str:
    """The answer as HTML, each cited source number [n] a link (cite:n) to its picture."""

    def link_numbers(match: re.Match[str]) -> str:
        def one(m: re.Match[str]) -> str:
            n = int(m.group(0))
            if 1 <= n <= n_sources and (cited is None or n in cited):
                return f'<a href="cite:{n}">{n}</a>'
            return m.group(0)

        return "[" + _NUMBER.sub(one, match.group(1)) + "]"

    escaped = html.escape(text, quote=False)
    body = _CITE_GROUP.sub(link_numbers, escaped)
    return "<div style='white-space: pre-wrap'>" + body + "</div>"


class QuestionEdit(QLineEdit):
    """The question box. Enter and Ctrl+Enter ask; Esc cancels a running answer.

    Ctrl+Enter (open in viewer) and Esc (clear the search) are window shortcuts; here they are
    claimed first (ShortcutOverride), so the keys do what the box promises.
    """

    askPressed = Signal()
    escapePressed = Signal()

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape):
                event.accept()
                return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.askPressed.emit()
            event.accept()
            return
        if event.key() == Qt.Key.Key_Escape:
            self.escapePressed.emit()
            event.accept()
            return
        super().keyPressEvent(event)


class CitationStrip(QListWidget):
    """The cited pictures in one row, as thumbnails labelled [n] and the file name."""

    def __init__(self, loader: ImageLoader, parent: QWidget | None = None, side: int = 112) -> None:
        super().__init__(parent)
        self.loader = loader
        self.side = side
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setIconSize(QSize(side, side))
        self.setGridSize(QSize(side + 24, side + 40))
        self.setUniformItemSizes(True)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFixedHeight(side + 40 + self.horizontalScrollBar().sizeHint().height() + 2 * self.frameWidth() + 4)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.setAccessibleName("Cited images")
        self._placeholder = QPixmap(side, side)
        self._placeholder.fill(self.palette().color(QPalette.ColorRole.Mid))
        loader.thumbnailReady.connect(self._on_thumbnail)

    def set_items(self, items: list[tuple[int, ResultItem]]) -> None:
        self.clear()
        for n, item in items:
            path = item.hit.path
            it = QListWidgetItem(f"[{n}] {os.path.basename(path)}")
            it.setData(PathRole, path)
            it.setToolTip(path)
            it.setIcon(self._icon(path))
            self.addItem(it)
            if self.loader.thumbnail(path) is None:
                self.loader.request_thumbnail(path, item.chash)

    def paths(self) -> list[str]:
        return [str(self.item(i).data(PathRole)) for i in range(self.count())]

    def row_of(self, path: str) -> int:
        return next((i for i in range(self.count()) if self.item(i).data(PathRole) == path), -1)

    def has_thumbnail(self, row: int) -> bool:
        it = self.item(row)
        return it is not None and self.loader.thumbnail(str(it.data(PathRole))) is not None

    def _icon(self, path: str) -> QIcon:
        pix = self.loader.thumbnail(path)
        return QIcon(pix if pix is not None else self._placeholder)

    def _on_thumbnail(self, path: str) -> None:
        row = self.row_of(path)
        if row >= 0:
            item = self.item(row)
            item.setIcon(self._icon(path))
            broken = self.loader.broken(path)
            if broken:
                item.setToolTip(f"{path}\n(no thumbnail: {broken})")


class AskPanel(QWidget):
    """Question box, streamed answer, cited pictures and a preview of the one selected."""

    askRequested = Signal(int, object)  # to the worker (queued)
    # For the window: what the user asked to do with a cited picture.
    openRequested = Signal(str)
    revealRequested = Signal(str)
    similarRequested = Signal(str)
    settingsRequested = Signal()
    # What happened (tests, automation).
    answerStarted = Signal(int)
    answerUpdated = Signal(str)  # the whole answer text so far
    answerFinished = Signal(object)  # AskResult
    answerFailed = Signal(str)

    def __init__(self, host: EngineHost, loader: ImageLoader, bridge: MessageBridge | None = None,
                 state: dict[str, Any] | None = None, folder: Callable[[], str] | None = None,
                 filters: Callable[[], Filters] | None = None, max_tokens: int | None = None,
                 stream_interval_s: float = STREAM_INTERVAL_S, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.host = host
        self.loader = loader
        self.bridge = bridge
        self.state = state if state is not None else {}
        self.folder = folder or (lambda: "")
        self.filters = filters or Filters
        self.max_tokens = int(max_tokens or self.state.get("ask_max_tokens", DEFAULT_MAX_TOKENS))
        self._next_id = 0
        self._current_id = 0  # the question whose answer is shown (0: none yet)
        self._running = False
        self._requests: dict[int, AskRequest] = {}
        self._text = ""
        self._result: AskResult | None = None
        self._closing = False
        self._build_ui()
        self._build_worker(stream_interval_s)

    # UI -------------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(10, 10, 10, 6)
        outer.setSpacing(8)
        row = QHBoxLayout()
        row.setSpacing(8)
        self.question = QuestionEdit(self)
        self.question.setObjectName("ask-question")
        self.question.setAccessibleName("Question")
        self.question.setPlaceholderText("Ask about your pictures, e.g. “which e-mail addresses are shown?” (Enter)")
        self.question.setClearButtonEnabled(True)
        self.question.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        row.addWidget(self.question, 1)
        self.images_label = QLabel("Pictures", self)
        self.images = QSpinBox(self)
        self.images.setRange(1, MAX_IMAGES)
        self.images.setValue(max(1, min(MAX_IMAGES, int(self.state.get("ask_images", DEFAULT_IMAGES)))))
        self.images.setToolTip("How many of the best-matching pictures the model gets (more: slower, more context)")
        self.images.setAccessibleName("Pictures sent to the model")
        self.images_label.setBuddy(self.images)
        row.addWidget(self.images_label)
        row.addWidget(self.images)
        self.ask_button = QPushButton("Ask", self)
        self.ask_button.setObjectName("ask-button")
        self.ask_button.setMinimumWidth(90)
        row.addWidget(self.ask_button)
        outer.addLayout(row)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setChildrenCollapsible(False)
        left = QWidget(self.splitter)
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.setSpacing(6)
        self.answer_view = QTextBrowser(left)
        self.answer_view.setObjectName("ask-answer")
        self.answer_view.setAccessibleName("Answer")
        self.answer_view.setOpenLinks(False)
        self.answer_view.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)  # long paths, URLs
        self.answer_view.setPlaceholderText(
            "The answer appears here as the local model writes it. It is based on the pictures that best "
            "match the question (with the text read from them and their captions); [1], [2]… refer to the "
            "pictures below. Nothing leaves this computer.")
        lv.addWidget(self.answer_view, 1)
        self.status = QLabel(left)
        self.status.setObjectName("ask-status")
        self.status.setWordWrap(True)
        self.status.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lv.addWidget(self.status)

        self.error_box = QFrame(left)
        self.error_box.setObjectName("ask-error")
        self.error_box.setFrameShape(QFrame.Shape.StyledPanel)
        eb = QHBoxLayout(self.error_box)
        eb.setContentsMargins(8, 6, 8, 6)
        self.error_label = QLabel(self.error_box)
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #c62828;")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.settings_button = QPushButton("Open Settings…", self.error_box)
        eb.addWidget(self.error_label, 1)
        eb.addWidget(self.settings_button)
        self.error_box.hide()
        lv.addWidget(self.error_box)

        self.cited_label = QLabel("Cited pictures", left)
        self.cited_label.setObjectName("ask-cited-label")
        self.cited_label.setWordWrap(True)
        lv.addWidget(self.cited_label)
        self.strip = CitationStrip(self.loader, left)
        lv.addWidget(self.strip)
        self.cited_label.hide()
        self.strip.hide()

        self.preview = PreviewPanel(self.splitter)
        self.preview.canvas.placeholder = "Click a cited picture to see it here"
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.preview)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([880, 340])
        outer.addWidget(self.splitter, 1)

        self.question.askPressed.connect(self.ask)
        self.question.escapePressed.connect(self._on_escape)
        self.question.textChanged.connect(lambda _: self._update_button())
        self.ask_button.clicked.connect(self._on_button)
        self.images.valueChanged.connect(self._on_images_changed)
        self.answer_view.anchorClicked.connect(self._on_anchor)
        self.settings_button.clicked.connect(self.settingsRequested)
        self.strip.currentItemChanged.connect(self._on_strip_current)
        self.strip.itemDoubleClicked.connect(lambda it: self.openRequested.emit(str(it.data(PathRole))))
        self.strip.customContextMenuRequested.connect(self._strip_menu)
        self.preview.openRequested.connect(self.openRequested)
        self.preview.revealRequested.connect(self.revealRequested)
        self.preview.similarRequested.connect(self.similarRequested)
        self.loader.thumbnailReady.connect(self._on_thumbnail)
        self.loader.imageReady.connect(self.preview.set_image)
        self._update_button()

    def _build_worker(self, interval: float) -> None:
        self.ask_thread = QThread(self)
        self.ask_thread.setObjectName("imgrag-ask")
        self.worker = AskWorker(self.host, interval)
        self.worker.moveToThread(self.ask_thread)
        self.ask_thread.finished.connect(self.worker.deleteLater)
        self.askRequested.connect(self.worker.run)
        self.worker.started.connect(self._on_started)
        self.worker.text.connect(self._on_text)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.ask_thread.start()

    # Asking ---------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._running

    @property
    def answer_text(self) -> str:
        return self._text

    @property
    def result(self) -> AskResult | None:
        return self._result

    def focus_question(self) -> None:
        self.question.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.question.selectAll()

    def ask(self, question: str | None = None) -> int:
        """Ask (the box's text, or `question`); a running answer is cancelled first. Returns the
        question's id (0 when there was nothing to ask)."""
        if self._closing:
            return 0
        if question is not None:
            self.question.setText(question)
        text = " ".join(self.question.text().split())
        if not text:
            self._show_status("Type a question first.")
            return 0
        self._cancel_all()
        self._next_id += 1
        ask_id = self._next_id
        req = AskRequest(text, images=self.images.value(), max_tokens=self.max_tokens, folder=self.folder(),
                         filters=self.filters())
        self._requests[ask_id] = req
        self._current_id = ask_id
        self._running = True
        self._text = ""
        self._result = None
        self.answer_view.clear()
        self.error_box.hide()
        self.strip.clear()
        self.strip.hide()
        self.cited_label.hide()
        self.preview.show_item(None)
        where = f" in {self.folder()}" if self.folder() else ""
        if Request("browse", filters=req.filters).has_filters():
            where += " that pass the filters"
        self._show_status(f"Finding the best-matching pictures{where} and preparing the model…")
        self._update_button()
        self.askRequested.emit(ask_id, req)
        return ask_id

    def cancel(self) -> None:
        """Stop the running answer after the current token (the text so far is kept)."""
        req = self._requests.get(self._current_id)
        if req is not None and self._running:
            req.cancel.set()
            self._show_status("Cancelling…")

    def _cancel_all(self) -> None:
        for req in self._requests.values():
            req.cancel.set()

    def _on_button(self) -> None:
        if self._running:
            self.cancel()
        else:
            self.ask()

    def _on_escape(self) -> None:
        if self._running:
            self.cancel()
        else:
            self.question.clear()

    def _update_button(self) -> None:
        if self._running:
            self.ask_button.setText("Cancel")
            self.ask_button.setToolTip("Stop the answer (Esc); the text so far is kept")
            self.ask_button.setEnabled(True)
        else:
            self.ask_button.setText("Ask")
            self.ask_button.setToolTip("Ask the local model (Enter)")
            self.ask_button.setEnabled(bool(self.question.text().strip()))

    def _on_images_changed(self, value: int) -> None:
        self.state["ask_images"] = int(value)

    def _show_status(self, text: str) -> None:
        self.status.setText(text)

    # Worker results -------------------------------------------------------------------------
    @Slot(int)
    def _on_started(self, ask_id: int) -> None:
        if ask_id == self._current_id:
            self.answerStarted.emit(ask_id)

    @Slot(int, str)
    def _on_text(self, ask_id: int, text: str) -> None:
        if ask_id != self._current_id or not text:
            return
        first = not self._text
        self._text += text
        bar = self.answer_view.verticalScrollBar()
        at_end = bar.value() >= bar.maximum() - 4
        cursor = self.answer_view.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        cursor.insertText(text)
        if at_end:
            bar.setValue(bar.maximum())
        req = self._requests.get(ask_id)
        if first and req is not None and not req.cancel.is_set():
            self._show_status("Answering… (Esc or Cancel stops it)")
        self.answerUpdated.emit(self._text)

    @Slot(int, object)
    def _on_finished(self, ask_id: int, result: AskResult) -> None:
        self._requests.pop(ask_id, None)
        if ask_id != self._current_id:
            return
        self._running = False
        self._update_button()
        self._result = result
        answer = result.answer
        if answer is None:
            self._show_status("Cancelled before the model started.")
            self.answerFinished.emit(result)
            return
        self._text = answer.text
        cited_numbers = {result.number_of(p) for p in answer.citations} - {0}
        self.answer_view.setHtml(answer_html(answer.text, len(result.sources),
                                             cited_numbers if result.cited_explicitly else set()))
        self.answer_view.verticalScrollBar().setValue(self.answer_view.verticalScrollBar().maximum())
        self._show_status(self._summary(result))
        cited = [(result.number_of(p), result.sources[result.number_of(p) - 1]) for p in answer.citations
                 if result.number_of(p)]
        self.strip.set_items(cited)
        if cited:
            n = len(cited)
            if result.cited_explicitly:
                self.cited_label.setText(f"Cited picture{'s' if n != 1 else ''} (click one to see it, double-click to open)")
            else:
                self.cited_label.setText(f"The answer cites no picture by number; these are the {n} picture"
                                         f"{'s' if n != 1 else ''} the model was given")
            self.cited_label.show()
            self.strip.show()
            self.strip.setCurrentRow(0)
        self.answerFinished.emit(result)

    def _summary(self, result: AskResult) -> str:
        answer = result.answer
        assert answer is not None
        parts = []
        if result.cancelled:
            parts.append("Cancelled: the answer so far is kept")
        if answer.sources:
            n = len(answer.sources)
            looked = (f"looked at {n} picture{'s' if n != 1 else ''}" if answer.looked_at_images else
                      f"read the text of {n} picture{'s' if n != 1 else ''}")
            parts.append(f"{answer.model or 'the model'} {looked}")
            if not answer.looked_at_images:
                parts.append("text-only model: the pictures themselves were not looked at, only the text read "
                             "from them and their captions")
        if result.tokens:
            speed = f", {result.tokens_per_s:.1f} tokens/s" if result.tokens_per_s else ""
            parts.append(f"{result.tokens} tokens in {result.seconds:.1f} s{speed}")
        return " · ".join(parts)

    @Slot(int, str, str, str)
    def _on_failed(self, ask_id: int, text: str, details: str, kind: str) -> None:
        self._requests.pop(ask_id, None)
        if ask_id != self._current_id:
            return
        self._running = False
        self._update_button()
        model_problem = kind == "model"
        line = text[:1].upper() + text[1:]
        if model_problem and "Settings" not in line and "imgrag models download" not in line:
            line = f"{line.rstrip('.')}. {MODEL_HINT}"
        self.error_label.setText(line)
        self.settings_button.setVisible(model_problem)
        self.error_box.show()
        self._show_status("The text so far is kept." if self._text else "")
        if self.bridge is not None:
            if kind == "bug":
                self.bridge.error(text, details)  # the dialog offers the traceback for a report
            else:
                self.bridge.warning(text, details)
        self.answerFailed.emit(text)

    # Cited pictures -------------------------------------------------------------------------
    def _on_anchor(self, url: QUrl) -> None:
        if url.scheme() != "cite" or self._result is None:
            return
        try:
            n = int(url.path() or url.toString().split(":", 1)[1])
        except ValueError:
            return
        if 1 <= n <= len(self._result.sources):
            row = self.strip.row_of(self._result.sources[n - 1].hit.path)
            if row >= 0:
                self.strip.setCurrentRow(row)

    def _on_strip_current(self, current: QListWidgetItem | None, _: Any = None) -> None:
        if current is None or self._result is None:
            return
        self.show_cited(str(current.data(PathRole)))

    def show_cited(self, path: str) -> None:
        """Show a source picture in the panel's preview."""
        result = self._result
        if result is None:
            return
        n = result.number_of(path)
        if not n:
            return
        item = result.sources[n - 1]
        self.preview.show_item(item, self.loader.thumbnail(path), show_score=False)
        row = result.rows.get(path)
        if row:
            self.preview.set_details(path, row)
        self.loader.request_image(path)

    def _on_thumbnail(self, path: str) -> None:
        pix = self.loader.thumbnail(path)
        if pix is not None:
            self.preview.set_thumbnail(path, pix)

    def _strip_menu(self, pos: Any) -> None:
        item = self.strip.itemAt(pos)
        if item is None:
            return
        path = str(item.data(PathRole))
        menu = QMenu(self)
        menu.addAction("Open", lambda: self.openRequested.emit(path))
        menu.addAction("Show in folder", lambda: self.revealRequested.emit(path))
        menu.addAction("Copy path", lambda: _copy(path))
        menu.addSeparator()
        menu.addAction("Find similar", lambda: self.similarRequested.emit(path))
        self._last_menu = menu
        menu.popup(self.strip.viewport().mapToGlobal(pos))

    # Lifetime -------------------------------------------------------------------------------
    def shutdown(self, wait_ms: int = 60_000) -> bool:
        """Cancel what runs (generation stops after its current token) and stop the thread."""
        self._closing = True
        self._cancel_all()
        self.ask_thread.quit()
        return bool(self.ask_thread.wait(wait_ms))


def _copy(text: str) -> None:
    from PySide6.QtGui import QGuiApplication

    QGuiApplication.clipboard().setText(text)


def ask_shortcuts() -> list[QKeySequence]:
    """Keys that bring up the Ask panel."""
    return [QKeySequence("Ctrl+K"), QKeySequence("Ctrl+Shift+A")]
