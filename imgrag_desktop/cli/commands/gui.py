"""`imgrag gui`: open the window on the same data dir and profile."""

from __future__ import annotations

from imgrag_desktop.cli.context import Context
from imgrag_desktop.types import ImgragError


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
    from imgrag_desktop.cli.commands.warm import serve

    return int(gui_main(argv, serve_warm=lambda svc: serve(svc, {"front": "window", "ready": True})) or 0)
