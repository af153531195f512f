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

from typing import Any, Callable

from PySide6.QtCore import Qt, QThread, QUrl, Signal, Slot
from PySide6.QtGui import QKeySequence, QPalette, QTextOption
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from imgrag_desktop.gui.ask_evidence import evidence_boxes, evidence_html, verdict_html
from imgrag_desktop.gui.ask_widgets import CitationStrip, PathRole, QuestionEdit, answer_html
from imgrag_desktop.gui.ask_worker import (
    DEFAULT_IMAGES,
    DEFAULT_MAX_TOKENS,
    MAX_IMAGES,
    MODEL_HINT,
    STREAM_INTERVAL_S,
    AskRequest,
    AskResult,
    AskWorker,
)
from imgrag_desktop.gui.messages import MessageBridge
from imgrag_desktop.gui.preview import PreviewPanel
from imgrag_desktop.gui.thumbnails import ImageLoader
from imgrag_desktop.gui.workers import EngineHost
from imgrag_desktop.search.filters import Filters

__all__ = ["AskPanel", "AskRequest", "AskResult", "AskWorker", "STREAM_INTERVAL_S", "answer_html", "ask_shortcuts"]


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
        if req.filters.active():
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
            self._show_status("The model is writing a draft; it is checked against the evidence when done… "
                              "(Esc or Cancel stops it)")
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
        self.answer_view.setHtml(verdict_html(answer)
                                 + answer_html(answer.text, len(result.sources),
                                               cited_numbers if result.cited_explicitly else set())
                                 + evidence_html(answer, result.number_of))
        self.answer_view.verticalScrollBar().setValue(self.answer_view.verticalScrollBar().maximum())
        self._show_status(self._summary(result))
        cited = [(result.number_of(p), result.sources[result.number_of(p) - 1]) for p in answer.citations
                 if result.number_of(p)]
        self.strip.set_items(cited)
        if cited:
            n = len(cited)
            if answer.status == "unknown":
                self.cited_label.setText(f"The closest picture{'s' if n != 1 else ''} (no answer in their text; "
                                         "click one to see it)")
            elif result.cited_explicitly or answer.status in ("supported", "extracted"):
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
        if model_problem and "Settings" not in line and "Models…" not in line and "imgrag models download" not in line:
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
        if self._result is None:
            return
        if url.scheme() == "quote":
            answer = self._result.answer
            try:
                i = int(url.path() or url.toString().split(":", 1)[1])
            except ValueError:
                return
            if answer is not None and 0 <= i < len(answer.evidence):
                path = str(answer.evidence[i].get("path", ""))
                row = self.strip.row_of(path)
                if row >= 0:
                    self.strip.setCurrentRow(row)
                self.show_cited(path)
            return
        if url.scheme() != "cite":
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
        self.preview.canvas.set_boxes(evidence_boxes(result.answer, path))  # the quoted lines, highlighted
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

