"""Folder → decode → CLIP → LanceDB, with reuse of known content and per-file failure reasons.

Decoding (with JPEG draft() reduction and the model's preprocessing) runs in a thread pool a
few batches ahead of the model; Pillow and torch release the GIL, so the CPU's cores overlap
decode and encode. One writer thread commits batches with merge_insert, so the model never
waits on disk and a crash loses at most the batch in flight. A file whose content hash is
already indexed (a move, rename or copy) gets its vectors and text from the existing row: no
decode, no embedding.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence


from imgrag_desktop import imaging
from imgrag_desktop.indexing import scanner
from imgrag_desktop.store import Store, compose_search_text, sql_str
from imgrag_desktop.types import DecodeError, Failure, IndexReport, Progress

log = logging.getLogger(__name__)

OPTIMIZE_AFTER_ROWS = 2000
WRITE_EVERY_ROWS = 256
WRITE_EVERY_S = 2.0


@dataclass
class _Item:
    entry: scanner.FileEntry
    chash: str = ""
    tensor: Any = None
    decoded: imaging.Decoded | None = None
    reuse_from: str | None = None
    failure: Failure | None = None


def default_workers() -> int:
    return max(1, min(8, (os.cpu_count() or 2)))


def default_batch_size(device: str) -> int:
    return 128 if device.startswith("cuda") else 32


class Indexer:
    """Indexes folders or single files into a Store with one CLIP encoder."""

    def __init__(self, cfg: Any, store: Store, encoder: Any, on_progress: Callable[[Progress], None] | None = None,
                 batch_size: int | None = None, workers: int | None = None, make_thumbnails: bool = True) -> None:
        self.cfg = cfg
        self.store = store
        self.encoder = encoder
        self.on_progress = on_progress
        self._batch_size = batch_size or (cfg.settings.batch_size if cfg is not None else 0) or 0
        self.workers = workers or (cfg.settings.decode_workers if cfg is not None else 0) or default_workers()
        self.make_thumbnails = make_thumbnails
        self.thumbs_dir = cfg.thumbs_dir if cfg is not None else None
        self.pause = threading.Event()  # set = paused
        self.ignore_hidden = cfg.settings.ignore_hidden if cfg is not None else True

    # Public API ------------------------------------------------------------------------------
    def index_paths(self, roots: Sequence[str], cancel: threading.Event | None = None,
                    remove_missing: bool = True, retry_failed: bool = False) -> IndexReport:
        """Bring the index in line with the given folders (or files): add, update, reuse, remove."""
        cancel = cancel or threading.Event()
        t0 = time.monotonic()
        report = IndexReport()
        self._emit(Progress("scan", current=", ".join(roots)))
        result = scanner.scan(roots, self.ignore_hidden, cancelled=cancel.is_set)
        report.scanned = len(result.files)
        where = " OR ".join(self._root_filter(r) for r in result.roots)
        indexed = self.store.file_states(f"({where})" if where else None) if where else {}
        failed = self.store.failure_states(f"({where})") if where else {}
        model_id = self.encoder.model_id
        plan = scanner.plan(result, indexed, failed, model_id, retry_failed=retry_failed)
        report.unchanged = plan.unchanged + plan.skipped_failed
        for fl, root in result.problems:
            report.failures.append(fl)
        if result.problems:
            self.store.record_failures([(fl, root, 0, 0) for fl, root in result.problems])
        self._run(plan.todo, plan.updated_paths, report, cancel)
        if remove_missing and not cancel.is_set():
            if plan.gone:
                self.store.delete_paths(plan.gone)
                report.removed = len(plan.gone)
            if plan.gone_failures:
                self.store.clear_failures(plan.gone_failures)
        report.failed = len(report.failures)
        report.cancelled = cancel.is_set()
        if report.added + report.updated + report.removed >= OPTIMIZE_AFTER_ROWS:
            self._emit(Progress("optimize"))
            self.store.optimize()
        report.seconds = time.monotonic() - t0
        self._emit(Progress("done", report.added + report.updated, report.added + report.updated,
                            failed=report.failed, reused=report.reused))
        return report

    def index_files(self, paths: Sequence[str], root: str | None = None,
                    cancel: threading.Event | None = None) -> IndexReport:
        """Index specific files (the watcher's path): no folder walk, no removal of others."""
        cancel = cancel or threading.Event()
        t0 = time.monotonic()
        report = IndexReport()
        entries: list[scanner.FileEntry] = []
        for p in paths:
            p = scanner.normalize_root(p)
            folder = root or os.path.dirname(p)
            try:
                st = os.stat(p)
            except FileNotFoundError:
                continue
            except OSError as exc:
                report.failures.append(Failure(p, f"cannot stat: {exc.strerror or exc}", "scan"))
                continue
            res = scanner.ScanResult()
            scanner._add_file(p, folder, st, res)
            entries.extend(res.files)
            report.failures.extend(fl for fl, _ in res.problems)
        report.scanned = len(entries)
        known = self.store.file_states(" OR ".join(f"path = {sql_str(e.path)}" for e in entries)) if entries else {}
        model_id = self.encoder.model_id
        todo = [e for e in entries if not (e.path in known and known[e.path][:2] == (e.size, e.mtime_ns)
                                           and known[e.path][3] == model_id)]
        report.unchanged = len(entries) - len(todo)
        self._run(todo, {e.path for e in todo if e.path in known}, report, cancel)
        report.failed = len(report.failures)
        report.cancelled = cancel.is_set()
        report.seconds = time.monotonic() - t0
        return report

    def move_paths(self, moves: dict[str, str], root: str | None = None) -> int:
        """Rows follow files that moved (old path → new path): no decode, no embedding."""
        rows = self.store.rows(list(moves))
        out = []
        for old, row in rows.items():
            new = moves[old]
            try:
                st = os.stat(new)
            except OSError:
                continue
            row = dict(row)
            row.update(path=new, name=os.path.basename(new), folder=root or row.get("folder") or os.path.dirname(new),
                       size=st.st_size, mtime_ns=st.st_mtime_ns)
            row["search_text"] = compose_search_text(row["name"], row.get("ocr_text"), row.get("caption"))
            row["textual"] = None if row.get("search_text") != rows[old].get("search_text") else row.get("textual")
            out.append(row)
        if out:
            self.store.upsert(out)  # new rows first: a crash in between leaves a stale row, never a lost one
            written = {r["path"] for r in out}
            self.store.delete_paths([old for old in rows if moves[old] in written and moves[old] != old])
        return len(out)

    def remove_paths(self, paths: Sequence[str]) -> None:
        self.store.delete_paths(list(paths))
        self.store.clear_failures(list(paths))

    # Internals -------------------------------------------------------------------------------
    @staticmethod
    def _root_filter(root: str) -> str:
        from imgrag_desktop.store import folder_filter

        return folder_filter(root) if os.path.isdir(root) or not imaging.is_image_name(root) else f"path = {sql_str(root)}"

    @property
    def batch_size(self) -> int:
        return self._batch_size or default_batch_size(self.encoder.device if self.encoder.loaded else "cpu")

    def _emit(self, p: Progress) -> None:
        if self.on_progress is not None:
            try:
                self.on_progress(p)
            except Exception:  # a broken listener must not stop indexing
                log.exception("progress listener failed")

    def _known_hashes(self, model_id: str) -> dict[str, str]:
        """content hash → a path whose row holds vectors made by the current model."""
        tbl = self.store.query(f"clip_model = {sql_str(model_id)}", ["path", "content_hash"])
        if not tbl.num_rows:
            return {}
        return dict(zip(tbl.column("content_hash").to_pylist(), tbl.column("path").to_pylist()))

    def _prepare(self, entry: scanner.FileEntry, known: dict[str, str], max_side: int) -> _Item:
        item = _Item(entry)
        try:
            data = imaging.read_file(entry.path)
            item.chash = imaging.content_hash(data)
            src = known.get(item.chash)
            if src is not None:  # moved, renamed, copied or merely touched: no decode, no embedding
                item.reuse_from = src
                return item
            dec = imaging.decode_bytes(data, max_side=max_side, name=os.path.basename(entry.path))
            item.decoded = dec
            item.tensor = self.encoder.preprocess(dec.image)
            if self.make_thumbnails and self.thumbs_dir is not None:
                imaging.save_thumbnail(dec.image, self.thumbs_dir, item.chash)
        except DecodeError as exc:
            item.failure = Failure(entry.path, str(exc), "decode")
        except MemoryError:
            item.failure = Failure(entry.path, "image too large to decode in memory", "decode")
        except Exception as exc:  # one bad file never stops the run
            item.failure = Failure(entry.path, f"unexpected error: {type(exc).__name__}: {exc}", "decode")
        return item

    def _run(self, todo: list[scanner.FileEntry], updated_paths: set[str],
             report: IndexReport, cancel: threading.Event) -> None:
        total = len(todo)
        if total == 0:
            return
        self.encoder.load()
        model_id = self.encoder.model_id
        known = self._known_hashes(model_id)
        max_side = max(self.encoder.image_size * 2, imaging.THUMB_SIZE)
        bs = self.batch_size
        write_pool = ThreadPoolExecutor(1, thread_name_prefix="imgrag-writer")
        pending_write: Future[None] | None = None
        done = 0
        t0 = time.monotonic()
        rows: list[dict[str, Any]] = []
        failures: list[tuple[Failure, str, int, int]] = []
        last_write = time.monotonic()

        def flush(force: bool = False) -> None:
            nonlocal pending_write, rows, failures, last_write
            if not rows and not failures:
                return
            if not force and len(rows) < WRITE_EVERY_ROWS and time.monotonic() - last_write < WRITE_EVERY_S:
                return
            if pending_write is not None:
                pending_write.result()  # one batch in flight at a time: bounded memory, ordered commits
            batch_rows, batch_fail = rows, failures
            rows, failures = [], []
            last_write = time.monotonic()
            pending_write = write_pool.submit(self._write, batch_rows, batch_fail)

        with ThreadPoolExecutor(self.workers, thread_name_prefix="imgrag-decode") as pool:
            queue: deque[Future[_Item]] = deque()
            it = iter(todo)
            ahead = bs * 3

            def refill() -> None:
                while len(queue) < ahead and not cancel.is_set():
                    entry = next(it, None)
                    if entry is None:
                        return
                    queue.append(pool.submit(self._prepare, entry, known, max_side))

            refill()
            while queue:
                while self.pause.is_set() and not cancel.is_set():
                    time.sleep(0.1)
                batch: list[_Item] = []
                while queue and len(batch) < bs:
                    batch.append(queue.popleft().result())
                    refill()
                embed = [b for b in batch if b.tensor is not None]
                if embed:
                    import torch

                    vecs = self.encoder.encode_tensors(torch.stack([b.tensor for b in embed]))
                    for b, v in zip(embed, vecs):
                        b.tensor = v
                    report.embedded += len(embed)
                reuse = [b for b in batch if b.reuse_from is not None]
                reused_rows = self.store.rows([b.reuse_from for b in reuse]) if reuse else {}
                now = time.time()
                for b in batch:
                    e = b.entry
                    if b.failure is not None:
                        report.failures.append(b.failure)
                        failures.append((b.failure, e.folder, e.size, e.mtime_ns))
                        continue
                    if b.reuse_from is not None:
                        src = reused_rows.get(b.reuse_from)
                        if src is None:  # source row vanished meanwhile: decode next run
                            report.failures.append(Failure(e.path, "source row vanished during reuse; retried next run", "index"))
                            continue
                        row = self._row_from_existing(src, e, now)
                        report.reused += 1
                    else:
                        row = self._new_row(b, e, model_id, now)
                    rows.append(row)
                    if e.path in updated_paths:
                        report.updated += 1
                    else:
                        report.added += 1
                done += len(batch)
                elapsed = max(1e-6, time.monotonic() - t0)
                self._emit(Progress("index", done, total, current=batch[-1].entry.path, rate=done / elapsed,
                                    failed=len(report.failures), reused=report.reused))
                flush()
                if cancel.is_set():
                    for f in queue:
                        f.cancel()
                    queue.clear()
            flush(force=True)
            if pending_write is not None:
                pending_write.result()
        write_pool.shutdown(wait=True)

    def _write(self, rows: list[dict[str, Any]], failures: list[tuple[Failure, str, int, int]]) -> None:
        if rows:
            self.store.upsert(rows)
            self.store.clear_failures([r["path"] for r in rows])
        if failures:
            self.store.record_failures(failures)

    def _ocr_wanted(self, kind: str) -> bool:
        s = self.cfg.settings if self.cfg is not None else None
        if s is None or not s.ocr_enabled:
            return False
        return kind in ("screenshot", "document") or s.ocr_photos

    def _new_row(self, b: _Item, e: scanner.FileEntry, model_id: str, now: float) -> dict[str, Any]:
        d = b.decoded
        assert d is not None
        name = os.path.basename(e.path)
        captions = bool(self.cfg is not None and self.cfg.settings.captions_enabled)
        return {
            "path": e.path,
            "folder": e.folder,
            "name": name,
            "size": e.size,
            "mtime_ns": e.mtime_ns,
            "content_hash": b.chash,
            "width": d.width,
            "height": d.height,
            "taken_at": d.taken_at,
            "date": d.taken_at if d.taken_at is not None else e.mtime_ns / 1e9,
            "camera": d.camera,
            "kind": d.kind,
            "clip_model": model_id,
            "visual": b.tensor,
            "text_model": "",
            "textual": None,
            "ocr_status": "pending" if self._ocr_wanted(d.kind) else "skipped",
            "ocr_text": "",
            "ocr_words": "[]",
            "caption_status": "pending" if captions else "skipped",
            "caption": "",
            "caption_model": "",
            "search_text": compose_search_text(name, "", ""),
            "error": "",
            "indexed_at": now,
        }

    @staticmethod
    def _row_from_existing(src: dict[str, Any], e: scanner.FileEntry, now: float) -> dict[str, Any]:
        row = dict(src)
        name = os.path.basename(e.path)
        row.update(path=e.path, folder=e.folder, name=name, size=e.size, mtime_ns=e.mtime_ns, indexed_at=now)
        if src.get("taken_at") is None:
            row["date"] = e.mtime_ns / 1e9
        text = compose_search_text(name, src.get("ocr_text"), src.get("caption"))
        if text != src.get("search_text"):
            row["search_text"] = text
            row["textual"] = None  # the file name is part of the text: re-embed (cheap), never re-OCR
        return row


def iter_batches(seq: Iterable[Any], n: int) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for x in seq:
        batch.append(x)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch
