"""`imgrag watch`: keep the index in line with folders until Ctrl+C or SIGTERM."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from typing import Any

from imgrag_desktop.cli.commands.warm import serve, warm_up
from imgrag_desktop.cli.context import Context, stop_on_signals
from imgrag_desktop.types import ImgragError


def watch_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="folders to watch recursively (default: the app's remembered folders)")
    p.add_argument("--settle", type=float, default=1.0, metavar="SECONDS",
                   help="how long a file must stay unchanged before it is indexed (default 1.0)")
    p.add_argument("--rescan", type=float, default=30.0, metavar="MINUTES",
                   help="full reconciliation scan this often, to catch missed events (default 30, 0: never)")
    p.add_argument("--no-remember", action="store_true", help="do not add the folders to the app's folder list")
    p.add_argument("--quiet", action="store_true", help="no per-change lines on stderr")


def cmd_watch(ctx: Context) -> int:
    """Runs until Ctrl+C or SIGTERM, then finishes the batch in flight and exits 0."""
    from imgrag_desktop.indexing.stages import run_later_stages
    from imgrag_desktop.indexing.watch.roots import watch_roots
    from imgrag_desktop.indexing.watch.service import WatchService
    from imgrag_desktop.library import check_vector_size, remember_folders
    from imgrag_desktop.store import writer

    args = ctx.args
    svc = ctx.services
    remembered = svc.cfg.settings.folders
    raw = args.paths or list(remembered)
    if not raw:
        raise ImgragError("no folders to watch: name them (`imgrag watch PATH...`) or add them with `imgrag index PATH`")
    roots = watch_roots(raw)
    for r in roots:
        if os.path.isfile(r):
            raise ImgragError(f"watch takes folders, and {r} is a file: watch its folder instead")
        if not os.path.exists(r) and r not in remembered:
            raise ImgragError(f"no such folder: {r}")
    if args.settle <= 0:
        raise ImgragError("--settle must be a positive number of seconds")

    def on_event(ev: Any) -> None:
        if ctx.json:
            sys.stdout.write(json.dumps(ev.to_json(), ensure_ascii=False) + "\n")
            sys.stdout.flush()
        if not args.quiet:
            print(ev.describe(), file=sys.stderr, flush=True)

    def after_batch(cancel: threading.Event) -> None:
        run_later_stages(svc, cancel, ctx.progress_bar(), ctx.warn)

    stop = threading.Event()
    # A first signal stops waiting (the batch in flight finishes); a second stops at once (the
    # index is safe at any point).
    with stop_on_signals(stop, announce=None), writer(svc.store, svc.cfg.lock_file):
        check_vector_size(svc)
        if not args.no_remember:
            remember_folders(svc.cfg, roots)
        service = WatchService.from_services(svc, settle_s=args.settle, rescan_s=args.rescan * 60,
                                             after_batch=after_batch)
        service.add_listener(on_event)
        if not args.quiet:
            print(f"watching {len(roots)} folder{'s' if len(roots) != 1 else ''} (Ctrl+C to stop)",
                  file=sys.stderr, flush=True)
        service.start(roots)
        server = serve(svc)  # `imgrag search/similar/ask` elsewhere answer from this process
        unloader = svc.idle_unloader().start()  # CLIP and the text model leave RAM when idle
        if server is not None:
            threading.Thread(target=warm_up, args=(svc, server), name="imgrag-warm-up", daemon=True).start()
        try:
            while not stop.wait(0.5):
                if not service.running:
                    break
        finally:
            if server is not None:
                server.stop()
            unloader.stop()
            if not args.quiet:
                print("stopping after the batch in flight…", file=sys.stderr, flush=True)
            service.stop()
        if service.error is not None:
            raise ImgragError(f"the watcher stopped: {service.error}")
    return 0
