"""The caption queue: a short, search-oriented description per image, written by the local VLM.

Captions are slow (seconds per image on a CPU) and optional, so they run after everything else
and never block search. All state is in the table: a row waits with caption_status 'pending'
(set by the indexer when captions are enabled), and becomes 'done' or 'failed' here; quitting
at any point loses at most the captions not yet flushed. A caption changes the row's text, so
`search_text` is recomputed and `textual` cleared for the text stage to embed again.

Throttling: the worker thread runs at low OS priority and can pause between images (a duty
cycle), so the machine stays responsive while it works through a large library.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from imgrag_desktop.store import Store, compose_search_text, sql_in, sql_str
from imgrag_desktop.types import DecodeError, ImgragError, ModelUnavailable, Progress

CAPTION_PROMPT = (
    "Describe this picture in one or two short sentences for a search index: what it shows, the main "
    "objects, people and setting, and quote any clearly readable text. Start directly with the content."
)
MAX_CAPTION_CHARS = 320

_SPECIAL_TOKENS = re.compile(r"<\|?/?[a-z_]+\|?>|<end_of_utterance>|</?s>", re.I)
_PIC = r"(?:image|picture|photo(?:graph)?|screenshot|screen ?shot|scene|illustration|drawing|graphic)"
_LEADS = [
    re.compile(r"^(?:sure|certainly|of course|okay|ok|absolutely)[,.!:]*\s*", re.I),
    re.compile(r"^here(?:'s| is| are)\s+(?:a|an|the|my)?\s*(?:short|brief|concise|one-sentence|detailed)?\s*"
               r"(?:description|caption|summary|answer)s?(?:\s+(?:of|for)\s+(?:the|this|your)\s+" + _PIC + r")?\s*[:.\-–]*\s*",
               re.I),
    re.compile(r"^(?:caption|description|summary|answer)\s*[:\-–]\s*", re.I),
    re.compile(r"^(?:in\s+)?(?:the|this)\s+" + _PIC + r",?\s+(?:we can see|we see|you can see|there (?:is|are))\s+", re.I),
    re.compile(r"^(?:the|this)\s+" + _PIC + r"\s+(?:shows|depicts|features|displays|contains|captures|presents|"
               r"illustrates|is of|is showing|appears to show|seems to show)\s+", re.I),
    re.compile(r"^(?:this|it)\s+is\s+(?:a|an)\s+" + _PIC + r"\s+(?:of|showing|that shows|with|depicting)\s+", re.I),
    re.compile(r"^(?:a|an)\s+" + _PIC + r"\s+(?:of|showing|depicting)\s+", re.I),
]
_TAILS = re.compile(r"\s*(?:I hope this helps|Let me know if|Is there anything else|Feel free to)[^.!?]*[.!?]?\s*$", re.I)


def clean_caption(text: str, max_chars: int = MAX_CAPTION_CHARS) -> str:
    """A model's reply as a caption: preambles ("Here is a description…", "The image shows"),
    chat tokens, markdown and sign-offs removed, one line, at most `max_chars` (cut at a
    sentence or word end)."""
    t = _SPECIAL_TOKENS.sub(" ", text or "")
    t = re.sub(r"[*_#`>]+", " ", t)
    t = re.sub(r"^\s*[-•]\s*", "", t, flags=re.M)
    t = " ".join(t.split())
    t = t.strip(" \"'“”‘’")
    for _ in range(4):
        before = t
        for pat in _LEADS:
            t = pat.sub("", t, count=1).strip(" \"'“”:")
        if t == before:
            break
    t = _TAILS.sub("", t).strip()
    if len(t) > max_chars:
        cut = t[:max_chars]
        end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
        t = cut[: end + 1] if end >= max_chars // 2 else cut.rsplit(" ", 1)[0].rstrip(",;:") + "…"
    if t and t[0].islower():
        t = t[0].upper() + t[1:]
    return t


@dataclass
class CaptionReport:
    captioned: int = 0
    failed: int = 0
    remaining: int = 0
    seconds: float = 0.0
    model_seconds: float = 0.0
    cancelled: bool = False
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def seconds_per_image(self) -> float:
        n = self.captioned + self.failed
        return self.model_seconds / n if n else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"captioned": self.captioned, "failed": self.failed, "remaining": self.remaining,
                "seconds": round(self.seconds, 3), "seconds_per_image": round(self.seconds_per_image, 3),
                "cancelled": self.cancelled,
                "failures": [{"path": p, "reason": r} for p, r in self.failures]}


def lower_thread_priority(step: int = 10) -> None:
    """Make the calling thread yield the CPU to the UI and the indexer (Linux: per thread)."""
    try:
        if sys.platform.startswith("linux"):
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + step))
    except (OSError, AttributeError):  # pragma: no cover - not permitted / not supported
        pass


PENDING = "caption_status = 'pending' AND (ocr_status IS NULL OR ocr_status != 'pending')"
PENDING_ANY = "caption_status = 'pending'"


class CaptionQueue:
    """Works through pending rows, newest pictures first.

    `vlm` is a LocalVLM or a zero-argument callable returning one (resolved when work starts,
    so a missing model is reported then). Rows whose OCR is still pending wait: their text is
    not final yet, and the caption's search_text must include it. Where no OCR will run
    (Tesseract missing), `wait_for_ocr=False` captions them now; the OCR stage, once it runs,
    composes the search text again with the caption in it.
    """

    def __init__(self, store: Store, vlm: Any, *, duty: float = 1.0, pause_s: float = 0.0, flush_every: int = 8,
                 flush_s: float = 10.0, max_side: int = 672, max_tokens: int = 96, prompt: str = CAPTION_PROMPT,
                 on_progress: Callable[[Progress], None] | None = None, wait_for_ocr: bool = True) -> None:
        if not 0 < duty <= 1:
            raise ValueError("duty must be in (0, 1]")
        self.store = store
        self._vlm = vlm
        self.duty = duty
        self.pause_s = pause_s
        self.flush_every = max(1, flush_every)
        self.flush_s = flush_s
        self.max_side = max_side
        self.max_tokens = max_tokens
        self.prompt = prompt
        self.on_progress = on_progress
        self.ready = PENDING if wait_for_ocr else PENDING_ANY

    def model(self) -> Any:
        vlm = self._vlm
        if callable(vlm) and not hasattr(vlm, "describe"):
            vlm = vlm()
        return vlm

    # Queue state (all in the table) ---------------------------------------------------------
    def pending(self) -> list[str]:
        """Pending paths, newest first."""
        if self.store.images is None:
            return []
        tbl = self.store.query(self.ready, ["path", "date"])
        rows = sorted(zip(tbl.column("path").to_pylist(), tbl.column("date").to_pylist()),
                      key=lambda r: -(r[1] or 0.0))
        return [p for p, _ in rows]

    def pending_count(self, ready_only: bool = True) -> int:
        """Rows waiting for a caption (by default only those whose OCR is finished)."""
        if self.store.images is None:
            return 0
        return self.store.count(self.ready if ready_only else PENDING_ANY)

    def requeue(self, statuses: tuple[str, ...] = ("skipped", "failed"), other_models_than: str | None = None) -> int:
        """Queue rows again: after captions were switched on (skipped rows), to retry failures,
        or, with `other_models_than`, to redo captions written by another model."""
        if self.store.images is None:
            return 0
        conds = [sql_in("caption_status", list(statuses))] if statuses else []
        if other_models_than:
            conds.append(f"(caption_status = 'done' AND caption_model != {sql_str(other_models_than)})")
        if not conds:
            return 0
        return self.store.mark_pending(" OR ".join(f"({c})" for c in conds), "caption_status")

    # Work -------------------------------------------------------------------------------------
    def run(self, cancel: threading.Event | None = None, limit: int | None = None) -> CaptionReport:
        """Caption pending rows until none is left, `limit` is reached or `cancel` is set."""
        from imgrag_desktop.imaging import decode_path

        cancel = cancel or threading.Event()
        report = CaptionReport()
        t0 = time.perf_counter()
        todo = self.pending()
        if limit is not None:
            todo = todo[: max(0, limit)]
        if not todo:
            report.remaining = self.pending_count(ready_only=False)
            return report
        vlm = self.model()
        vlm.inspect()
        if not vlm.has_vision:
            raise ModelUnavailable(
                f"{vlm.spec.display_name} is a text-only model and cannot caption pictures: pick a vision model "
                "(`imgrag models list`) or set vlm_mmproj")
        hashes = {p: r.get("content_hash") for p, r in self.store.rows(todo, ["path", "content_hash"]).items()}
        buffer: dict[str, dict[str, Any]] = {}
        last_flush = time.monotonic()
        try:
            for i, path in enumerate(todo):
                if cancel.is_set():
                    report.cancelled = True
                    break
                self._progress(report, i, len(todo), path, t0)
                started = time.perf_counter()
                try:
                    decoded, _ = decode_path(path, max_side=self.max_side)
                    raw = vlm.describe(decoded.image, self.prompt, max_tokens=self.max_tokens,
                                       max_side=self.max_side, cancel=cancel)
                    if cancel.is_set() and vlm.last_stats.cancelled:
                        report.cancelled = True
                        break  # a half-written caption is not kept; the row stays pending
                    caption = clean_caption(raw)
                    if caption:
                        buffer[path] = {"caption": caption, "caption_status": "done", "caption_model": vlm.model_id,
                                        "error": ""}
                        report.captioned += 1
                    else:
                        reason = "caption: the model returned no usable text"
                        buffer[path] = {"caption_status": "failed", "error": reason}
                        report.failed += 1
                        report.failures.append((path, reason))
                except (DecodeError, OSError) as exc:
                    reason = f"caption: cannot read the picture ({exc})"
                    buffer[path] = {"caption_status": "failed", "error": reason}
                    report.failed += 1
                    report.failures.append((path, reason))
                except ModelUnavailable:
                    raise  # nothing can be captioned: stop, rows stay pending
                except ImgragError as exc:
                    reason = f"caption: {exc}"
                    buffer[path] = {"caption_status": "failed", "error": reason}
                    report.failed += 1
                    report.failures.append((path, reason))
                worked = time.perf_counter() - started
                report.model_seconds += worked
                if len(buffer) >= self.flush_every or time.monotonic() - last_flush >= self.flush_s:
                    self._flush(buffer, hashes)
                    last_flush = time.monotonic()
                rest = max(self.pause_s, worked * (1.0 / self.duty - 1.0))
                if rest > 0 and cancel.wait(rest):
                    report.cancelled = True
                    break
        finally:
            self._flush(buffer, hashes)
        report.seconds = time.perf_counter() - t0
        report.remaining = self.pending_count(ready_only=False)
        self._progress(report, report.captioned + report.failed, len(todo), "", t0)
        return report

    def _flush(self, buffer: dict[str, dict[str, Any]], hashes: dict[str, Any]) -> None:
        """Write buffered results; rows whose file changed meanwhile (new content hash) or whose
        OCR text changed get a freshly composed search_text from their current values."""
        if not buffer:
            return
        current = self.store.rows(list(buffer), ["path", "name", "ocr_text", "caption", "content_hash"])
        changes: dict[str, dict[str, Any]] = {}
        for path, change in buffer.items():
            row = current.get(path)
            if row is None or row.get("content_hash") != hashes.get(path):
                continue  # deleted, or replaced by a new picture that must be captioned afresh
            change = dict(change)
            if "caption" in change:
                change["search_text"] = compose_search_text(row.get("name") or os.path.basename(path),
                                                            row.get("ocr_text"), change["caption"])
                change["textual"] = None  # the text stage embeds the new text
            changes[path] = change
        if changes:
            self.store.update_rows(changes)
        buffer.clear()

    def _progress(self, report: CaptionReport, done: int, total: int, current: str, t0: float) -> None:
        if self.on_progress is None:
            return
        elapsed = time.perf_counter() - t0
        self.on_progress(Progress(stage="captions", done=done, total=total, current=current,
                                  rate=done / elapsed if elapsed > 0 else 0.0, failed=report.failed))

    def start(self, cancel: threading.Event, on_done: Callable[[CaptionReport | BaseException], None] | None = None,
              limit: int | None = None) -> threading.Thread:
        """Run in a low-priority background thread; `on_done` gets the report or the error."""

        def work() -> None:
            lower_thread_priority()
            try:
                result: CaptionReport | BaseException = self.run(cancel, limit)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                result = exc
            if on_done is not None:
                on_done(result)

        t = threading.Thread(target=work, name="imgrag-captions", daemon=True)
        t.start()
        return t
