"""What every `imgrag` command shares: its Context, output helpers, the progress bar, the
filter arguments, and the one way a run stops on Ctrl+C or SIGTERM."""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterator

from imgrag_desktop.search.filters import ORIENTATIONS
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

    def close(self) -> None:
        """Free the models and child processes of the services this context built (cli.main)."""
        svc = getattr(self, "_services", None)
        if svc is not None:
            svc.close()

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

    @staticmethod
    def warn(text: str) -> None:
        """A later stage's warning, as one line on stderr."""
        print(f"imgrag: {text}", file=sys.stderr)

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


def run_safely(run: Callable[[Context], int], ctx: Context) -> int:
    """Run one command, turning failures into one line on stderr and an exit code."""
    args = ctx.args
    try:
        return run(ctx)
    except ImgragError as exc:
        print(f"imgrag: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("imgrag: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a one-line reason, the traceback only on request
        import os

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


STOPPING = "imgrag: stopping after the batch in flight (signal again to stop at once)"


@contextmanager
def stop_on_signals(event: threading.Event, announce: str | None = STOPPING) -> Iterator[dict[str, int]]:
    """SIGINT/SIGTERM set `event` (the run stops after the batch in flight, committed, nothing
    half written); a second signal stops at once (KeyboardInterrupt). Yields what was received
    ({"signal": number} once one came). Off the main thread (embedded use) nothing changes."""
    got: dict[str, int] = {}
    if threading.current_thread() is not threading.main_thread():
        yield got
        return

    def handler(signum: int, frame: Any) -> None:
        if event.is_set():
            raise KeyboardInterrupt
        got["signal"] = signum
        event.set()
        if announce:
            print(announce, file=sys.stderr, flush=True)

    old: dict[int, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            old[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main interpreter's thread after all: leave it
            pass
    try:
        yield got
    finally:
        for num, h in old.items():
            signal.signal(num, h)


# --- output ---------------------------------------------------------------------------------
def printable(text: str) -> str:
    """A path on one line of human output (a newline is legal in a file name)."""
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m.group())[1:-1], text)


def fmt_time(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M") if ts else "-"


def hits_text(hits: list[Any]) -> str:
    if not hits:
        return "no results"
    lines = []
    for i, h in enumerate(hits, 1):
        why = ",".join(h.reasons)
        lines.append(f"{i:3d}. {h.score:7.4f}  {printable(h.path)}  ({h.width}×{h.height}, "
                     f"{fmt_time(h.taken_at or h.mtime)}, {why})")
    return "\n".join(lines)


# --- filters --------------------------------------------------------------------------------
def parse_date(text: str | None) -> float | None:
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
    g.add_argument("--place", help="taken in this city, region or country (as `imgrag places` names them)")
    g.add_argument("--orientation", choices=ORIENTATIONS)
    g.add_argument("--rating", type=int, help="rated at least this (1-5, from XMP/IPTC metadata)")
    g.add_argument("--tag", help="a keyword written in the photo or its XMP sidecar (comma-separated: any)")
    g.add_argument("--media", help="photo, raw, video or live (comma-separated)")
    g.add_argument("--min-width", type=int)
    g.add_argument("--min-height", type=int)
    g.add_argument("--offline", choices=["include", "exclude"], default="include",
                   help="photos of folders that are offline (an unplugged drive): found as usual, or left out")


def filter_from_args(args: argparse.Namespace) -> str | None:
    return filters_from_args(args).where()


def filters_from_args(args: argparse.Namespace) -> Any:
    """The typed Filters of the filter options (search/filters.py)."""
    from imgrag_desktop.search import Filters, user_folder

    return Filters(
        folder=user_folder(getattr(args, "folder", None)), kind=getattr(args, "kind", None),
        date_from=parse_date(getattr(args, "after", None)), date_to=parse_date(getattr(args, "before", None)),
        min_width=getattr(args, "min_width", None), min_height=getattr(args, "min_height", None),
        camera=getattr(args, "camera", None), orientation=getattr(args, "orientation", None),
        place=getattr(args, "place", None) or None,
        rating=getattr(args, "rating", None), tag=getattr(args, "tag", None) or None,
        media=getattr(args, "media", None) or None,
        exclude_roots=offline_from_args(args),
    )


def offline_from_args(args: argparse.Namespace) -> tuple[str, ...]:
    """The offline folders (indexing/offline.py: recorded at the last scan) when `--offline exclude`."""
    if getattr(args, "offline", "include") != "exclude":
        return ()
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.indexing.offline import offline_roots

    cfg = AppConfig.load(getattr(args, "data_dir", None), getattr(args, "profile", None))
    return tuple(sorted(offline_roots(cfg.data_dir)))


def common_options(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The global options, accepted after a sub-action too (`imgrag models list --json`)."""
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output on stdout")
    p.add_argument("--data-dir", default=argparse.SUPPRESS, help="where the index, thumbnails and settings live")
    p.add_argument("--profile", choices=["default", "test"], default=argparse.SUPPRESS,
                   help="model profile ('test': tiny offline models for tests; also IMGRAG_PROFILE)")
    return p


def no_args(p: argparse.ArgumentParser) -> None:
    pass
