"""The text stages that run after the visual pass: OCR, then textual vectors and the keyword index.

All state lives in the table, so both stages resume after a quit or a crash: a row waits for
OCR with ocr_status 'pending' (set by the indexer for every image while OCR is on) and becomes
'done' or 'failed' here. Images that are not plainly pages pass the text detector first, so a
photo without text costs one detector pass; each row records the engine that read it
(`ocr_engine`), and rows read by an engine no longer in use, or skipped while OCR was off,
are queued again (`requeue_outdated`): their old text stays searchable until the new is written. New OCR text changes the
row's search_text and clears its textual vector; the embedding stage then embeds every row
whose textual vector is missing or was made by another text model. Results are written in
small batches, so a quit loses at most the batch in flight, and a row whose file changed
meanwhile (new content hash) is never given the old file's text.

The keyword index is LanceDB's native full-text index over search_text. Rows written after it
was built are still found (LanceDB searches unindexed rows by scanning them), so the index is
rebuilt only when a good share of the table is unindexed.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from imgrag_desktop.store import Store, compose_search_text, sql_in, sql_str
from imgrag_desktop.types import ImgragError, ModelUnavailable, Progress, tell

log = logging.getLogger(__name__)

OCR_PENDING = "ocr_status = 'pending'"
OCR_FINISHED = "(ocr_status IS NULL OR ocr_status != 'pending')"
FTS_COLUMN = "search_text"
REBUILD_FTS_SHARE = 0.2  # rebuild the keyword index when this share of rows is unindexed
REBUILD_FTS_MIN = 500


@dataclass
class OcrReport:
    read: int = 0
    detector_only: int = 0  # of `read`: images the text detector found no text in (nothing more ran)
    failed: int = 0
    remaining: int = 0
    seconds: float = 0.0
    cancelled: bool = False
    failures: list[tuple[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"read": self.read, "detector_only": self.detector_only, "failed": self.failed, "remaining": self.remaining,
                "seconds": round(self.seconds, 3), "cancelled": self.cancelled,
                "failures": [{"path": p, "reason": r} for p, r in self.failures]}


@dataclass
class EmbedReport:
    embedded: int = 0
    remaining: int = 0
    seconds: float = 0.0
    cancelled: bool = False
    model: str = ""
    keyword_index: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"embedded": self.embedded, "remaining": self.remaining, "seconds": round(self.seconds, 3),
                "cancelled": self.cancelled, "model": self.model, "keyword_index": self.keyword_index}


class OcrStage:
    """Reads the text of every row waiting for OCR, newest images first, in parallel."""

    def __init__(self, store: Store, ocr: Any, workers: int = 0, on_progress: Callable[[Progress], None] | None = None,
                 flush_every: int = 16, flush_s: float = 5.0, detect_first: bool = True,
                 close_engine: bool = True) -> None:
        self.store = store
        self.close_engine = close_engine  # False: `ocr` is shared and outlives the run (Services.ocr_engine)
        self.detect_first = detect_first  # False: photos are read in full even without detected text
        self.ocr = ocr
        self.workers = workers
        self.on_progress = on_progress
        self.flush_every = max(1, flush_every)
        self.flush_s = flush_s

    def pending(self) -> list[str]:
        return [p for p, _ in self.pending_kinds()]

    def pending_kinds(self) -> list[tuple[str, str]]:
        """(path, kind) of the rows waiting for OCR, newest first."""
        if self.store.images is None:
            return []
        tbl = self.store.query(OCR_PENDING, ["path", "date", "kind"])
        rows = sorted(zip(tbl.column("path").to_pylist(), tbl.column("date").to_pylist(),
                          tbl.column("kind").to_pylist()), key=lambda r: -(r[1] or 0.0))
        return [(p, k or "") for p, _, k in rows]

    def requeue_outdated(self, engine_ids: list[str]) -> int:
        """Queue rows read by another engine (or a release that did not record one) and rows
        skipped while OCR was off or photos were not read; returns how many."""
        if self.store.images is None or not engine_ids:
            return 0
        if "ocr_engine" not in self.store.images.schema.names:
            return 0
        where = (f"ocr_status = 'skipped' OR (ocr_status = 'done' AND (ocr_engine IS NULL OR "
                 f"NOT {sql_in('ocr_engine', engine_ids)}))")
        return self.store.mark_pending(where, "ocr_status")

    def pending_count(self) -> int:
        return 0 if self.store.images is None else self.store.count(OCR_PENDING)

    def requeue(self, kinds: tuple[str, ...] | None = ("screenshot", "document"),
                statuses: tuple[str, ...] = ("skipped", "failed")) -> int:
        """Queue rows again (OCR was off, photos are now read too, or to retry failures);
        `kinds` None means every kind."""
        if self.store.images is None or not statuses:
            return 0
        where = sql_in("ocr_status", list(statuses))
        if kinds:
            where = f"({where}) AND {sql_in('kind', list(kinds))}"
        return self.store.mark_pending(where, "ocr_status")

    def run(self, cancel: threading.Event | None = None, limit: int | None = None) -> OcrReport:
        from imgrag_desktop.models.ocr import PAGE_KINDS, OcrPool

        cancel = cancel or threading.Event()
        report = OcrReport()
        t0 = time.perf_counter()
        todo = self.pending_kinds()
        if limit is not None:
            todo = todo[:max(0, limit)]
        if not todo:
            report.remaining = self.pending_count()
            return report
        self.ocr.check()  # Tesseract missing: ModelUnavailable before anything is touched
        paths = [p for p, _ in todo]
        hashes = {p: r.get("content_hash") for p, r in self.store.rows(paths, ["path", "content_hash"]).items()}
        items = [(p, k, self.detect_first and k not in PAGE_KINDS) for p, k in todo]
        buffer: dict[str, dict[str, Any]] = {}
        last_flush = time.monotonic()
        done = 0
        tell(self.on_progress, Progress("ocr", 0, len(todo)))
        try:
            for path, result in OcrPool(self.ocr, self.workers, close=self.close_engine).map(items, cancel.is_set):
                done += 1
                if isinstance(result, ModelUnavailable):
                    raise result
                if isinstance(result, BaseException):
                    if not isinstance(result, (ImgragError, OSError)):
                        log.warning("OCR of %s failed", path, exc_info=result)
                    reason = f"OCR: {result}" if isinstance(result, ImgragError) else \
                        f"OCR: unexpected error: {type(result).__name__}: {result}"
                    buffer[path] = {"ocr_status": "failed", "error": reason[:500]}
                    report.failed += 1
                    report.failures.append((path, reason))
                else:
                    buffer[path] = {"ocr_status": "done", "ocr_text": result.text,
                                    "ocr_words": json.dumps(result.words, separators=(",", ":"), ensure_ascii=False),
                                    "ocr_engine": result.engine, "error": ""}
                    report.detector_only += result.detected == 0
                    report.read += 1
                elapsed = max(1e-6, time.perf_counter() - t0)
                tell(self.on_progress, Progress("ocr", done, len(todo), current=path, rate=done / elapsed,
                                                 failed=report.failed))
                if len(buffer) >= self.flush_every or time.monotonic() - last_flush >= self.flush_s:
                    self._flush(buffer, hashes)
                    last_flush = time.monotonic()
        finally:
            self._flush(buffer, hashes)
        report.cancelled = cancel.is_set() and done < len(todo)
        report.seconds = time.perf_counter() - t0
        report.remaining = self.pending_count()
        return report

    def _flush(self, buffer: dict[str, dict[str, Any]], hashes: dict[str, Any]) -> None:
        if not buffer:
            return
        current = self.store.rows(list(buffer), ["path", "name", "caption", "content_hash", "ocr_status"])
        changes: dict[str, dict[str, Any]] = {}
        for path, change in buffer.items():
            row = current.get(path)
            if row is None or row.get("content_hash") != hashes.get(path) or row.get("ocr_status") != "pending":
                continue  # deleted, replaced by new content (read afresh later), or no longer wanted
            change = dict(change)
            if change["ocr_status"] == "done":
                change["search_text"] = compose_search_text(row.get("name") or path.rsplit("/", 1)[-1],
                                                            change["ocr_text"], row.get("caption"))
                change["textual"] = None  # the embedding stage embeds the new text
            changes[path] = change
        buffer.clear()
        if changes:
            self.store.update_rows(changes)


class EmbedStage:
    """Gives every row a textual vector of its search_text, made by the current text model."""

    def __init__(self, store: Store, encoder: Any, batch: int = 64,
                 on_progress: Callable[[Progress], None] | None = None) -> None:
        self.store = store
        self.encoder = encoder
        self.batch = max(1, batch)
        self.on_progress = on_progress

    def todo_filter(self, include_ocr_pending: bool = False) -> str:
        need = f"(textual IS NULL OR text_model IS NULL OR text_model != {sql_str(self.encoder.model_id)})"
        return need if include_ocr_pending else f"{need} AND {OCR_FINISHED}"

    def todo(self, include_ocr_pending: bool = False) -> list[str]:
        if self.store.images is None:
            return []
        return self.store.query(self.todo_filter(include_ocr_pending), ["path"]).column("path").to_pylist()

    def run(self, cancel: threading.Event | None = None, include_ocr_pending: bool = False) -> EmbedReport:
        """Embed what waits. `include_ocr_pending` also embeds rows whose OCR has not run
        (when OCR cannot run at all: their names and captions are still worth a vector; OCR
        text, once read, clears the vector for a new one)."""
        cancel = cancel or threading.Event()
        report = EmbedReport(model=self.encoder.model_id)
        t0 = time.perf_counter()
        todo = self.todo(include_ocr_pending)
        if todo:
            self.encoder.load()
        tell(self.on_progress, Progress("text vectors", 0, len(todo)))
        for i in range(0, len(todo), self.batch):
            if cancel.is_set():
                report.cancelled = True
                break
            chunk = todo[i:i + self.batch]
            rows = self.store.rows(chunk, ["path", "search_text", "name", "ocr_text", "caption"])
            paths = [p for p in chunk if p in rows]
            texts = [rows[p].get("search_text") or compose_search_text(rows[p].get("name") or "", rows[p].get("ocr_text"),
                                                                         rows[p].get("caption")) for p in paths]
            vecs = self.encoder.encode(texts) if paths else []
            # Only rows whose text did not change while the model ran get the vector.
            now = self.store.rows(paths, ["path", "search_text"])
            changes = {p: {"textual": v, "text_model": self.encoder.model_id, "search_text": t}
                       for p, t, v in zip(paths, texts, vecs)
                       if p in now and (now[p].get("search_text") or t) == t}
            self.store.update_rows(changes)
            report.embedded += len(changes)
            elapsed = max(1e-6, time.perf_counter() - t0)
            tell(self.on_progress, Progress("text vectors", min(len(todo), i + len(chunk)), len(todo),
                                             current=chunk[-1], rate=report.embedded / elapsed))
        report.remaining = len(self.todo(include_ocr_pending))
        report.seconds = time.perf_counter() - t0
        return report


def fts_state(store: Store) -> tuple[bool, int, int]:
    """(index exists, indexed rows, unindexed rows) of the keyword index."""
    table = store.images
    if table is None:
        return False, 0, 0
    for idx in table.list_indices():
        if list(getattr(idx, "columns", [])) == [FTS_COLUMN] and "FTS" in str(getattr(idx, "index_type", "")).upper():
            stats = table.index_stats(idx.name)
            return True, int(stats.num_indexed_rows or 0), int(stats.num_unindexed_rows or 0)
    return False, 0, 0


def ensure_fts_index(store: Store, force: bool = False) -> str:
    """Build the keyword index when missing (or mostly stale); 'created', 'rebuilt' or 'fresh'."""
    table = store.images
    if table is None or store.count() == 0:
        return "empty"
    exists, indexed, unindexed = fts_state(store)
    if exists and not force and unindexed < max(REBUILD_FTS_MIN, REBUILD_FTS_SHARE * indexed):
        return "fresh"
    import warnings

    # English stemming and stop words: "keys" finds "key", "the" alone finds nothing.
    # (create_index(config=FTS(...)) is the newer spelling but treats the column as a vector
    # column in LanceDB 0.40's synchronous API; create_fts_index still does the right thing.)
    with store._lock, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table.create_fts_index(FTS_COLUMN, replace=True, with_position=False, base_tokenizer="simple",
                               language="English", lower_case=True, stem=True, remove_stop_words=True,
                               ascii_folding=True)
        store.writes += 1
    return "rebuilt" if exists else "created"
