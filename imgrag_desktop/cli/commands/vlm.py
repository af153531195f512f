"""The local vision-language model's commands: `ask`, `models`, `captions`.

The captions run after `imgrag index` is a later stage (indexing/stages.py); `imgrag captions`
is the same work on request, with --limit, --requeue, --redo and --duty.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from typing import TYPE_CHECKING, Any

from imgrag_desktop.cli.context import (
    Context,
    add_filter_arguments,
    filter_from_args,
    stop_on_signals,
)
from imgrag_desktop.types import ImgragError

if TYPE_CHECKING:  # pragma: no cover
    from imgrag_desktop.models.registry import VlmSlot


def vlm_slot(ctx: Context) -> "VlmSlot":
    """One model slot per process (the window keeps its own in its services)."""
    return ctx.services.vlm


# --- ask ------------------------------------------------------------------------------------
def ask_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("question", metavar="QUESTION", help="a question about your pictures")
    p.add_argument("-k", "--images", type=int, default=4,
                   help="how many of the best-matching pictures the model gets (default 4)")
    p.add_argument("--max-tokens", type=int, default=320, help="longest answer, in tokens (default 320)")
    add_filter_arguments(p)


def cmd_ask(ctx: Context) -> int:
    from imgrag_desktop.answer import answer_to_json

    args = ctx.args
    if args.images < 1:
        raise ImgragError("-k/--images must be at least 1")
    svc = ctx.services
    from imgrag_desktop.cli.commands.search import read_query

    where = filter_from_args(args)
    reading, _ = read_query(ctx, args.question, where, question=True)  # what was understood, on stderr
    # The answerer searches with that reading ("… Bob?": Bob's photos), on top of the option filters.
    answerer = svc.answerer(where, reading=reading, images=args.images, max_tokens=args.max_tokens)
    cancel = threading.Event()
    stream = answerer.stream(args.question, cancel=cancel)
    interrupted = False
    drafting = False
    try:
        # The model's draft streams to stderr: only the answer checked against the evidence
        # goes to stdout.
        for chunk in stream:
            if not ctx.json:
                if not drafting:
                    sys.stderr.write("(model draft, being checked) ")
                    drafting = True
                sys.stderr.write(chunk)
                sys.stderr.flush()
    except KeyboardInterrupt:
        cancel.set()
        interrupted = True
        stream.close()
    finally:
        svc.vlm.unload()
        if drafting:
            sys.stderr.write("\n")
    if interrupted or stream.answer is None:
        print("imgrag: answer cancelled", file=sys.stderr)
        return 130
    answer = stream.answer
    if ctx.json:
        ctx.out({**answer_to_json(answer, stream), "understood": reading.as_json()}, "")
        return 0
    lines = [answer.text, ""]
    if answer.status == "extracted" and answer.model_text:
        lines.append(f"(the model said {_short(answer.model_text)!r}, which no evidence line holds)")
    if answer.evidence:
        lines.append("Evidence (the lines of text that bear on the question):")
        for e in answer.evidence:
            box = "" if not e.get("box") else " at " + ",".join(str(v) for v in e["box"])
            lines.append(f"  [{e.get('image', '?')}] \u201c{e['text']}\u201d ({os.path.basename(e['path'])}{box})")
        lines.append("")
    cited = set(answer.citations)
    for i, hit in enumerate(answer.sources, 1):
        mark = "*" if hit.path in cited else " "
        lines.append(f"{mark}[{i}] {hit.path}")
    if answer.status == "unknown" and answer.sources:
        lines.append("(no answer in their text: these are the closest pictures, to look at yourself)")
    st = stream.stats
    if st is not None and st.tokens:
        lines.append(f"({answer.model}: {st.tokens} tokens in {st.seconds:.1f} s, {st.tokens_per_s:.1f} tokens/s)")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _short(text: str, n: int = 80) -> str:
    t = " ".join(text.split())
    return t if len(t) <= n else t[: n - 1] + "\u2026"


# --- models (the command is cli/commands/models.py) -------------------------------------------
def check_vlm(ctx: Context) -> int:
    """`imgrag models check`: load the VLM in use and run one tiny prompt."""
    import time

    vlm = vlm_slot(ctx).get()
    t0 = time.perf_counter()
    vlm.load()
    msgs: list[dict[str, Any]] = [{"role": "user", "content": "Say hello."}]
    if vlm.has_vision:
        from PIL import Image

        from imgrag_desktop.models.vlm import image_data_uri

        msgs = [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": image_data_uri(Image.new("RGB", (64, 64), (40, 90, 200)), 64)}},
            {"type": "text", "text": "What colour is this?"}]}]
    text = vlm.generate(msgs, max_tokens=24)
    st = vlm.last_stats
    data = {"model": vlm.model_id, "handler": vlm.handler_name, "vision": vlm.has_vision,
            "load_s": round(vlm.load_seconds, 3), "n_ctx": vlm.n_ctx, "reply": text,
            "tokens_per_s": round(st.tokens_per_s, 2), "total_s": round(time.perf_counter() - t0, 3)}
    vlm.unload()
    ctx.out(data, lambda: (f"{data['model']} ({data['handler']}, vision: {'yes' if data['vision'] else 'no'}) "
                           f"loaded in {data['load_s']} s; reply: {text.strip()!r}; {data['tokens_per_s']} tokens/s"))
    return 0


def use_vlm_files(ctx: Context) -> int:
    """`imgrag models use`: a downloaded catalogue VLM, or local GGUF files."""
    from imgrag_desktop.models import registry
    from imgrag_desktop.models.gguf_info import check_pair, read_gguf

    cfg = ctx.services.cfg
    args = ctx.args
    entry = registry.catalogue_entry(args.name) if not args.name.endswith(".gguf") else None
    if entry is not None:
        if not registry.entry_installed(cfg, entry):
            raise ImgragError(f"{entry.name} is not downloaded yet: run `imgrag models download {entry.name} --use`")
        registry.use_entry(cfg, entry)
        ctx.out({"vlm_model": entry.name, "vlm_mmproj": ""}, f"now using {entry.name}")
        return 0
    model = os.path.abspath(os.path.expanduser(args.name))
    mmproj = os.path.abspath(os.path.expanduser(args.mmproj)) if args.mmproj else ""
    check_pair(read_gguf(model), read_gguf(mmproj) if mmproj else None)
    s = cfg.settings
    s.vlm_model, s.vlm_mmproj = model, mmproj
    if args.handler:
        s.vlm_handler = args.handler
    cfg.save()
    ctx.out({"vlm_model": model, "vlm_mmproj": mmproj},
            f"now using {model}" + (f" with {mmproj}" if mmproj else " (text only: no vision projector)"))
    return 0


# --- captions -------------------------------------------------------------------------------
def captions_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--limit", type=int, help="caption at most this many pictures")
    p.add_argument("--requeue", action="store_true",
                   help="queue pictures that were skipped (captions off when indexed) or failed")
    p.add_argument("--redo", action="store_true", help="also redo captions written by another model")
    p.add_argument("--duty", type=float, default=1.0,
                   help="share of the time spent working, 0.1-1 (lower pauses between pictures; default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def cmd_captions(ctx: Context) -> int:
    from imgrag_desktop.store import writer

    args = ctx.args
    if not 0.05 <= args.duty <= 1:
        raise ImgragError("--duty must be between 0.05 and 1")
    from imgrag_desktop.indexing.stages import write_captions

    svc = ctx.services
    cancel = threading.Event()
    # SIGINT/SIGTERM: finish the picture in flight, keep every caption written, exit 128+signal.
    try:
        with stop_on_signals(cancel) as got, writer(svc.store, svc.cfg.lock_file):
            data = write_captions(svc, cancel, ctx.progress_bar("captions"), limit=args.limit,
                                  requeue=args.requeue, redo=args.redo, duty=args.duty)
    except KeyboardInterrupt:
        raise ImgragError("captioning interrupted; finished captions are kept, run the command again to go on") from None
    ctx.out(data, lambda: (f"captioned {data['captioned']} pictures, {data['failed']} failed, {data['remaining']} "
                           f"still waiting ({data['seconds_per_image']} s per picture)"
                           + "".join(f"\n  {f['path']}: {f['reason']}" for f in data["failures"][:20])))
    if got:
        import signal

        print(f"imgrag: captioning stopped by {signal.Signals(got['signal']).name}; {data['captioned']} captions "
              "kept, run the command again to go on", file=sys.stderr)
        return 128 + got["signal"]
    return 0
