"""`imgrag duplicates` (groups of near-identical pictures) and `imgrag calibrate` (the model's
relevance cut-off): the two commands that measure the library's pictures against each other."""

from __future__ import annotations

import argparse

from imgrag_desktop.cli.context import Context, add_filter_arguments, filter_from_args
from imgrag_desktop.types import ImgragError


def duplicates_args(p: argparse.ArgumentParser) -> None:
    from imgrag_desktop.search.duplicates import MATCH_THRESHOLD

    p.add_argument("--threshold", type=float, default=None, metavar="T",
                   help=f"minimum match score (aligned structure correlation, 0-1) of two pictures to count as "
                        f"copies (default {MATCH_THRESHOLD}; higher: stricter)")
    p.add_argument("--clip-threshold", type=float, default=None, metavar="C",
                   help="also require this CLIP cosine (default: the model's calibrated copy cosine when the "
                        "model recognises copies, else none)")
    add_filter_arguments(p)


def cmd_duplicates(ctx: Context) -> int:
    from imgrag_desktop.search.duplicates import finder_for

    args = ctx.args
    if args.threshold is not None and not 0 < args.threshold <= 1:
        raise ImgragError("--threshold must be above 0 and at most 1")
    svc = ctx.services
    finder = finder_for(svc, match_threshold=args.threshold, clip_threshold=args.clip_threshold)
    added = finder.backfill(on_progress=ctx.progress_bar("fingerprints"))
    groups = finder.groups(filter_from_args(args))
    data = {
        "groups": [g.paths for g in groups],
        "details": [g.to_json() for g in groups],
        "duplicates": sum(g.size - 1 for g in groups),
        "images": svc.store.count(),
        "threshold": finder.match_threshold,
        "clip_threshold": finder.clip_threshold,
        "fingerprints_added": added,
    }

    def human() -> str:
        if not groups:
            return f"no near-duplicates among {data['images']} images"
        lines = [f"{len(groups)} groups, {data['duplicates']} extra copies (first of each group: the one to keep)"]
        for g in groups:
            lines.append(f"- {g.size} pictures, match {g.score:.2f}")
            lines.extend(f"    {p}" for p in g.paths)
        return "\n".join(lines)

    ctx.out(data, human)
    return 0


def calibrate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--show", action="store_true", help="show the stored calibration, compute nothing")


def cmd_calibrate(ctx: Context) -> int:
    from dataclasses import asdict

    from imgrag_desktop.search.calibration import CalibrationBook, ensure_calibrated, fmt

    svc = ctx.services
    book = CalibrationBook(svc.cfg.data_dir)
    if ctx.args.show:
        cal = book.get(svc.clip.model_id)
    else:
        from imgrag_desktop.store import writer

        with writer(svc.store, svc.cfg.lock_file):
            cal = ensure_calibrated(book, svc.store, svc.clip, force=True)
    if cal is None:
        raise ImgragError("nothing to calibrate on: index at least 4 images with this model first")

    def human() -> str:
        return "\n".join([
            f"model {cal.model_id} ({cal.source} calibration on {cal.images} images)",
            f"text cut-off {fmt(cal.text_threshold)} ({'in use' if cal.text_informative else 'not used'}: "
            f"typographic probe {cal.text_probe_accuracy:.0%})",
            f"image cut-off {fmt(cal.image_threshold)} ({'in use' if cal.image_informative else 'not used'}: "
            f"copies found {cal.copy_retrieval:.0%})",
            f"duplicate CLIP gate {fmt(cal.dup_clip_threshold) if cal.image_informative else 'not used'}",
        ])

    ctx.out(asdict(cal), human)
    return 0
