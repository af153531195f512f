"""`imgrag ocr` (read the text inside images now) and `imgrag eval` (how well search finds it).

The OCR run after `imgrag index` is a later stage (indexing/stages.py); this is the same work on
request, with --requeue and --limit.
"""

from __future__ import annotations

import argparse
import threading

from imgrag_desktop.cli.context import Context
from imgrag_desktop.types import ImgragError


# --- ocr command ------------------------------------------------------------------------------
def ocr_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--requeue", action="store_true",
                   help="read every image again that was skipped (OCR off when indexed), failed, or read by "
                        "another engine or languages than the settings' (OCR runs queue those by themselves too)")
    p.add_argument("--photos", action="store_true",
                   help="read photos in full even where the text detector finds no text (as with ocr_photos on)")
    p.add_argument("--limit", type=int, help="read at most this many images")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def cmd_ocr(ctx: Context) -> int:
    from imgrag_desktop.indexing.stages import embed_text, read_text
    from imgrag_desktop.indexing.text_stage import OcrStage
    from imgrag_desktop.models.ocr import ocr_from_config
    from imgrag_desktop.store import writer

    args = ctx.args
    svc = ctx.services
    cancel = threading.Event()
    requeued = 0
    try:
        with writer(svc.store, svc.cfg.lock_file):
            if args.requeue:
                requeued = OcrStage(svc.store, ocr_from_config(svc.cfg)).requeue(None, ("skipped", "failed"))
            data = read_text(svc, cancel, ctx.progress_bar("ocr"), args.limit, photos_in_full=args.photos or None)
            data["requeued"] = requeued
            data["text"] = embed_text(svc, cancel, ctx.progress_bar("text vectors"), ctx.warn)
    except KeyboardInterrupt:
        raise ImgragError("OCR interrupted; text read so far is kept, run the command again to go on") from None
    ctx.out(data, lambda: (f"read the text of {data['read']} images, {data['failed']} failed, {data['remaining']} "
                           f"still waiting; {data['text'].get('embedded', 0)} text vectors made"
                           + "".join(f"\n  {f['path']}: {f['reason']}" for f in data["failures"][:20])))
    return 0


# --- eval command -----------------------------------------------------------------------------
def eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("queries", nargs="?", metavar="QUERIES",
                   help="a JSON/JSONL query file ({query, expected: [paths]}); without it, the built-in "
                        "screenshot evaluation runs")
    p.add_argument("--screenshots", metavar="DIR",
                   help="folder with the screenshots and expected.json (built-in evaluation; default: "
                        "$IMGRAG_SHARED_DATA/screenshots)")
    p.add_argument("--distractors", metavar="DIR",
                   help="folder of photos indexed beside the screenshots (default: $IMGRAG_SHARED_DATA/coco-mini)")
    p.add_argument("--modes", default="hybrid,visual,textual,keyword", help="modes to measure (comma-separated)")
    p.add_argument("--no-index", action="store_true",
                   help="with a query file: measure the current index as it is (no indexing)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--labelled", metavar="DIR",
                   help="folder of labelled images: one sub-folder per label, or with --labels")
    p.add_argument("--labels", metavar="CSV", help="labels as 'path,label' rows (paths relative to DIR)")
    p.add_argument("-k", type=int, default=5, help="cut-off rank for precision@k and recall@k (default 5)")
    p.add_argument("--histogram", metavar="PNG", help="where to write the score histograms "
                                                      "(default: eval-histogram.png in the current folder)")
    p.add_argument("--calibrate", action="store_true",
                   help="use the measured thresholds as this model's relevance cut-off")
    p.add_argument("--answers", action="store_true",
                   help="measure the answers of `ask` instead: correct, supported by evidence, evidence top-3, "
                        "\"don't know\" on questions without an answer (QUESTIONS: a question file; default: the "
                        "built-in set over the shared receipts and screenshots)")
    p.add_argument("--receipts", metavar="DIR",
                   help="with --answers: the receipts folder (default: $IMGRAG_SHARED_DATA/receipts)")
    p.add_argument("--index-dir", metavar="DIR",
                   help="with --answers: index into this data dir and keep it (reused when it holds an index)")
    p.add_argument("--model", metavar="GGUF", help="with --answers: a language-model .gguf to answer with "
                                                   "(text only; default: the model in use)")
    p.add_argument("--images", type=int, default=4, help="with --answers: pictures per question (default 4)")
    p.add_argument("--limit", type=int, help="with --answers: ask only the first N questions")


def cmd_eval(ctx: Context) -> int:
    from imgrag_desktop import evaluation

    args = ctx.args
    if getattr(args, "answers", False):
        return _eval_answers(ctx)
    if getattr(args, "labelled", None):
        return _eval_labelled(ctx)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if args.queries:
        report = evaluation.run_query_file(ctx.services, args.queries, modes)
    else:
        report = evaluation.run_screenshot_eval(ctx.services, args.screenshots, args.distractors, modes,
                                                on_progress=ctx.progress_bar(), on_warning=ctx.warn)
    ctx.out(report, lambda: evaluation.report_text(report))
    return 0


def _eval_answers(ctx: Context) -> int:
    """`eval --answers`: the answers of `ask` on a question set (evaluation/answers.py)."""
    from imgrag_desktop.evaluation import answers

    args = ctx.args
    if args.images < 1:
        raise ImgragError("--images must be at least 1")
    report = answers.run_answer_eval(ctx.services, questions=args.queries, receipts=args.receipts,
                                     screenshots=args.screenshots, index_dir=args.index_dir, model=args.model,
                                     images=args.images, limit=args.limit,
                                     on_progress=None if args.quiet else ctx.progress_bar("indexing"),
                                     on_warning=ctx.warn)
    ctx.out(report, lambda: answers.report_text(report))
    return 0


def _eval_labelled(ctx: Context) -> int:
    """`eval --labelled DIR`: precision/recall on a labelled folder, with score histograms."""
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
