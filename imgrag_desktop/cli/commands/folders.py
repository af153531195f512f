"""`imgrag folders`: the library's remembered folders, as the window's folder list shows them.

`folders remove PATH` follows the window's Remove-folder rule (library.removal_filter): the
rows of PATH go, except those of another remembered folder that covers them or lies inside it;
the photos themselves are never touched.
"""

from __future__ import annotations

import argparse
import os

from imgrag_desktop.cli.context import Context, common_options, printable
from imgrag_desktop.types import ImgragError


def folders_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="folders_action", metavar="ACTION")

    def action(name: str, text: str) -> argparse.ArgumentParser:
        return common_options(sub.add_parser(name, help=text, description=text))

    action("list", "the remembered folders and how many images each holds")
    remove = action("remove", "take a folder out of the library (the files stay)")
    remove.add_argument("path", metavar="PATH", help="a folder of the library (as `imgrag folders list` shows it)")


def cmd_folders(ctx: Context) -> int:
    action = getattr(ctx.args, "folders_action", None) or "list"
    if action == "remove":
        return _remove(ctx)
    from imgrag_desktop.store import folder_filter

    svc = ctx.services
    rows = [{"path": f, "images": svc.store.count(folder_filter(f)), "exists": os.path.isdir(f)}
            for f in svc.cfg.settings.folders]

    def human() -> str:
        if not rows:
            return "no folders: add one with `imgrag index PATH`"
        return "\n".join(f"{r['images']:8d}  {printable(r['path'])}" + ("" if r["exists"] else "  (offline)")
                         for r in rows)

    ctx.out(rows, human)
    return 0


def _remove(ctx: Context) -> int:
    from imgrag_desktop.library import remove_folder_rows
    from imgrag_desktop.store import writer

    svc = ctx.services
    folder = os.path.abspath(os.path.expanduser(ctx.args.path))
    folders = svc.cfg.settings.folders
    remembered = folder in folders
    keep = [f for f in folders if f != folder]
    with writer(svc.store, svc.cfg.lock_file):
        removed = remove_folder_rows(svc.store, folder, keep)
        if remembered:
            folders.remove(folder)
            svc.cfg.save()
    if not remembered and not removed:
        raise ImgragError(f"{folder} is not in the library (see `imgrag folders list`)")
    data = {"removed_folder": folder, "removed": removed}
    ctx.out(data, f"removed {printable(folder)} from the index ({removed} images); the files stay where they are")
    return 0
