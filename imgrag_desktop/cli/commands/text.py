"""CLI of text inside images: the `ocr` and `eval` commands and the after-index text stages.

`register` adds them following cli.py's pattern. Stage order after `imgrag index` (and after
indexing in the window): OCR first (captions wait for a screenshot's OCR text), captions, then
textual vectors and the keyword index (they must see both OCR text and captions).
"""

from __future__ import annotations

import argparse
import sys
import threading
from typing import TYPE_CHECKING, Any

from imgrag_desktop.types import ImgragError

if TYPE_CHECKING:  # pragma: no cover
    from imgrag_desktop.cli import Context


# --- stages ---------------------------------------------------------------------------------
def run_ocr(ctx: "Context", cancel: threading.Event, limit: int | None = None) -> dict[str, Any]:
    from imgrag_desktop.indexing.text_stage import OcrStage
    from imgrag_desktop.models.ocr import ocr_from_config

    cfg = ctx.services.cfg
    stage = OcrStage(ctx.services.store, ocr_from_config(cfg), workers=cfg.settings.ocr_workers,
                     on_progress=ctx.progress_bar("ocr"))
    return stage.run(cancel, limit).to_json()


def run_text_vectors(ctx: "Context", cancel: threading.Event, include_ocr_pending: bool = False) -> dict[str, Any]:
    from imgrag_desktop.indexing.text_stage import EmbedStage, ensure_fts_index

    svc = ctx.services
    data: dict[str, Any] = {}
    try:
        enc = svc.text
        if enc is None:
            raise ImgragError("no text model module")
        data = EmbedStage(svc.store, enc, on_progress=ctx.progress_bar("text vectors")).run(
            cancel, include_ocr_pending=include_ocr_pending).to_json()
    except ImgragError as exc:
        print(f"imgrag: text vectors skipped: {exc}", file=sys.stderr)
        data = {"error": str(exc)}
    if not cancel.is_set():
        data["keyword_index"] = ensure_fts_index(svc.store)
    return data


def ocr_stage(ctx: "Context", cancel: Any) -> dict[str, Any] | None:
    """After `imgrag index`: read the text of what waits for OCR."""
    s = ctx.services.cfg.settings
    if not s.ocr_enabled or cancel.is_set():
        return None
    try:
        return {"ocr": run_ocr(ctx, cancel)}
    except ImgragError as exc:
        print(f"imgrag: OCR skipped: {exc}", file=sys.stderr)
        return {"ocr": {"error": str(exc)}}


def text_stage(ctx: "Context", cancel: Any) -> dict[str, Any] | None:
    """After OCR and captions: textual vectors for new text, and the keyword index."""
    if cancel.is_set():
        return None
    from imgrag_desktop.models.ocr import availability

    ocr_ok = ctx.services.cfg.settings.ocr_enabled and availability(ctx.services.cfg)[0]
    # When OCR cannot run, rows waiting for it still get a vector of their name and caption.
    return {"text": run_text_vectors(ctx, cancel, include_ocr_pending=not ocr_ok)}


# --- ocr command ------------------------------------------------------------------------------
def _ocr_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--requeue", action="store_true",
                   help="read again screenshots and documents that were skipped (OCR off when indexed) or failed")
    p.add_argument("--photos", action="store_true", help="with --requeue: photos too (as with ocr_photos on)")
    p.add_argument("--limit", type=int, help="read at most this many images")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def cmd_ocr(ctx: "Context") -> int:
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
                kinds = None if (args.photos or svc.cfg.settings.ocr_photos) else ("screenshot", "document")
                requeued = OcrStage(svc.store, ocr_from_config(svc.cfg)).requeue(kinds)
            data = run_ocr(ctx, cancel, args.limit)
            data["requeued"] = requeued
            data["text"] = run_text_vectors(ctx, cancel)
    except KeyboardInterrupt:
        raise ImgragError("OCR interrupted; text read so far is kept, run the command again to go on") from None
    ctx.out(data, lambda: (f"read the text of {data['read']} images, {data['failed']} failed, {data['remaining']} "
                           f"still waiting; {data['text'].get('embedded', 0)} text vectors made"
                           + "".join(f"\n  {f['path']}: {f['reason']}" for f in data["failures"][:20])))
    return 0


# --- eval command -----------------------------------------------------------------------------
def _eval_args(p: argparse.ArgumentParser) -> None:
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


def cmd_eval(ctx: "Context") -> int:
    from imgrag_desktop import evaluation

    args = ctx.args
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if args.queries:
        report = evaluation.run_query_file(ctx, args.queries, modes)
    else:
        report = evaluation.run_screenshot_eval(ctx, args.screenshots, args.distractors, modes)
    ctx.out(report, lambda: evaluation.report_text(report))
    return 0


def register(commands: dict[str, Any], after_index: list[Any]) -> None:
    commands.setdefault("ocr", ("read the text inside images now (resumable)", _ocr_args, cmd_ocr))
    commands.setdefault("eval", ("measure search quality: recall@1/5 and MRR per mode, OCR error rate",
                                 _eval_args, cmd_eval))
    if ocr_stage not in after_index:
        pos = next((i for i, f in enumerate(after_index) if getattr(f, "__name__", "") == "caption_stage"),
                   len(after_index))
        after_index.insert(pos, ocr_stage)
    if text_stage not in after_index:
        after_index.append(text_stage)
