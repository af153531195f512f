"""`imgrag check`, `imgrag repair`, `imgrag export-userdata`, `imgrag import-userdata`: keeping a
library safe (the work is in imgrag_desktop/upkeep.py, which the Settings dialog calls too)."""

from __future__ import annotations

import argparse
import threading

from imgrag_desktop.cli.context import Context, printable, stop_on_signals
from imgrag_desktop.types import ImgragError


def check_args(p: argparse.ArgumentParser) -> None:
    p.description = ("Read every table of the index to the end, count its rows, look for vectors that are not "
                     "finite and doubled rows, and check that the files it refers to exist (folders that are "
                     "offline are counted apart). Read only. Exit status 1 with one line when anything is wrong.")


def cmd_check(ctx: Context) -> int:
    from imgrag_desktop.upkeep import check, check_message

    data = check(ctx.services)

    def human() -> str:
        lines = [f"{t['name']}: {t['rows']} rows, version {t['version']}" + ("" if t["ok"] else f" — {t['error']}")
                 for t in data["tables"]]
        lines.append(f"{data['images']} images; {data['missing_files']} files missing; "
                     f"{data['offline_rows']} below offline folders (not checked)")
        lines.append("index OK" if data["ok"] else "problems: " + "; ".join(data["problems"]))
        for p in data["missing_sample"]:
            lines.append(f"  missing: {printable(p)}")
        return "\n".join(lines)

    ctx.out(data, human)
    if not data["ok"]:
        raise ImgragError(check_message(data))
    return 0


def repair_args(p: argparse.ArgumentParser) -> None:
    p.description = ("Bring a damaged index back: each damaged table returns to its newest version that reads "
                     "completely (damaged files are moved into the data dir's damaged/ folder, never deleted), rows "
                     "with broken vectors are dropped, and what is missing is rebuilt from the photos by an "
                     "indexing pass over the library's folders (nothing re-embedded that is still held).")
    p.add_argument("--no-reindex", action="store_true", help="only restore the tables; do not index the folders")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def cmd_repair(ctx: Context) -> int:
    from imgrag_desktop.store import writer
    from imgrag_desktop.upkeep import repair

    svc = ctx.services
    cancel = threading.Event()
    with stop_on_signals(cancel), writer(svc.store, svc.cfg.lock_file):
        data = repair(svc, cancel, ctx.progress_bar(), reindex=not ctx.args.no_reindex)

    def human() -> str:
        lines = [f"{t['name']}: {t['action']} (version {t['version']}, {t['rows_after']} rows)" for t in data["tables"]]
        if not data["tables"]:
            lines.append("every table read completely")
        if data["dropped_rows"]:
            lines.append(f"{data['dropped_rows']} rows with broken vectors or doubled dropped (embedded again)")
        if data["quarantine"]:
            lines.append(f"damaged files moved to {data['quarantine']}")
        re = data.get("reindexed")
        if re:
            lines.append(f"rebuilt from the photos: {re['added']} added, {re['updated']} updated, "
                         f"{re['unchanged']} unchanged")
        lines.append(f"{data['images']} images in the index; " + ("index OK" if data["ok"] else "problems remain"))
        return "\n".join(lines)

    ctx.out(data, human)
    if not data["ok"]:
        raise ImgragError("the index still has problems after the repair; `imgrag check` says which")
    return 0


def export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="where to write (JSON): settings, folders and your own data")


def cmd_export(ctx: Context) -> int:
    from imgrag_desktop.upkeep import export_userdata

    data = export_userdata(ctx.services, ctx.args.file)
    ctx.out(data, lambda: f"wrote {data['path']} ({data['bytes']} bytes, {data['folders']} folders)")
    return 0


def import_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="a file written by `imgrag export-userdata`")


def cmd_import(ctx: Context) -> int:
    from imgrag_desktop.store import writer
    from imgrag_desktop.upkeep import import_userdata

    svc = ctx.services
    with writer(svc.store, svc.cfg.lock_file):
        data = import_userdata(svc, ctx.args.file)
    ctx.out(data, lambda: f"imported settings ({data['folders']} folders) and {sum(data['tables'].values())} rows")
    return 0
