"""The processes the benchmarks measure from outside: indexing and watching in a fresh process.

Memory and idle CPU are only meaningful for a process that did nothing else, so the memory and
watch benchmarks start `python -m imgrag_desktop.bench.child MODE ...` and read its /proc
figures. The child calls the engine directly (Services, Indexer, WatchService and the one
runner of the later stages), doing what `imgrag index` and `imgrag watch` do, without going through the CLI: the
benchmark must not depend on the package that calls it. This is not a way for a user to run a
benchmark; that is `imgrag bench --part X`.

Captions are not run: they are off by default, and the benchmarks give each child a fresh
data dir.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from typing import Any

from imgrag_desktop.types import ImgragError


def doctor(svc: Any, args: argparse.Namespace) -> int:
    """The baseline: a process that imports the engine and runs its installation checks."""
    from imgrag_desktop.doctor import run_checks

    print(json.dumps({"checks": run_checks(svc.cfg)}, default=str))
    return 0


def index(svc: Any, args: argparse.Namespace) -> int:
    from imgrag_desktop.indexing.stages import run_later_stages
    from imgrag_desktop.store import writer

    cancel = threading.Event()
    with writer(svc.store, svc.cfg.lock_file):
        report = svc.indexer().index_paths([os.path.abspath(p) for p in args.paths], cancel=cancel)
        data = report.to_json()
        stage_s: dict[str, float] = {}
        stage_cpu: dict[str, float] = {}
        data.update(run_later_stages(svc, cancel, timings=stage_s, cpu_timings=stage_cpu, release_clip=True))
    data["images"] = svc.store.count()
    data["timings"] = {"visual_pass_s": report.seconds, "stage_seconds": stage_s, "stage_cpu_seconds": stage_cpu}
    print(json.dumps(data, default=str))
    return 0


def watch(svc: Any, args: argparse.Namespace) -> int:
    """Watch until SIGTERM or SIGINT, then finish the batch in flight and exit 0; events go to
    stderr one a line (the benchmark waits for a folder's 'watching')."""
    from imgrag_desktop.indexing.stages import run_later_stages
    from imgrag_desktop.indexing.watch.service import WatchService
    from imgrag_desktop.store import writer

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: stop.set())
    with writer(svc.store, svc.cfg.lock_file):
        service = WatchService.from_services(svc, settle_s=args.settle, rescan_s=args.rescan * 60,
                                             after_batch=lambda cancel: run_later_stages(svc, cancel))
        service.add_listener(lambda ev: print(ev.describe(), file=sys.stderr, flush=True))
        service.start([os.path.abspath(p) for p in args.paths])
        try:
            while not stop.wait(0.5) and service.running:
                pass
        finally:
            service.stop()
    return 0


def naive(args: argparse.Namespace) -> int:
    """The seed's loop as a script of its own (bench/command.py): its imports, open_clip's
    default fp32 model, then one image at a time (bench/indexing.py naive_index)."""
    import time
    from pathlib import Path

    from imgrag_desktop.bench.common import bench_encoder
    from imgrag_desktop.bench.indexing import naive_index
    from imgrag_desktop.store import Store

    files = sorted(p for p in Path(args.paths[0]).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    store = Store(Path(args.data_dir))
    enc = bench_encoder(args.model, "cpu", precision="fp32")
    loop_s = naive_index(files, enc, store)
    print(json.dumps({"images": store.count(), "loop_s": round(loop_s, 3), "process_cpu_s": round(time.process_time(), 3)}))
    return 0


MODES = {"doctor": doctor, "index": index, "watch": watch}


def main(argv: list[str] | None = None) -> int:
    from imgrag_desktop.services import Services

    ap = argparse.ArgumentParser(prog="python -m imgrag_desktop.bench.child")
    ap.add_argument("mode", choices=sorted([*MODES, "naive"]))
    ap.add_argument("paths", nargs="*")
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--profile", default=None)
    ap.add_argument("--settle", type=float, default=1.0)
    ap.add_argument("--rescan", type=float, default=30.0, help="minutes between reconciliation scans")
    ap.add_argument("--model", default="ViT-B-32", help="naive: the open_clip architecture (random weights)")
    args = ap.parse_intermixed_args(argv)
    if args.mode == "naive":
        return naive(args)
    try:
        return MODES[args.mode](Services.from_args(args.data_dir, args.profile), args)
    except ImgragError as exc:
        print(f"bench child: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover - started by the memory and watch benchmarks
    sys.exit(main())
