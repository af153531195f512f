"""`imgrag index`: the visual pass over folders or files, then the later stages (stages.py)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from typing import Any, Callable

from imgrag_desktop.cli.context import Context, printable, stop_on_signals
from imgrag_desktop.types import ImgragError


def index_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="folders (indexed recursively) or image files")
    p.add_argument("--rebuild", action="store_true", help="drop the index first (after a model change)")
    p.add_argument("--keep-missing", action="store_true", help="keep rows of files no longer on disk")
    p.add_argument("--confirm-removal", action="store_true",
                   help="remove the rows of files gone from disk even when many are gone at once (more than 20%% of a "
                        "folder), or the folder now sits on another drive; a missing folder still keeps its rows")
    p.add_argument("--retry-failed", action="store_true", help="retry files that failed before even if unchanged")
    p.add_argument("--no-remember", action="store_true", help="do not add the folders to the app's folder list")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def process_age_s() -> float | None:
    """Seconds since this process started (Linux /proc), or None."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


def peak_rss_mb() -> float | None:
    """This process's high-water mark of resident memory so far (Linux VmHWM), or None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


class PhaseClock:
    """Seconds between the visual pass's progress stages (scan, index, tiles, calibrate,
    optimize, ...), told by the reports it already sends: where the pass's own time went."""

    def __init__(self, forward: Callable[[Any], None]) -> None:
        self.forward = forward
        self.seconds: dict[str, float] = {}
        self._stage: str | None = None
        self._since = time.perf_counter()

    def __call__(self, p: Any) -> None:
        stage = getattr(p, "stage", None)
        if stage != self._stage:
            self.close()
            self._stage = stage
        self.forward(p)

    def close(self) -> dict[str, float]:
        now = time.perf_counter()
        if self._stage is not None:
            self.seconds[self._stage] = round(self.seconds.get(self._stage, 0.0) + now - self._since, 3)
        self._stage, self._since = None, now
        return self.seconds


def cmd_index(ctx: Context) -> int:
    started = process_age_s()  # interpreter start and imports, before any work
    t_cmd = time.perf_counter()
    from imgrag_desktop.indexing.scanner import storable
    from imgrag_desktop.indexing.stages import run_later_stages
    from imgrag_desktop.library import check_vector_size, remember_folders
    from imgrag_desktop.store import writer

    args = ctx.args
    roots = []
    for raw in args.paths:
        path = os.path.abspath(os.path.expanduser(raw))
        if not storable(path):
            raise ImgragError(f"the path {os.fsencode(path)!r} is not valid UTF-8: rename it to index it")
        if not os.path.exists(path):
            raise ImgragError(f"no such file or folder: {path}")
        roots.append(path)
    svc = ctx.services
    cancel = threading.Event()
    with stop_on_signals(cancel) as got, writer(svc.store, svc.cfg.lock_file):
        if args.rebuild:
            svc.store.check_droppable()
            svc.store.drop_images()
            svc.store.drop_failures()
        check_vector_size(svc, args.rebuild)
        if not args.no_remember:
            remember_folders(svc.cfg, roots)
        t_pass = time.perf_counter()  # imports, the store opened, the lock taken
        phases = PhaseClock(ctx.progress_bar())
        report = svc.indexer(on_progress=phases).index_paths(
            roots, cancel=cancel, remove_missing=not args.keep_missing, retry_failed=args.retry_failed,
            confirm_removal=args.confirm_removal)
        phases.close()
        t_later, c_later = time.perf_counter(), time.process_time()
        stage_s: dict[str, float] = {}
        stage_cpu: dict[str, float] = {}
        extra = run_later_stages(svc, cancel, ctx.progress_bar(), ctx.warn, timings=stage_s, cpu_timings=stage_cpu,
                                 release_clip=True) if not cancel.is_set() else {}
        later_s = time.perf_counter() - t_later
        later_cpu = time.process_time() - c_later
    data = report.to_json()
    data.update(getattr(report, "extra", None) or {})  # the stages of part "pass": tiles, calibration
    data.update(extra)
    # Where the command's time went: start-up (interpreter, imports), the visual pass (scan,
    # decode, CLIP, writes, and its own stages: tiles, fingerprints, calibration), the later
    # stages each, and the rest (opening the store, the lock).
    # CPU seconds (all threads) beside the wall seconds: on a shared machine they move far less.
    data["timings"] = {"start_up_s": None if started is None else round(started, 3),
                       "visual_pass_s": round(report.seconds, 3), "later_stages_s": round(later_s, 3),
                       "stage_seconds": stage_s, "visual_pass_phases_s": phases.seconds, "before_pass_s": round(t_pass - t_cmd, 3), "command_s": round(time.perf_counter() - t_cmd, 3),
                       "later_stages_cpu_s": round(later_cpu, 3), "stage_cpu_seconds": stage_cpu,
                       "process_cpu_s": round(time.process_time(), 3), "peak_rss_mb": peak_rss_mb()}
    data["images"] = svc.store.count()

    def human() -> str:
        lines = [
            f"indexed {report.added} new, {report.updated} changed, {report.unchanged} unchanged, "
            f"{report.removed} removed, {report.reused} reused without embedding, {report.failed} failed "
            f"in {report.seconds:.1f} s ({data['images']} images in the index)"
        ]
        for f in report.failures[:50]:
            lines.append(f"  skipped {printable(f.path)}: {f.reason}")
        if len(report.failures) > 50:
            lines.append(f"  … and {len(report.failures) - 50} more (see `imgrag status --failures`)")
        return "\n".join(lines)

    ctx.out(data, human)
    for root, why in report.offline.items():
        print(f"imgrag: {printable(root)} is offline ({why}): its images stay in the index", file=sys.stderr)
    if got:
        name = signal.Signals(got["signal"]).name
        print(f"imgrag: indexing stopped by {name} after committing the batch in flight "
              f"({data['images']} images in the index); run the same command again to finish", file=sys.stderr)
        return 128 + got["signal"]
    if report.held:
        from imgrag_desktop.indexing.offline import RemovalHeld, held_message

        raise RemovalHeld(held_message(report.held))
    return 0

