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
from typing import Any, Callable, Sequence

from imgrag_desktop import imaging
from imgrag_desktop.fingerprint import fingerprint
from imgrag_desktop.indexing import scanner
from imgrag_desktop.search.calibration import CalibrationSample
from imgrag_desktop.search.duplicates import FingerprintTable
from imgrag_desktop.store import Store, compose_search_text, sql_str
from imgrag_desktop.types import (
    DecodeError,
    DiskFull,
    Failure,
    IndexReport,
    ModelUnavailable,
    Progress,
    is_disk_full,
    tell,
)

log = logging.getLogger(__name__)


def _media_columns(path: str, data: bytes) -> dict[str, Any]:
    """The media kind and the metadata people wrote, from the bytes already read."""
    from imgrag_desktop.indexing.media import media_of
    from imgrag_desktop.indexing.sidecars import row_columns

    try:
        return {"media": media_of(path, [], data), **row_columns(path, data)}
    except Exception as exc:  # metadata never fails a photo: the metadata stage reads it again
        log.warning("metadata of %s not read now: %s", path, exc)
        return {"media": media_of(path, [], data)}


def _with_words(columns: dict[str, Any] | None, search_text: str) -> dict[str, Any]:
    if not columns:
        return {}
    words = columns.get("meta_words")
    return {**columns, "search_text": f"{search_text}\n{words}" if words and search_text else words or search_text}


def sql_in_paths(paths: Sequence[str]) -> str | None:
    from imgrag_desktop.store import sql_in

    return sql_in("path", list(paths)) if paths else None

OPTIMIZE_AFTER_ROWS = 2000
PRELOAD_HASHES_FROM = 256
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
    fingerprint: Any = None  # for near-duplicate detection (duplicates.py)
    columns: dict[str, Any] | None = None  # media kind and the metadata people wrote (indexing/sidecars.py)


class _KnownHashes:
    """Looks up which path already holds a content hash (for the current model)."""

    def __init__(self, store: Store, model_id: str, preload: bool) -> None:
        self.store = store
        self.model_id = model_id
        self._map: dict[str, str] | None = None
        if preload:
            tbl = store.query(f"clip_model = {sql_str(model_id)}", ["path", "content_hash"])
            self._map = dict(zip(tbl.column("content_hash").to_pylist(), tbl.column("path").to_pylist())) \
                if tbl.num_rows else {}

    def get(self, chash: str) -> str | None:
        if self._map is not None:
            return self._map.get(chash)
        tbl = self.store.query(f"content_hash = {sql_str(chash)} AND clip_model = {sql_str(self.model_id)}",
                               ["path"], limit=1)
        return tbl.column("path")[0].as_py() if tbl.num_rows else None


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
        self.fingerprints = FingerprintTable(store.db_dir)
        self.auto_calibrate = True  # off for throw-away indexes (evaluation/labelled.py)
        self.on_progress = on_progress
        self._batch_size = batch_size or (cfg.settings.batch_size if cfg is not None else 0) or 0
        self.workers = workers or (cfg.settings.decode_workers if cfg is not None else 0) or default_workers()
        self.make_thumbnails = make_thumbnails
        self.thumbs_dir = cfg.thumbs_dir if cfg is not None else None
        self.pause = threading.Event()  # set = paused
        self.ignore_hidden = cfg.settings.ignore_hidden if cfg is not None else True
        # The data dir holds JPEG thumbnails: indexing them would make thumbnails of thumbnails.
        self.exclude: list[str] = [str(cfg.data_dir)] if cfg is not None else []
        # Why visual vectors wait (CLIP not downloaded yet), or "": rows are then written without
        # one (clip_model ""), and the "visual" stage fills them in once the model is there.
        self.visual_waiting = ""
        # Every stat/scandir of a scan goes through `fs`, each root in a thread of its own, given
        # up after fs_timeout_s in one call (a hung share: that root is offline, the rest goes on).
        self.fs: scanner.Fs = scanner.DEFAULT_FS
        self.fs_timeout_s: float | None = cfg.settings.fs_timeout_s if cfg is not None else None
        # Asked before each run: did another process switch the CLIP model? (Services.follow_switch
        # then gives this indexer the new model.)
        self.follow_switch: Callable[[], Any] | None = None
        # During a full run: the decodes the relevance calibration's sample will want
        # (search/calibration.py), so that it does not read and decode them again.
        self._sample: CalibrationSample | None = None

    # Public API ------------------------------------------------------------------------------
    def index_paths(self, roots: Sequence[str], cancel: threading.Event | None = None,
                    remove_missing: bool = True, retry_failed: bool = False,
                    confirm_removal: bool = False) -> IndexReport:
        """Bring the index in line with the given folders (or files): add, update, reuse, remove.

        Rows are removed only on positive evidence (indexing/offline.py): an offline root keeps
        them all (`report.offline`), and a mass disappearance is held (`report.held`) unless
        `confirm_removal`."""
        cancel = cancel or threading.Event()
        t0 = time.monotonic()
        report = IndexReport()
        self._sample = CalibrationSample() if self.auto_calibrate else None
        try:
            return self._index_paths(roots, cancel, remove_missing, retry_failed, confirm_removal, t0, report)
        finally:
            self._sample = None

    def _index_paths(self, roots: Sequence[str], cancel: threading.Event, remove_missing: bool, retry_failed: bool,
                     confirm_removal: bool, t0: float, report: IndexReport) -> IndexReport:
        self._emit(Progress("scan", current=", ".join(roots)))
        result = scanner.scan(roots, self.ignore_hidden, cancelled=cancel.is_set, exclude=self.exclude,
                              fs=self.fs, timeout_s=self.fs_timeout_s)
        from imgrag_desktop.indexing import media

        result.files, companions = media.pair(result.files)  # a RAW+JPEG pair, a Live Photo: one item
        if not cancel.is_set():
            media.remember_skipped(self.cfg.data_dir if self.cfg is not None else None, result.roots,
                                   result.skipped_types)
        report.scanned = len(result.files)
        if self.follow_switch is not None:
            self.follow_switch()
        where = " OR ".join(self._root_filter(r) for r in result.roots)
        indexed = self.store.file_states(f"({where})" if where else None) if where else {}
        failed = self.store.failure_states(f"({where})") if where else {}
        model_id = self._model_id_or_empty()
        plan = scanner.plan(result, indexed, failed, model_id, retry_failed=retry_failed)
        if not cancel.is_set():
            self._judge_roots(result, indexed, plan, report, confirm_removal and remove_missing)
        report.unchanged = plan.unchanged + plan.skipped_failed
        for fl, _root in result.problems:
            report.failures.append(fl)
        if result.problems:
            self.store.record_failures([(fl, root, 0, 0) for fl, root in result.problems])
        self._run_media(plan.todo, plan.updated_paths, report, cancel)
        if where and not cancel.is_set():
            from imgrag_desktop.indexing.meta_stage import requeue_changed

            media.sync(self.store, companions, f"({where})")
            seen = result.sidecars if all(r in result.idents for r in result.roots) else None  # folders walked
            requeue_changed(self.store, f"({where})", seen)  # a sidecar added, edited or removed: read again
        if remove_missing and not cancel.is_set():
            if plan.gone:
                self.store.delete_paths(plan.gone)
                report.removed = len(plan.gone)
            if plan.gone_failures:
                self.store.clear_failures(plan.gone_failures)
        self._after_visual_pass(cancel, report, f"({where})" if where else None)
        report.failed = len(report.failures)
        report.cancelled = cancel.is_set()
        if report.added + report.updated + report.removed >= OPTIMIZE_AFTER_ROWS:
            self._emit(Progress("optimize"))
            self.store.optimize()
        report.seconds = time.monotonic() - t0
        self._emit(Progress("done", report.added + report.updated, report.added + report.updated,
                            failed=report.failed, reused=report.reused))
        return report

    def _judge_roots(self, result: scanner.ScanResult, indexed: dict[str, Any], plan: scanner.Plan,
                     report: IndexReport, confirmed: bool) -> None:
        """Keep the rows of offline roots and hold mass removals (offline.judge), and remember
        each online root's identity in roots.json."""
        from imgrag_desktop.indexing import offline

        registry = offline.RootRegistry.for_data_dir(self.cfg.data_dir if self.cfg is not None else None)
        found = {f.path for f in result.files}
        gone = set(plan.gone)
        allowed: list[str] = []
        for root in result.roots:
            if root in indexed:  # a single file given as a root: its own path is the evidence
                if root in gone:
                    allowed.append(root)
                continue
            prefix = root.rstrip(os.sep) + os.sep
            under = [p for p in indexed if p.startswith(prefix)]
            reason = result.offline.get(root) or ("cannot open folder" if root in result.unreadable else "")
            if root in result.missing_roots:
                reason = "folder not found (unplugged or removed?)"
            check = offline.judge(root, result.idents.get(root), reason, found, under, registry.get(root), confirmed)
            if check.offline:
                report.offline[root] = check.offline
                report.offline_images[root] = check.indexed
                registry.mark_offline(root, check.offline)
                continue
            if check.held:
                report.held[root] = (len(check.gone), check.indexed)
            else:
                allowed.extend(p for p in check.gone if p in gone)
            dev, ino, mount = result.idents[root]
            registry.mark_online(root, dev, ino, len([p for p in found if p.startswith(prefix)]), mount)
        plan.gone = list(dict.fromkeys(allowed))
        kept = tuple(r.rstrip(os.sep) + os.sep for r in (*report.offline, *report.held))
        if kept:
            plan.gone_failures = [p for p in plan.gone_failures if not p.startswith(kept)]
        try:
            registry.save()
        except OSError:
            pass  # the registry only makes removal stricter; a read-only data dir fails elsewhere

    def index_files(self, paths: Sequence[str], root: str | None = None,
                    cancel: threading.Event | None = None) -> IndexReport:
        """Index specific files (the watcher's path): no folder walk, no removal of others."""
        cancel = cancel or threading.Event()
        t0 = time.monotonic()
        report = IndexReport()
        entries: list[scanner.FileEntry] = []
        excluded = [scanner.normalize_root(e) for e in self.exclude]
        from imgrag_desktop.indexing.sidecars import is_sidecar_name

        sidecars = [scanner.normalize_root(p) for p in paths if is_sidecar_name(p)]
        if sidecars:
            from imgrag_desktop.indexing.meta_stage import requeue_for_sidecars

            report.extra = {"sidecars_changed": requeue_for_sidecars(self.store, sidecars)}  # type: ignore[attr-defined]
            paths = [p for p in paths if not is_sidecar_name(p)]
        from imgrag_desktop.indexing import media

        paths, companions = media.pair_paths([scanner.normalize_root(p) for p in paths])
        for p in dict.fromkeys(paths):
            p = scanner.normalize_root(p)
            if excluded and scanner.is_within(p, excluded):
                continue
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
        model_id = self._model_id_or_empty()
        todo = [e for e in entries if not (e.path in known and known[e.path][:2] == (e.size, e.mtime_ns)
                                           and (known[e.path][3] in (model_id, "") or not model_id))]
        report.unchanged = len(entries) - len(todo)
        self._run_media(todo, {e.path for e in todo if e.path in known}, report, cancel)
        if entries or companions:
            media.sync(self.store, companions, sql_in_paths([e.path for e in entries]))
        if todo:
            from imgrag_desktop.store import sql_in

            # No calibration here: the watcher's small batches would redo it as the library grows;
            # the next full scan (start-up, rescan, `imgrag index`) does it.
            self._after_visual_pass(cancel, report, sql_in("path", [e.path for e in todo]), calibrate=False)
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
            if row.get("files"):
                from imgrag_desktop.indexing.media import moved_files

                row["files"] = moved_files(row["files"], old, new, moves)  # a pair's RAW moved with it
            out.append(row)
        if out:
            self.store.upsert(out)  # new rows first: a crash in between leaves a stale row, never a lost one
            written = {r["path"] for r in out}
            self.store.delete_paths([old for old in rows if moves[old] in written and moves[old] != old])
        return len(out)

    def move_folder(self, old: str, new: str, root: str | None = None, chunk: int = 1000) -> int:
        """Rows of every file below a moved folder follow it (no decode, no embedding).

        Works in chunks, each written before its old rows are deleted: a crash in between leaves
        stale rows (removed by the next scan), never a lost or doubled one.
        """
        old = scanner.normalize_root(old).rstrip(os.sep)
        new = scanner.normalize_root(new).rstrip(os.sep)
        prefix = old + os.sep
        where = f"starts_with(path, {sql_str(prefix)})"
        paths = self.store.query(where, ["path"]).column("path").to_pylist()
        moved = 0
        for i in range(0, len(paths), chunk):
            part = paths[i : i + chunk]
            moved += self.move_paths({p: new + os.sep + p[len(prefix):] for p in part}, root)
        failed = self.store.failure_states(where)
        if failed:
            self.store.clear_failures(list(failed))
        return moved

    def remove_folder(self, folder: str) -> int:
        """Forget every row and failure below a deleted folder, in one transaction each."""
        prefix = scanner.normalize_root(folder).rstrip(os.sep) + os.sep
        where = f"starts_with(path, {sql_str(prefix)})"
        n = self.store.count(where)
        if n:
            self.store.delete_where(where)
        if self.store.failure_count(where):
            self.store.clear_failures_where(where)
        return n

    def remove_paths(self, paths: Sequence[str]) -> None:
        from imgrag_desktop.indexing.media import forget_files

        self.store.delete_paths(list(paths))
        self.store.clear_failures(list(paths))
        forget_files(self.store, list(paths))  # a deleted RAW or clip of a pair: its photo is one file again

    def _after_visual_pass(self, cancel: threading.Event, report: IndexReport, where: str | None,
                           calibrate: bool = True) -> None:
        """The stages of part "pass" (stages.py: tiles, fingerprints, calibration) on what is now
        searchable; their summary goes to `report.extra`."""
        from imgrag_desktop.indexing.stages import PassParts, PassScope, run_later_stages

        extra: dict[str, Any] = getattr(report, "extra", None) or {}
        report.extra = extra  # type: ignore[attr-defined]
        if cancel.is_set() or self.store.images is None:
            return
        scope = PassScope(where=where, changed=report.removed + report.updated > 0,
                          calibrate=calibrate and self.auto_calibrate)
        parts = PassParts(self.cfg, self.store, self.encoder, fingerprints=self.fingerprints,
                          decoded=self._sample.images() if calibrate and self._sample is not None else None)
        extra.update(run_later_stages(parts, cancel, self._emit, part="pass", scope=scope))

    # Internals -------------------------------------------------------------------------------
    def _model_id_or_empty(self) -> str:
        """The CLIP model's id, or "" (rows wait for their vector) when it cannot load."""
        try:
            self.encoder.load_for_images()
            self.visual_waiting = ""
            return str(self.encoder.model_id)
        except ModelUnavailable as exc:
            self.visual_waiting = str(exc)
            return ""

    @staticmethod
    def _root_filter(root: str) -> str:
        from imgrag_desktop.store import folder_filter

        return folder_filter(root) if os.path.isdir(root) or not imaging.is_image_name(root) else f"path = {sql_str(root)}"

    @property
    def batch_size(self) -> int:
        return self._batch_size or default_batch_size(self.encoder.device if self.encoder.loaded else "cpu")

    def _emit(self, p: Progress) -> None:
        tell(self.on_progress, p)

    def _known_hashes(self, model_id: str, n_files: int) -> "_KnownHashes":
        """content hash → a path whose row holds vectors made by the current model.

        A large run reads every hash once; a small one (the watcher's batches) asks the store
        per file, so its cost does not grow with the size of the index.
        """
        return _KnownHashes(self.store, model_id, preload=n_files > PRELOAD_HASHES_FROM)

    def _prepare(self, entry: scanner.FileEntry, known: "_KnownHashes", max_side: int, visual: bool = True) -> _Item:
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
            if visual:
                item.tensor = self.encoder.preprocess(dec.image)
            item.fingerprint = fingerprint(dec.image)
            item.columns = _media_columns(entry.path, data)
            if self.make_thumbnails and self.thumbs_dir is not None:
                self._save_thumbnail(dec.image, item.chash)
        except DiskFull:
            raise  # stops the run: the file is fine, the data dir's disk is not
        except DecodeError as exc:
            item.failure = Failure(entry.path, str(exc), "decode")
        except MemoryError:
            item.failure = Failure(entry.path, "image too large to decode in memory", "decode")
        except Exception as exc:  # one bad file never stops the run
            item.failure = Failure(entry.path, f"unexpected error: {type(exc).__name__}: {exc}", "decode")
        return item

    def _save_thumbnail(self, image: Any, chash: str) -> None:
        """Thumbnails are a cache (rebuilt on demand), so failing to write one never fails the
        image; a full disk, though, stops the run before every file is marked failed."""
        try:
            imaging.save_thumbnail(image, self.thumbs_dir, chash)  # type: ignore[arg-type]
        except Exception as exc:
            if is_disk_full(exc):
                raise DiskFull(self.thumbs_dir.parent if self.thumbs_dir is not None else "") from exc
            log.warning("thumbnail not saved (%s): %s", chash, exc)

    def _run(self, todo: list[scanner.FileEntry], updated_paths: set[str],
             report: IndexReport, cancel: threading.Event) -> None:
        total = len(todo)
        if total == 0:
            return
        model_id = self._model_id_or_empty()
        visual = bool(model_id)
        known = self._known_hashes(model_id, total)
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

        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="imgrag-decode")
        queue: deque[Future[_Item]] = deque()
        try:
            it = iter(todo)
            ahead = bs * 3

            def refill() -> None:
                while len(queue) < ahead and not cancel.is_set():
                    entry = next(it, None)
                    if entry is None:
                        return
                    queue.append(pool.submit(self._prepare, entry, known, max_side, visual))

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
                    vecs = self.encoder.encode_tensors(self.encoder.stack([b.tensor for b in embed]))
                    for b, v in zip(embed, vecs):
                        b.tensor = v
                    report.embedded += len(embed)
                reuse = [b for b in batch if b.reuse_from is not None]
                reused_rows = self.store.rows([b.reuse_from for b in reuse if b.reuse_from is not None]) if reuse else {}
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
                        if self._sample is not None and b.decoded is not None and visual:
                            self._sample.offer(b.chash, b.decoded.image)
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
                    break
            flush(force=True)
            if pending_write is not None:
                pending_write.result()
        finally:
            # On cancel or error: drop the decodes not started, and never return while a write
            # is still running (the caller may close the store or exit next).
            for f in queue:
                f.cancel()
            pool.shutdown(wait=True)
            write_pool.shutdown(wait=True)

    def _run_media(self, todo: list[scanner.FileEntry], updated_paths: set[str], report: IndexReport,
                   cancel: threading.Event) -> None:
        """Photos first, then the videos' own queue (indexing/video_pass.py): a long clip never
        holds a photo back."""
        from imgrag_desktop.indexing.video_pass import index_videos, split

        photos, videos = split(todo)
        self._run(photos, updated_paths, report, cancel)
        if not cancel.is_set():
            index_videos(self, videos, updated_paths, report, cancel)

    def _write(self, rows: list[dict[str, Any]], failures: list[tuple[Failure, str, int, int]]) -> None:
        if rows:
            prints = [(r["content_hash"], r.pop("_fingerprint")) for r in rows if r.get("_fingerprint") is not None]
            self.store.upsert(rows, visual_dim=self._expected_dim())
            self.store.clear_failures([r["path"] for r in rows])
            if prints:  # after the rows: a crash in between leaves a gap that backfill() fills
                self.fingerprints.put(prints)
        if failures:
            self.store.record_failures(failures)

    def _expected_dim(self) -> int | None:
        dim = getattr(self.encoder, "expected_dim", None)
        return dim() if callable(dim) else None

    def _ocr_wanted(self, kind: str) -> bool:
        s = self.cfg.settings if self.cfg is not None else None
        if s is None or not s.ocr_enabled:
            return False
        return True  # every image: photos pass the text detector first (indexing/text_stage.py)

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
            "ocr_engine": None,
            "caption_status": "pending" if captions else "skipped",
            "caption": "",
            "caption_model": "",
            "search_text": compose_search_text(name, "", ""),
            "error": "",
            "indexed_at": now,
            "_fingerprint": b.fingerprint,  # not a column: _write stores it beside the row
            **_with_words(b.columns, compose_search_text(name, "", "")),
        }

    @staticmethod
    def _row_from_existing(src: dict[str, Any], e: scanner.FileEntry, now: float) -> dict[str, Any]:
        row = dict(src)
        name = os.path.basename(e.path)
        row.update(path=e.path, folder=e.folder, name=name, size=e.size, mtime_ns=e.mtime_ns, indexed_at=now,
                   meta_status=None)  # a copy may have sidecars of its own
        if src.get("files"):  # and its own companions (media.sync pairs it again)
            from imgrag_desktop.indexing.media import media_of

            row.update(files=None, media=media_of(e.path, []))
        if src.get("taken_at") is None:
            row["date"] = e.mtime_ns / 1e9
        text = compose_search_text(name, src.get("ocr_text"), src.get("caption"))
        if text != src.get("search_text"):
            row["search_text"] = text
            row["textual"] = None  # the file name is part of the text: re-embed (cheap), never re-OCR
        return row

