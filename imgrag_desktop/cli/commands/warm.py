"""`imgrag search/similar/ask` through a running window or `imgrag watch` (imgrag_desktop/warm.py).

The client side (`try_warm`) runs before anything heavy is imported: it reads the data dir's
config, and when a server of the same data dir, profile and settings answers, prints what
the server printed and exits with its code. Otherwise the command runs here, as always.

The server side (`handler`) runs the same command function on the server's warm services,
with this thread's stdout and stderr captured, so the output is the same either way.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

WARM_COMMANDS = ("search", "similar", "ask")
_run_lock = threading.Lock()  # one warm command at a time: their output streams are swapped


def _settings_stamp(cfg: Any) -> int:
    try:
        return int(os.stat(cfg.settings_file).st_mtime_ns)
    except OSError:
        return 0


def _request(args: argparse.Namespace) -> tuple[Any, dict[str, Any]] | None:
    from imgrag_desktop.config import AppConfig

    cfg = AppConfig.load(args.data_dir, args.profile)
    fields = dict(vars(args))
    for name in ("image", "like"):  # paths as this process's working directory means them
        if fields.get(name):
            fields[name] = os.path.abspath(os.path.expanduser(fields[name]))
    if fields.get("folder"):
        fields["folder"] = str(Path(fields["folder"]).expanduser().resolve())
    fields["data_dir"] = str(cfg.data_dir)
    req = {"op": "run", "command": args.command, "args": fields, "data_dir": str(cfg.data_dir),
           "profile": cfg.profile, "settings": _settings_stamp(cfg)}
    return cfg, req


def try_warm(args: argparse.Namespace) -> int | None:
    """Run the command through the data dir's server; None when there is none (or it declined)."""
    if args.command not in WARM_COMMANDS or os.environ.get("IMGRAG_NO_WARM"):
        return None
    from imgrag_desktop import warm

    try:
        made = _request(args)
    except Exception:  # a damaged settings file etc.: the command itself says so
        return None
    if made is None:
        return None
    cfg, req = made
    if not warm.socket_path(cfg.data_dir).exists():
        return None
    try:
        reply = warm.request(cfg.data_dir, req)
    except (TypeError, ValueError):  # an argument JSON cannot carry
        return None
    if reply is None:
        return None
    sys.stderr.write(str(reply.get("stderr", "")))
    sys.stderr.flush()
    sys.stdout.write(str(reply.get("stdout", "")))
    sys.stdout.flush()
    return int(reply.get("rc", 1))


class _ThreadStream(io.TextIOBase):
    """Writes of one thread go to a buffer, every other thread's to the stream it replaced."""

    def __init__(self, under: Any, thread: int) -> None:
        self.under, self.thread, self.buf = under, thread, io.StringIO()

    def write(self, s: str) -> int:
        if threading.get_ident() == self.thread:
            return self.buf.write(s)
        return int(self.under.write(s) or 0)

    def flush(self) -> None:
        if threading.get_ident() != self.thread:
            self.under.flush()

    def isatty(self) -> bool:
        return False


def handler(services: Any, run: Callable[[Any], int]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The server side: requests for this data dir, profile and settings run `run(ctx)` (the
    command line's command runner) on `services`; anything else is declined (fallback)."""
    from imgrag_desktop.cli.context import Context

    cfg = services.cfg
    stamp = _settings_stamp(cfg)

    def handle(req: dict[str, Any]) -> dict[str, Any]:
        if (req.get("op") != "run" or req.get("command") not in WARM_COMMANDS
                or req.get("data_dir") != str(cfg.data_dir) or req.get("profile") != cfg.profile
                or req.get("settings") != stamp or _settings_stamp(cfg) != stamp):
            return {"fallback": True, "reason": "another data dir, profile or settings"}
        ctx = Context(argparse.Namespace(**req["args"]))
        ctx._services = services  # type: ignore[attr-defined]
        _see_other_writers(services)
        with _run_lock:
            out_before, err_before = sys.stdout, sys.stderr
            out = _ThreadStream(out_before, threading.get_ident())
            err = _ThreadStream(err_before, threading.get_ident())
            sys.stdout, sys.stderr = out, err  # type: ignore[assignment]
            t0 = time.perf_counter()
            try:
                rc = run(ctx)
            finally:
                if sys.stdout is out:
                    sys.stdout = out_before
                if sys.stderr is err:
                    sys.stderr = err_before
        return {"rc": rc, "stdout": out.buf.getvalue(), "stderr": err.buf.getvalue(),
                "server_ms": round((time.perf_counter() - t0) * 1e3, 1)}

    return handle


def _see_other_writers(services: Any) -> None:
    """A cold command reads the index as it is now: so does a warm one. Writes by other
    processes (`imgrag folders remove`, another tool) become visible; the searcher then
    reloads what it cannot patch (search/snapshot.py)."""
    for refresh in (services.store.refresh, lambda: services.searcher.tile_matcher.refresh()):
        try:
            refresh()
        except Exception:  # an unreadable table: the command itself says so
            pass


def serve(services: Any, info: dict[str, Any] | None = None) -> Any:
    """Start answering warm queries for `services` (a WarmServer), or None when another
    process already does or the socket cannot be made (the commands then run cold)."""
    from imgrag_desktop import warm
    from imgrag_desktop.cli.commands import search, vlm
    from imgrag_desktop.cli.context import run_safely

    commands = {"search": search.cmd_search, "similar": search.cmd_similar, "ask": vlm.cmd_ask}

    def run_command(ctx: Any) -> int:  # as `imgrag` runs it (cli/__init__.py: run_command)
        return run_safely(commands[ctx.args.command], ctx)

    try:
        return warm.WarmServer(services.cfg.data_dir, handler(services, run_command),
                               {"data_dir": str(services.cfg.data_dir), "profile": services.cfg.profile,
                                **(info or {})}).start()
    except OSError as exc:  # e.g. a data dir path too long for a socket (107 bytes): quietly cold
        import logging

        logging.getLogger(__name__).info("warm queries are not served: %s", exc)
        return None


def warm_up(services: Any, server: Any = None) -> None:
    """Load what a query needs (CLIP, the vectors, the text model) before the first one comes;
    the server's ping then says `"ready": true`."""
    for step in (lambda: services.clip.encode_texts(["warm up"]), lambda: services.searcher.visual(),
                 lambda: services.text.encode(["warm up"]) if services.text is not None else None):
        try:
            step()
        except Exception:  # no model yet, an empty index: the first query pays, or says why
            pass
    if server is not None:
        server.info["ready"] = True
