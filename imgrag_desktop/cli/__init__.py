"""The `imgrag` command: the window's services, scriptable.

`imgrag [--data-dir DIR] [--profile default|test] COMMAND [--json]`. With --json, results go
to stdout as JSON; progress always goes to stderr. Failures exit non-zero with one line.
Each command is a pair of functions (arguments, run) registered in COMMANDS.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from imgrag_desktop import __version__
from imgrag_desktop.search.filters import ORIENTATIONS
from imgrag_desktop.search.modes import MODE_NAMES, modes_help
from imgrag_desktop.types import ImgragError


@dataclass
class Context:
    """What a command gets: parsed args, lazily built services, and output helpers."""

    args: argparse.Namespace

    @property
    def services(self) -> Any:
        svc = getattr(self, "_services", None)
        if svc is None:
            from imgrag_desktop.services import Services

            svc = Services.from_args(self.args.data_dir, self.args.profile)
            self._services = svc
        return svc

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    def out(self, data: Any, human: str | Callable[[], str]) -> None:
        if self.json:
            sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
        else:
            text = human() if callable(human) else human
            if text:
                sys.stdout.write(text.rstrip("\n") + "\n")
        sys.stdout.flush()

    def progress_bar(self, desc: str = "indexing") -> Callable[[Any], None]:
        """A tqdm bar on stderr fed by Progress reports (quiet when stderr is not a terminal
        and --quiet is given)."""
        from tqdm import tqdm

        state: dict[str, Any] = {"bar": None}
        quiet = getattr(self.args, "quiet", False)

        def update(p: Any) -> None:
            if quiet:
                return
            if p.stage == "index":
                bar = state["bar"]
                if bar is None:
                    bar = state["bar"] = tqdm(total=p.total, desc=desc, unit="img", file=sys.stderr,
                                              mininterval=0.5, dynamic_ncols=True)
                bar.total = p.total
                bar.set_postfix_str(f"failed={p.failed} reused={p.reused}", refresh=False)
                bar.update(p.done - bar.n)
            elif p.stage in ("done", "optimize") and state["bar"] is not None:
                state["bar"].close()
                state["bar"] = None
            elif p.stage not in ("index", "done") and p.total:
                bar = state.get(p.stage)
                if bar is None:
                    bar = state[p.stage] = tqdm(total=p.total, desc=p.stage, unit="img", file=sys.stderr,
                                                mininterval=0.5, dynamic_ncols=True)
                bar.total = p.total
                bar.n = p.done
                bar.refresh()
                if p.done >= p.total:
                    bar.close()
                    state.pop(p.stage, None)

        return update


# --- helpers --------------------------------------------------------------------------------
def _fmt_time(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M") if ts else "-"


def _hits_text(hits: list[Any]) -> str:
    if not hits:
        return "no results"
    lines = []
    for i, h in enumerate(hits, 1):
        why = ",".join(h.reasons)
        lines.append(f"{i:3d}. {h.score:7.4f}  {_printable(h.path)}  ({h.width}×{h.height}, {_fmt_time(h.taken_at or h.mtime)}, {why})")
    return "\n".join(lines)


def _parse_date(text: str | None) -> float | None:
    if not text:
        return None
    for fmt in ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m"):
        try:
            return datetime.strptime(text, fmt).timestamp()
        except ValueError:
            pass
    raise ImgragError(f"cannot read the date {text!r}: use YYYY-MM-DD")


def add_filter_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("filters (applied inside the index)")
    g.add_argument("--folder", help="only images in this folder (and below)")
    g.add_argument("--kind", help="photo, screenshot or document (comma-separated)")
    g.add_argument("--after", help="taken (or modified) on/after this date, YYYY-MM-DD")
    g.add_argument("--before", help="taken (or modified) before this date, YYYY-MM-DD")
    g.add_argument("--camera", help="camera make/model contains this text")
    g.add_argument("--orientation", choices=ORIENTATIONS)
    g.add_argument("--min-width", type=int)
    g.add_argument("--min-height", type=int)


def filter_from_args(args: argparse.Namespace) -> str | None:
    from imgrag_desktop.search import Filters, user_folder

    return Filters(
        folder=user_folder(getattr(args, "folder", None)), kind=getattr(args, "kind", None),
        date_from=_parse_date(getattr(args, "after", None)), date_to=_parse_date(getattr(args, "before", None)),
        min_width=getattr(args, "min_width", None), min_height=getattr(args, "min_height", None),
        camera=getattr(args, "camera", None), orientation=getattr(args, "orientation", None),
    ).where()


def _check_vector_size(svc: Any, rebuild: bool) -> None:
    store, clip = svc.store, svc.clip
    dim = store.visual_dim
    if dim is None:
        return
    clip.load()
    if dim != clip.dim:
        if not rebuild:
            raise ImgragError(
                f"the index holds {dim}-dimensional vectors but model {clip.model_id} makes {clip.dim}: "
                "re-index with `imgrag index --rebuild PATH...`"
            )
        store.drop_images()


# --- index ----------------------------------------------------------------------------------
def _index_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="folders (indexed recursively) or image files")
    p.add_argument("--rebuild", action="store_true", help="drop the index first (after a model change)")
    p.add_argument("--keep-missing", action="store_true", help="keep rows of files no longer on disk")
    p.add_argument("--retry-failed", action="store_true", help="retry files that failed before even if unchanged")
    p.add_argument("--no-remember", action="store_true", help="do not add the folders to the app's folder list")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run_after_index_stages(ctx: Context, cancel: Any) -> dict[str, Any]:
    """Later stages (OCR, text vectors, captions) that fill in after the visual pass."""
    results: dict[str, Any] = {}
    for hook in AFTER_INDEX_STAGES:
        results.update(hook(ctx, cancel) or {})
    return results


# Stages registered by the text/caption modules: f(ctx, cancel) -> dict merged into the output.
AFTER_INDEX_STAGES: list[Callable[[Context, Any], dict[str, Any] | None]] = []


def _stop_on_signals(cancel: Any) -> tuple[dict[str, int], Callable[[], None]]:
    """SIGINT/SIGTERM ask the run to stop after the batch in flight (committed, nothing half
    written); a second signal stops at once. Returns (what was received, restore)."""
    import signal
    import threading

    got: dict[str, int] = {}
    if threading.current_thread() is not threading.main_thread():
        return got, lambda: None

    def handler(signum: int, frame: Any) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        got["signal"] = signum
        cancel.set()
        print("imgrag: stopping after the batch in flight (signal again to stop at once)", file=sys.stderr, flush=True)

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, h in old.items():
            signal.signal(sig, h)

    return got, restore


def _printable(text: str) -> str:
    """A path on one line of human output (a newline is legal in a file name)."""
    import re

    return re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m.group())[1:-1], text)


def cmd_index(ctx: Context) -> int:
    import threading

    from imgrag_desktop.indexing.scanner import storable
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
    got, restore = _stop_on_signals(cancel)
    try:
        with writer(svc.store, svc.cfg.lock_file):
            if args.rebuild:
                svc.store.check_droppable()
                svc.store.drop_images()
                svc.store.drop_failures()
            _check_vector_size(svc, args.rebuild)
            if not args.no_remember:
                folders = svc.cfg.settings.folders
                added = [r for r in roots if os.path.isdir(r) and r not in folders]
                if added:
                    folders.extend(added)
                    svc.cfg.save()
            report = svc.indexer(on_progress=ctx.progress_bar()).index_paths(
                roots, cancel=cancel, remove_missing=not args.keep_missing, retry_failed=args.retry_failed)
            extra = run_after_index_stages(ctx, cancel) if not cancel.is_set() else {}
    finally:
        restore()
    data = report.to_json()
    data.update(getattr(report, "extra", None) or {})  # tiles, calibration (pipeline._after_visual_pass)
    data.update(extra)
    data["images"] = svc.store.count()

    def human() -> str:
        lines = [
            f"indexed {report.added} new, {report.updated} changed, {report.unchanged} unchanged, "
            f"{report.removed} removed, {report.reused} reused without embedding, {report.failed} failed "
            f"in {report.seconds:.1f} s ({data['images']} images in the index)"
        ]
        for f in report.failures[:50]:
            lines.append(f"  skipped {_printable(f.path)}: {f.reason}")
        if len(report.failures) > 50:
            lines.append(f"  … and {len(report.failures) - 50} more (see `imgrag status --failures`)")
        return "\n".join(lines)

    ctx.out(data, human)
    if got:
        import signal

        name = signal.Signals(got["signal"]).name
        print(f"imgrag: indexing stopped by {name} after committing the batch in flight "
              f"({data['images']} images in the index); run the same command again to finish", file=sys.stderr)
        return 128 + got["signal"]
    return 0


# --- watch ----------------------------------------------------------------------------------
def _watch_args(p: argparse.ArgumentParser) -> None:
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
    import signal
    import threading

    from imgrag_desktop.indexing.watch.roots import watch_roots
    from imgrag_desktop.indexing.watch.service import WatchService
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

    stop = threading.Event()
    previous: dict[int, Any] = {}

    def on_signal(signum: int, frame: Any) -> None:
        if stop.is_set():  # a second Ctrl+C: stop waiting (the index is safe at any point)
            raise KeyboardInterrupt
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, on_signal)
        except ValueError:  # not the main thread (embedded use): Ctrl+C handling stays as it is
            pass

    def on_event(ev: Any) -> None:
        if ctx.json:
            sys.stdout.write(json.dumps(ev.to_json(), ensure_ascii=False) + "\n")
            sys.stdout.flush()
        if not args.quiet:
            print(ev.describe(), file=sys.stderr, flush=True)

    try:
        with writer(svc.store, svc.cfg.lock_file):
            _check_vector_size(svc, False)
            if not args.no_remember:
                added = [r for r in roots if os.path.isdir(r) and r not in remembered]
                if added:
                    remembered.extend(added)
                    svc.cfg.save()
            service = WatchService.from_services(
                svc, settle_s=args.settle, rescan_s=args.rescan * 60,
                after_batch=(lambda cancel: run_after_index_stages(ctx, cancel)) if AFTER_INDEX_STAGES else None)
            service.add_listener(on_event)
            if not args.quiet:
                print(f"watching {len(roots)} folder{'s' if len(roots) != 1 else ''} (Ctrl+C to stop)",
                      file=sys.stderr, flush=True)
            service.start(roots)
            try:
                while not stop.wait(0.5):
                    if not service.running:
                        break
            finally:
                if not args.quiet:
                    print("stopping after the batch in flight…", file=sys.stderr, flush=True)
                service.stop()
            if service.error is not None:
                raise ImgragError(f"the watcher stopped: {service.error}")
    finally:
        for sig, handler in previous.items():  # type: ignore[assignment]
            signal.signal(sig, handler)
    return 0


# --- search / similar -----------------------------------------------------------------------
def add_result_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("results")
    g.add_argument("--min-score", default="auto", metavar="X|auto|off",
                   help="hide hits scoring below X; 'auto' (default): the model's calibrated cut-off, "
                        "or Settings.min_score; 'off': show the k best whatever their score")
    g.add_argument("--no-collapse", action="store_true", help="list near-duplicates separately instead of "
                                                              "folding them into one hit (group_size)")


def _image_arg(raw: str | None) -> str | None:
    if raw is None:
        return None
    path = os.path.abspath(os.path.expanduser(raw))
    if not os.path.isfile(path):
        raise ImgragError(f"no such image: {path}")
    return path


def _hits_out(ctx: Context, hits: list[Any]) -> None:
    def human() -> str:
        if not hits:
            if str(getattr(ctx.args, "min_score", "off")).lower() in ("off", "none", "all"):
                return "no results"
            return "no good matches (lower --min-score, or --min-score off, to see weaker ones)"
        text = _hits_text(hits)
        extra = [f"     {h.path}: {h.group_size} near-identical copies" for h in hits if h.group_size > 1]
        extra += [f"     {h.path}: matched region {[int(v) for v in h.region]}" for h in hits if h.region]
        return "\n".join([text, *extra])

    ctx.out([h.to_json() for h in hits], human)


def _search_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", metavar="TEXT", help="what to look for: words, \"-word\" to avoid, \"word:2\" to weigh")
    p.add_argument("-k", "--limit", type=int, default=10, help="number of results (default 10)")
    p.add_argument("--like", metavar="IMAGE", help="combine the text with an image (\"like this, but …\")")
    p.add_argument("--mode", choices=MODE_NAMES, default=None, help=modes_help())
    g = p.add_argument_group("hybrid weights (default: the weights in settings, 1 each)")
    for m in ("visual", "textual", "keyword"):
        g.add_argument(f"--weight-{m}", type=float, default=None, metavar="W", help=f"weight of the {m} list, 0 or more")
    add_filter_arguments(p)
    add_result_arguments(p)


def cmd_search(ctx: Context) -> int:
    args = ctx.args
    s = ctx.services.cfg.settings
    weights = {m: (getattr(args, f"weight_{m}") if getattr(args, f"weight_{m}") is not None else getattr(s, f"weight_{m}"))
               for m in ("visual", "textual", "keyword")}
    hits = ctx.services.searcher.search(args.text, k=args.limit, where=filter_from_args(args),
                                        mode=args.mode or s.search_mode or "hybrid", weights=weights,
                                        like=_image_arg(args.like), min_score=args.min_score,
                                        collapse=not args.no_collapse)
    _hits_out(ctx, hits)
    return 0


def _similar_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", metavar="IMAGE", help="an image file (indexed or not)")
    p.add_argument("-k", "--limit", type=int, default=10, help="number of results (default 10)")
    p.add_argument("--text", help="steer the look-alikes with words (\"at night\", \"-people\")")
    add_filter_arguments(p)
    add_result_arguments(p)


def cmd_similar(ctx: Context) -> int:
    args = ctx.args
    path = _image_arg(args.image)
    hits = ctx.services.searcher.similar(path, k=args.limit, where=filter_from_args(args), text=args.text,
                                         min_score=args.min_score, collapse=not args.no_collapse)
    _hits_out(ctx, hits)
    return 0


# --- status ---------------------------------------------------------------------------------
def _status_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--failures", action="store_true", help="list every skipped file with its reason")


def cmd_status(ctx: Context) -> int:
    from imgrag_desktop.library import library_stats

    data = library_stats(ctx.services, failures=ctx.args.failures)
    n = data["images"]

    def human() -> str:
        lines = [f"{n} images indexed, {data['failed']} files skipped (data dir {data['data_dir']})"]
        for k in ("kinds", "clip_models"):
            if k in data:
                lines.append(f"{k}: " + ", ".join(f"{a}={b}" for a, b in data[k].items()))
        if "ocr_pending" in data:
            lines.append(f"text still to read: OCR {data['ocr_pending']}, captions {data['caption_pending']}; "
                         f"text vectors {data['text_vectors']}")
        if "tiles" in data:
            cut = data.get("cutoff") or {}
            lines.append(f"tiles of large images: {data['tiles']}; relevance cut-off: text {cut.get('text')}, "
                         f"image {cut.get('image')} ({cut.get('source', 'not calibrated')})")
        lines.append("folders: " + (", ".join(data["folders"]) or "none"))
        for f in data.get("failures", []):
            lines.append(f"  {_printable(f['path'])}: {f['reason']}")
        return "\n".join(lines)

    ctx.out(data, human)
    return 0


# --- doctor ---------------------------------------------------------------------------------
def _doctor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--download", action="store_true",
                   help="download the configured CLIP model's weights (needs a network connection)")


def cmd_doctor(ctx: Context) -> int:
    from imgrag_desktop.doctor import run_checks

    cfg = ctx.services.cfg
    if ctx.args.download:
        name, pretrained, ckpt = cfg.clip_spec()
        if ckpt:
            print(f"imgrag: nothing to download: CLIP comes from the local checkpoint {ckpt}", file=sys.stderr)
        else:
            from imgrag_desktop.models.clip import download_weights

            print(f"downloading {name}/{pretrained}…", file=sys.stderr)
            print(f"saved {download_weights(name, pretrained)}", file=sys.stderr)
    checks = run_checks(cfg)
    problems = [c for c in checks if not c["ok"] and c.get("required")]

    def human() -> str:
        out = []
        for c in checks:
            mark = "ok  " if c["ok"] else ("FAIL" if c.get("required") else "warn")
            out.append(f"[{mark}] {c['name']}: {c['detail']}")
        return "\n".join(out)

    ctx.out({"ok": not problems, "checks": checks}, human)
    return 1 if problems else 0


# --- gui ------------------------------------------------------------------------------------
def cmd_gui(ctx: Context) -> int:
    try:
        from imgrag_desktop.gui.app import main as gui_main
    except ImportError as exc:
        raise ImgragError(f"the window cannot start: {exc}") from exc
    argv = []
    if ctx.args.data_dir:
        argv += ["--data-dir", ctx.args.data_dir]
    if ctx.args.profile:
        argv += ["--profile", ctx.args.profile]
    return int(gui_main(argv) or 0)


# --- bench ----------------------------------------------------------------------------------
def _bench_args(p: argparse.ArgumentParser) -> None:
    from imgrag_desktop.bench.parts import ALL, CHOICES

    p.add_argument("--part", action="append", choices=CHOICES,
                   help=f"what to measure (repeatable; default all: {', '.join(ALL)})")
    p.add_argument("--quick", action="store_true", help="a small, fast smoke run (numbers not meaningful)")
    p.add_argument("--sizes", help="search sizes in rows, comma-separated (default 10000,100000,1000000)")
    p.add_argument("--images", type=int, help="640x480 JPEGs to index (default 256; the 12 MP set and the memory run get a quarter)")
    p.add_argument("--queries", type=int, help="queries per measurement (default 200)")
    p.add_argument("--model", default=None, help="open_clip architecture, random weights (default ViT-B-32; "
                                                 "features and watch: the test profile's tiny model)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                   help="the product's CLIP precision (default auto: fp16 on CUDA, bf16 on CPUs with native bf16)")
    p.add_argument("--batch-size", type=int, help="indexing batch size (default: chosen for the device)")
    p.add_argument("--workers", type=int, help="decode workers (default: chosen for the machine)")
    p.add_argument("--work-dir", help="where to put the generated files (default: the system temp dir)")


def cmd_bench(ctx: Context) -> int:
    from imgrag_desktop.bench import format_report, run_bench

    args = ctx.args
    try:
        sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()] if args.sizes else None
    except ValueError:
        raise ImgragError(f"cannot read --sizes {args.sizes!r}: give row counts like 10000,100000") from None
    kw = {k: v for k, v in (("batch_size", args.batch_size), ("workers", args.workers)) if v}
    result = run_bench(parts=args.part or ["all"], quick=args.quick, sizes=sizes, images=args.images,
                       queries=args.queries, model=args.model, device=args.device,
                       precision=args.precision, work_dir=args.work_dir, progress=lambda m: print(f"bench: {m}", file=sys.stderr, flush=True),
                       **kw)
    ctx.out(result, lambda: format_report(result))
    return 0


def _no_args(p: argparse.ArgumentParser) -> None:
    pass


# --- desktop integration --------------------------------------------------------------------
def _install_desktop_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--uninstall", action="store_true", help="remove the menu entry and icons again")
    p.add_argument("--prefix", help="XDG data dir to install into (default ~/.local/share)")
    p.add_argument("--exec", dest="exec_path", metavar="PATH",
                   help="launcher the menu entry starts (default: the imgrag-desktop of this installation)")


def cmd_install_desktop(ctx: Context) -> int:
    from imgrag_desktop import resources_util

    prefix = Path(ctx.args.prefix).expanduser() if ctx.args.prefix else None
    if ctx.args.uninstall:
        files = resources_util.uninstall_desktop_entry(prefix)
        verb = "removed"
    else:
        exec_path = str(Path(ctx.args.exec_path).expanduser().absolute()) if ctx.args.exec_path else None
        files = resources_util.install_desktop_entry(prefix, exec_path)
        verb = "installed"
    ctx.out({verb: [str(f) for f in files]},
            f"{verb} {len(files)} files (menu entry {resources_util.APP_ID}, icons, metainfo)")
    return 0


# name → (help, add_arguments, run)
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[Context], int]]] = {
    "index": ("index folders or image files", _index_args, cmd_index),
    "watch": ("keep the index in line with folders as files change (until Ctrl+C)", _watch_args, cmd_watch),
    "search": ("find images matching a text", _search_args, cmd_search),
    "similar": ("find images that look like an image", _similar_args, cmd_similar),
    "status": ("what is indexed, and what was skipped", _status_args, cmd_status),
    "doctor": ("check the installation: Python, torch device, models, Tesseract, data dir", _doctor_args, cmd_doctor),
    "gui": ("open the window", _no_args, cmd_gui),
    "install-desktop": ("add the app to the desktop menu (Linux, current user)", _install_desktop_args,
                        cmd_install_desktop),
    "bench": ("measure indexing speed, search latency and memory on generated data", _bench_args, cmd_bench),
}


# The local VLM's commands (ask, models, captions) live in cli_vlm.py.
from imgrag_desktop.cli.commands.vlm import register as _register_vlm  # noqa: E402

_register_vlm(COMMANDS, AFTER_INDEX_STAGES)

# Text inside images (commands ocr and eval; OCR before captions, text vectors after them).
from imgrag_desktop.cli.commands.text import register as _register_text  # noqa: E402

_register_text(COMMANDS, AFTER_INDEX_STAGES)

# Near-duplicates, calibration and the labelled evaluation live in cli_power.py (registered
# last: it extends an `eval` registered before it).
from imgrag_desktop.cli.commands.duplicates import register as _register_power  # noqa: E402

_register_power(COMMANDS)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output on stdout")
    common.add_argument("--data-dir", default=argparse.SUPPRESS, help="where the index, thumbnails and settings live")
    common.add_argument("--profile", choices=["default", "test"], default=argparse.SUPPRESS,
                        help="model profile ('test': tiny offline models for tests; also IMGRAG_PROFILE)")
    parser = argparse.ArgumentParser(prog="imgrag", parents=[common],
                                     description="Search and ask questions about your own images, offline.")
    parser.add_argument("--version", action="version", version=f"imgrag {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, add_args, _) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, parents=[common], description=help_text)
        add_args(sp)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name, default in (("json", False), ("data_dir", None), ("profile", None)):
        if not hasattr(args, name):
            setattr(args, name, default)
    if not args.command:
        parser.print_help(sys.stderr)
        return 2
    ctx = Context(args)
    try:
        return COMMANDS[args.command][2](ctx)
    except ImgragError as exc:
        print(f"imgrag: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("imgrag: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a one-line reason, the traceback only on request
        if os.environ.get("IMGRAG_DEBUG"):
            raise
        from imgrag_desktop.types import DiskFull, is_disk_full

        if is_disk_full(exc):
            print(f"imgrag: {DiskFull(getattr(args, 'data_dir', None) or 'the data dir')}", file=sys.stderr)
            return 1
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"imgrag: unexpected error: {type(exc).__name__}: {first[:300]} (set IMGRAG_DEBUG=1 for details)",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
