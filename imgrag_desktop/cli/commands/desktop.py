"""`imgrag install-desktop`: the menu entry and icons of the window (Linux, current user)."""

from __future__ import annotations

import argparse
from pathlib import Path

from imgrag_desktop.cli.context import Context


def install_desktop_args(p: argparse.ArgumentParser) -> None:
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
