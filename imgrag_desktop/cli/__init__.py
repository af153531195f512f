"""The `imgrag` command: the window's services, scriptable.

`imgrag [--data-dir DIR] [--profile default|test] COMMAND [--json]`. With --json, results go
to stdout as JSON; progress always goes to stderr. Failures exit non-zero with one line.
Every command is one row of COMMANDS: (help, add its arguments, run it); the rows' modules are
in cli/commands/, what they share in cli/context.py.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, NamedTuple

from imgrag_desktop import __version__
from imgrag_desktop.cli.commands import (
    bench,
    desktop,
    desktop_search,
    doctor,
    duplicates,
    folders,
    gui,
    index,
    models,
    people,
    places,
    search,
    settings,
    status,
    text,
    upkeep,
    vlm,
    watch,
)
from imgrag_desktop.cli.context import Context, common_options, no_args, run_safely

__all__ = ["COMMANDS", "Command", "Context", "build_parser", "main", "run_command"]


class Command(NamedTuple):
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[Context], int]


COMMANDS: dict[str, Command] = {
    "index": Command("index folders or image files", index.index_args, index.cmd_index),
    "watch": Command("keep the index in line with folders as files change (until Ctrl+C)", watch.watch_args,
                     watch.cmd_watch),
    "search": Command("find images matching a text", search.search_args, search.cmd_search),
    "places": Command("the library by place: countries and towns with counts and a cover photo (from GPS)",
                      places.places_args, places.cmd_places),
    "timeline": Command("the library by time: years and months with counts (the photos' own local time)",
                        places.places_args, places.cmd_timeline),
    "similar": Command("find images that look like an image", search.similar_args, search.cmd_similar),
    "status": Command("what is indexed, and what was skipped", status.status_args, status.cmd_status),
    "folders": Command("list the library's folders, or remove one from the index (the files stay)",
                       folders.folders_args, folders.cmd_folders),
    "settings": Command("list and change the settings by name (checked against their types)",
                        settings.settings_args, settings.cmd_settings),
    "doctor": Command("check the installation: Python, torch device, models, Tesseract, data dir",
                      doctor.doctor_args, doctor.cmd_doctor),
    "gui": Command("open the window", no_args, gui.cmd_gui),
    "install-desktop": Command("add the app to the desktop menu (Linux, current user)",
                               desktop.install_desktop_args, desktop.cmd_install_desktop),
    "desktop-search": Command("photos in the desktop's search box: GNOME Shell search provider and KRunner runner "
                              "(install, uninstall, run the D-Bus service)", desktop_search.desktop_search_args,
                              desktop_search.cmd_desktop_search),
    "bench": Command("measure indexing speed, search latency and memory on generated data", bench.bench_args,
                     bench.cmd_bench),
    "ask": Command("answer a question from your pictures with the local model", vlm.ask_args, vlm.cmd_ask),
    "models": Command("list, download, check and choose CLIP and vision-language models", models.models_args,
                      models.cmd_models),
    "captions": Command("describe pictures with the local model (resumable)", vlm.captions_args, vlm.cmd_captions),
    "ocr": Command("read the text inside images now (resumable)", text.ocr_args, text.cmd_ocr),
    "eval": Command("measure search quality: recall@1/5 and MRR per mode, OCR error rate; or precision/recall "
                    "of search on a labelled folder (--labelled DIR), with a score histogram",
                    text.eval_args, text.cmd_eval),
    "duplicates": Command("groups of near-identical images (resized, recompressed, cropped copies)",
                          duplicates.duplicates_args, duplicates.cmd_duplicates),
    "people": Command("the people in your photos: list, show, name, merge, hide", people.people_args,
                      people.cmd_people),
    "calibrate": Command("measure this model's relevance cut-off on the indexed images", duplicates.calibrate_args,
                         duplicates.cmd_calibrate),
    "check": Command("verify the index: tables readable, row counts, vectors finite, indexed files present",
                     upkeep.check_args, upkeep.cmd_check),
    "repair": Command("restore a damaged index to its last good version and rebuild what is lost from the photos",
                      upkeep.repair_args, upkeep.cmd_repair),
    "export-userdata": Command("write your settings, folders and own data (names, corrections) to a small file",
                               upkeep.export_args, upkeep.cmd_export),
    "import-userdata": Command("bring back what export-userdata wrote (nothing is deleted)", upkeep.import_args,
                               upkeep.cmd_import),
}


def build_parser() -> argparse.ArgumentParser:
    common = common_options(argparse.ArgumentParser(add_help=False))
    parser = argparse.ArgumentParser(prog="imgrag", parents=[common],
                                     description="Search and ask questions about your own images, offline.")
    parser.add_argument("--version", action="version", version=f"imgrag {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, cmd in COMMANDS.items():
        sp = sub.add_parser(name, help=cmd.help, parents=[common], description=cmd.help)
        cmd.add_arguments(sp)
    return parser


FREE_TEXT = ("search", "similar", "ask")  # commands whose words may start with a dash (cli/free_text.py)


def main(argv: list[str] | None = None) -> int:
    from imgrag_desktop.cli.free_text import prepare_argv

    parser = build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices  # noqa: SLF001
    args = parser.parse_args(prepare_argv(parser, subs, sys.argv[1:] if argv is None else argv, FREE_TEXT))
    for name, default in (("json", False), ("data_dir", None), ("profile", None)):
        if not hasattr(args, name):
            setattr(args, name, default)
    if not args.command:
        parser.print_help(sys.stderr)
        return 2
    if args.command in FREE_TEXT:  # a running window or `imgrag watch` may answer it warm
        from imgrag_desktop.cli.commands.warm import try_warm

        rc = try_warm(args)
        if rc is not None:
            return rc
    defer_lancedb_rest_client()
    ctx = Context(args)
    try:
        return run_command(ctx)
    finally:
        ctx.close()


def defer_lancedb_rest_client() -> None:
    """lancedb sets up a REST namespace client at import that a local library never uses
    (~0.45 s of CPU per command): put its package's __init__ off until something asks for it
    (quiet_start.defer_init; the window's engine does the same)."""
    from imgrag_desktop.quiet_start import DEFERRED_INITS, defer_init

    if "lancedb" not in sys.modules:
        for package in DEFERRED_INITS["lancedb"]:
            defer_init(package)


def run_command(ctx: Context) -> int:
    """Run the command of `ctx.args`, turning failures into one line on stderr and an exit code."""
    rc = run_safely(COMMANDS[ctx.args.command].run, ctx)
    wait_for_exports(say=rc == 0)
    return rc


def wait_for_exports(say: bool = True) -> None:
    """A model export to ONNX that this command began (once per model, models/onnx_clip.py)
    finishes before the process ends: one line on stderr says why the command waits (not after
    a failure, whose one line is its reason)."""
    onnx_clip = sys.modules.get("imgrag_desktop.models.onnx_clip")  # never imported: nothing to wait for
    if onnx_clip is not None:
        onnx_clip.wait_for_exports((lambda what: print(
            f"preparing the fast query runtime for {what} (once; later commands start faster)…",
            file=sys.stderr, flush=True)) if say else None)


if __name__ == "__main__":
    raise SystemExit(main())
