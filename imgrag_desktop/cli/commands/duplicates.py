"""The power features' commands: `duplicates`, `calibrate`, and `eval --labelled`.

Registered into cli.COMMANDS by register(); when another module already registered an
`eval` (e.g. a screenshots benchmark), `--labelled DIR` is added to it and dispatches here.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, Callable

from imgrag_desktop.types import ImgragError

if TYPE_CHECKING:  # pragma: no cover
    from imgrag_desktop.cli import Context

def _duplicates_args(p: argparse.ArgumentParser) -> None:
    from imgrag_desktop.cli import add_filter_arguments
    from imgrag_desktop.search.duplicates import MATCH_THRESHOLD

    p.add_argument("--threshold", type=float, default=None, metavar="T",
                   help=f"minimum match score (aligned structure correlation, 0-1) of two pictures to count as "
                        f"copies (default {MATCH_THRESHOLD}; higher: stricter)")
    p.add_argument("--clip-threshold", type=float, default=None, metavar="C",
                   help="also require this CLIP cosine (default: the model's calibrated copy cosine when the "
                        "model recognises copies, else none)")
    add_filter_arguments(p)


def cmd_duplicates(ctx: "Context") -> int:
    from imgrag_desktop.cli import filter_from_args
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


def _calibrate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--show", action="store_true", help="show the stored calibration, compute nothing")


def cmd_calibrate(ctx: "Context") -> int:
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


def _eval_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    have = set(p._option_string_actions)  # another eval may already define some of these

    def add(*names: str, **kw: Any) -> None:
        if not have.intersection(names):
            p.add_argument(*names, **kw)

    add("--labelled", metavar="DIR", required=required,
        help="folder of labelled images: one sub-folder per label, or with --labels")
    add("--labels", metavar="CSV", help="labels as 'path,label' rows (paths relative to DIR)")
    add("-k", type=int, default=5, help="cut-off rank for precision@k and recall@k (default 5)")
    add("--histogram", metavar="PNG", help="where to write the score histograms "
                                           "(default: eval-histogram.png in the current folder)")
    add("--calibrate", action="store_true", help="use the measured thresholds as this model's relevance cut-off")


def cmd_eval(ctx: "Context") -> int:
    from imgrag_desktop.evaluation.labelled import evaluate

    args = ctx.args
    report = evaluate(ctx.services, args.labelled, getattr(args, "labels", None), k=getattr(args, "k", 5) or 5,
                      histogram=getattr(args, "histogram", None) or "eval-histogram.png",
                      calibrate=bool(getattr(args, "calibrate", False)),
                      on_progress=ctx.progress_bar("indexing"))
    data = report.to_json()

    def human() -> str:
        lines = [f"{report.images} images, {report.labels} labels, model {report.model_id}"]
        for name, m in data["modes"].items():
            lines.append(f"{name:6s} precision@{report.k} {m['precision_at_k']:.3f}  recall@{report.k} "
                         f"{m['recall_at_k']:.3f}  AUC {m['auc']}  best threshold {m['best_threshold']}")
        lines.append(f"histogram: {report.histogram}")
        if report.calibrated:
            lines.append("saved as this model's relevance cut-off")
        return "\n".join(lines)

    ctx.out(data, human)
    return 0


EVAL_HELP = "precision/recall of search on a labelled folder (--labelled DIR), with a score histogram"


def register(commands: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[["Context"], int]]]) -> None:
    commands["duplicates"] = ("groups of near-identical images (resized, recompressed, cropped copies)",
                              _duplicates_args, cmd_duplicates)
    commands["calibrate"] = ("measure this model's relevance cut-off on the indexed images", _calibrate_args,
                             cmd_calibrate)
    if "eval" not in commands:
        commands["eval"] = (EVAL_HELP, lambda p: _eval_args(p, required=True), cmd_eval)
        return
    help_text, add_args, run = commands["eval"]

    def add_both(p: argparse.ArgumentParser) -> None:
        add_args(p)
        _eval_args(p, required=False)

    def run_both(ctx: "Context") -> int:
        return cmd_eval(ctx) if getattr(ctx.args, "labelled", None) else run(ctx)

    commands["eval"] = (f"{help_text}; or {EVAL_HELP}", add_both, run_both)
