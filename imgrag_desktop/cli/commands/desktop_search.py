"""`imgrag desktop-search install|uninstall|run`: photos in GNOME's and KRunner's search box.

`run` is the D-Bus service (imgrag_desktop/desktop_search/): D-Bus starts it on the desktop's
first query once `install` wrote the activation files. Each query is `imgrag search TEXT --json
-k 10` as the command line runs it: through the warm socket of a running window or `imgrag
watch` (warm.py, tens of ms), else on this service's own engine, which stays loaded between
queries (models unload when idle, models/idle.py) and exits after a quiet while.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable

from imgrag_desktop.cli.context import Context, common_options, stop_on_signals
from imgrag_desktop.types import ImgragError

log = logging.getLogger(__name__)


def desktop_search_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="ds_action", metavar="ACTION")

    def action(name: str, text: str) -> argparse.ArgumentParser:
        return common_options(sub.add_parser(name, help=text, description=text))

    inst = action("install", "write the GNOME Shell search provider, KRunner runner and D-Bus service files "
                             "under the XDG data dir (no root needed)")
    inst.add_argument("--prefix", help="XDG data dir to install into (default $XDG_DATA_HOME or ~/.local/share)")
    inst.add_argument("--exec", dest="exec_cmd", metavar="COMMAND",
                      help="the imgrag command D-Bus runs (default: the imgrag of this installation); "
                           "--data-dir and --profile given here are added to it")
    inst.add_argument("--session-env", action="store_true",
                      help="also add the data dir to XDG_DATA_DIRS for your next login (~/.config/environment.d), "
                           "which GNOME Shell needs to find a provider outside the system dirs")
    uninst = action("uninstall", "remove the files install wrote (files changed since are kept)")
    uninst.add_argument("--prefix", help="XDG data dir they were installed into")
    run = action("run", "serve the desktop's search over D-Bus (D-Bus starts this itself)")
    run.add_argument("-k", "--limit", type=int, default=10, help="results per query (default 10)")
    run.add_argument("--min-score", default="auto", metavar="X|auto|off",
                     help="as `imgrag search --min-score` (default auto: the model's calibrated cut-off)")
    run.add_argument("--idle-exit", type=float, default=900.0, metavar="S",
                     help="exit after S seconds without a query, D-Bus starts it again (default 900; 0: never)")
    run.add_argument("--bus", default="SESSION", metavar="ADDRESS",
                     help="D-Bus address to serve on (default: the session bus)")


def cmd_desktop_search(ctx: Context) -> int:
    action = getattr(ctx.args, "ds_action", None)
    if action == "install":
        return _install(ctx)
    if action == "uninstall":
        return _uninstall(ctx)
    if action == "run":
        return _run(ctx)
    raise ImgragError("say what to do: imgrag desktop-search install | uninstall | run")


# -- install / uninstall -----------------------------------------------------------------------------
def _install(ctx: Context) -> int:
    from imgrag_desktop import resources_util
    from imgrag_desktop.desktop_search import files

    a = ctx.args
    command = shlex.split(a.exec_cmd) if a.exec_cmd else files.default_command()
    if not command:
        raise ImgragError("--exec names no command")
    argv = files.service_argv(command, a.data_dir, a.profile)
    try:
        gui_exec: str | None = resources_util.find_gui_executable()
    except ImgragError:
        gui_exec = None
    done = files.install(Path(a.prefix).expanduser() if a.prefix else None, argv, gui_exec, a.session_env)

    def human() -> str:
        lines = [f"installed {len(done['installed'])} files (GNOME Shell search provider, KRunner runner, "
                 "D-Bus service):", *(f"  {p}" for p in done["installed"])]
        if done["session_env"]:
            lines.append("GNOME Shell shows the photos after your next login (XDG_DATA_DIRS set in "
                         f"{done['session_env']}); KRunner finds the runner now.")
        elif not done["gnome_sees_user_dir"]:
            lines.append("note: GNOME Shell reads search providers only from $XDG_DATA_DIRS; run install with "
                         "--session-env (then log in again), or see docs/desktop-search.md. KRunner finds the "
                         "runner now.")
        return "\n".join(lines)

    ctx.out(done, human)
    return 0


def _uninstall(ctx: Context) -> int:
    from imgrag_desktop.desktop_search import files

    done = files.uninstall(Path(ctx.args.prefix).expanduser() if ctx.args.prefix else None)

    def human() -> str:
        lines = [f"removed {len(done['removed'])} files"]
        lines += [f"kept {k['path']}: {k['why']}" for k in done["kept"]]
        return "\n".join(lines)

    ctx.out(done, human)
    return 0


# -- run ---------------------------------------------------------------------------------------------------
class Searcher:
    """`imgrag search TEXT --json -k N`: warm through a running window or watcher, else here."""

    def __init__(self, data_dir: str | None, profile: str | None, min_score: str = "auto") -> None:
        from imgrag_desktop.cli.commands import search

        self.data_dir, self.profile = data_dir, profile
        parser = common_options(argparse.ArgumentParser(prog="imgrag search", add_help=False))
        search.search_args(parser)  # the arguments as `imgrag search` parses them, its defaults included
        self._template = parser.parse_args(["--min-score", str(min_score), "-k", "10", "query"])
        self._template.command = "search"
        self._template.json, self._template.data_dir, self._template.profile = True, data_dir, profile
        self._lock = threading.Lock()
        self._handle: Callable[[dict[str, Any]], dict[str, Any]] | None = None
        self._services: Any = None
        self._unloader: Any = None
        self.last_via = ""

    def _request(self, text: str, limit: int) -> tuple[Any, dict[str, Any]]:
        from imgrag_desktop.cli.commands.warm import _request

        ns = argparse.Namespace(**vars(self._template))
        ns.text, ns.limit = text, int(limit)
        made = _request(ns)
        assert made is not None
        return made

    def __call__(self, text: str, limit: int) -> list[dict[str, Any]]:
        from imgrag_desktop import warm

        cfg, req = self._request(text, limit)
        reply = None
        if warm.socket_path(cfg.data_dir).exists():
            reply = warm.request(cfg.data_dir, req, timeout_s=60)
        self.last_via = "warm"
        if reply is None:
            reply = self._here(req)
            self.last_via = "here"
        elif self._handle is not None and self._lock.acquire(blocking=False):
            try:  # a window or watcher answers now: this process's own engine is dead weight
                self.close()
            finally:
                self._lock.release()
        if int(reply.get("rc", 1)) != 0:
            err = str(reply.get("stderr", "")).strip().splitlines()
            raise ImgragError(err[-1].removeprefix("imgrag: ") if err else "the search failed")
        out = json.loads(str(reply.get("stdout") or "[]"))
        hits = out.get("hits", []) if isinstance(out, dict) else out
        return [h for h in hits if isinstance(h, dict)]

    def _here(self, req: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if self._handle is None:
                self._start()
            assert self._handle is not None
            reply = self._handle(req)
            if reply.get("fallback"):  # the settings changed since the engine was built: build it again
                self._start()
                reply = self._handle(req)
        return reply

    def _start(self) -> None:
        from imgrag_desktop.cli.commands import search
        from imgrag_desktop.cli.commands.warm import handler
        from imgrag_desktop.cli.context import run_safely
        from imgrag_desktop.services import Services

        self.close()
        self._services = Services.from_args(self.data_dir, self.profile)
        self._handle = handler(self._services, lambda c: run_safely(search.cmd_search, c))
        self._unloader = self._services.idle_unloader().start()

    def warm_up(self) -> None:
        """Load the engine before the first query, unless a window or watcher answers."""
        from imgrag_desktop import warm
        from imgrag_desktop.cli.commands.warm import warm_up
        from imgrag_desktop.config import AppConfig

        try:
            if warm.probe(AppConfig.load(self.data_dir, self.profile).data_dir) is not None:
                return
            with self._lock:
                if self._handle is None:
                    self._start()
                warm_up(self._services)
        except Exception as exc:  # the first query says why
            log.info("desktop search: warm-up failed: %s", exc)

    def close(self) -> None:
        if self._unloader is not None:
            self._unloader.stop()
        dropped = self._services is not None
        self._unloader = self._services = self._handle = None
        if dropped:
            import gc

            from imgrag_desktop.models.idle import trim_heap

            gc.collect()
            trim_heap()


class Launcher:
    """Opens what the user picked: the system's viewer for a photo or folder, the window for a
    query or look-alikes. Children run detached and are reaped as they end."""

    def __init__(self, data_dir: str | None, profile: str | None) -> None:
        self.data_dir, self.profile = data_dir, profile
        self._children: list[subprocess.Popen[bytes]] = []
        self._lock = threading.Lock()

    def _spawn(self, argv: list[str]) -> None:
        with self._lock:
            self._children = [c for c in self._children if c.poll() is None]
            try:
                self._children.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                                       stderr=subprocess.DEVNULL, start_new_session=True))
            except OSError as exc:
                raise ImgragError(f"cannot start {argv[0]}: {exc}") from exc

    def system_open(self, target: str) -> None:
        for tool in (["xdg-open"], ["gio", "open"]):
            if shutil.which(tool[0]):
                self._spawn([*tool, target])
                return
        raise ImgragError("neither xdg-open nor gio is installed to open files with the desktop's viewer")

    def window(self, *extra: str) -> None:
        from imgrag_desktop import resources_util

        try:
            argv = [resources_util.find_gui_executable()]
        except ImgragError:
            argv = [sys.executable, "-m", "imgrag_desktop"]
        if self.data_dir:
            argv += ["--data-dir", str(Path(self.data_dir).expanduser().absolute())]
        if self.profile:
            argv += ["--profile", self.profile]
        self._spawn(argv + list(extra))

    def ask_window(self, req: dict[str, Any]) -> bool:
        """Whether a running window of this data dir took the request (gui/desktop_requests.py);
        a watcher, an older window or none: False."""
        from imgrag_desktop import warm
        from imgrag_desktop.config import AppConfig

        try:
            data_dir = AppConfig.load(self.data_dir, self.profile).data_dir
            reply = warm.request(data_dir, req, timeout_s=5) if warm.socket_path(data_dir).exists() else None
        except (ImgragError, OSError, ValueError):
            return False
        return bool(reply and reply.get("ok"))

    def open_photo(self, path: str) -> None:
        if not self.ask_window({"op": "show", "path": path}):
            self.system_open(path)

    def launch_search(self, text: str) -> None:
        if not self.ask_window({"op": "query", "text": text}):
            self.window(*(["--query", text] if text.strip() else []))

    def find_similar(self, path: str) -> None:
        if not self.ask_window({"op": "similar", "path": path}):
            self.window(path)

    def open_folder(self, path: str) -> None:
        self.system_open(os.path.dirname(path))


def _run(ctx: Context) -> int:
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.desktop_search.bus import Service
    from imgrag_desktop.desktop_search.provider import Actions, Provider

    a = ctx.args
    if a.limit < 1:
        raise ImgragError("--limit must be at least 1")
    cfg = AppConfig.load(a.data_dir, a.profile)
    searcher = Searcher(a.data_dir, a.profile, a.min_score)
    launcher = Launcher(a.data_dir, a.profile)
    provider = Provider(searcher, Actions(launcher.open_photo, launcher.launch_search, launcher.find_similar,
                                          launcher.open_folder), thumbs_dir=cfg.thumbs_dir, limit=a.limit)
    service = Service(provider, address=a.bus, idle_exit_s=a.idle_exit)

    def ready(name: str) -> None:
        print(f"imgrag: desktop search serves {cfg.data_dir} on D-Bus as {service.bus_name} ({name})",
              file=sys.stderr, flush=True)
        threading.Thread(target=searcher.warm_up, name="imgrag-dbus-warm", daemon=True).start()

    with stop_on_signals(service.stop, announce=None):
        try:
            service.run(on_ready=ready)
        finally:
            searcher.close()
    return 0
