"""`imgrag search` and `imgrag similar`: hits for a text, or for an image."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from imgrag_desktop.cli.context import Context, add_filter_arguments, filter_from_args, filters_from_args, hits_text
from imgrag_desktop.search.modes import MODE_NAMES, modes_help
from imgrag_desktop.search.query import read_terms
from imgrag_desktop.types import ImgragError


def add_result_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("results")
    g.add_argument("--min-score", default="auto", metavar="X|auto|off",
                   help="hide hits scoring below X; 'auto' (default): the model's calibrated cut-off, "
                        "or Settings.min_score; 'off': show the k best whatever their score")
    g.add_argument("--no-collapse", action="store_true", help="list near-duplicates separately instead of "
                                                              "folding them into one hit (group_size)")


def _image_arg(raw: str | None) -> str | None:
    if raw is None:
        return None
    path = os.path.abspath(os.path.expanduser(raw))
    if not os.path.isfile(path):
        raise ImgragError(f"no such image: {path}")
    return path


def _hits_out(ctx: Context, hits: list[Any], understood: dict[str, Any] | None = None) -> None:
    def human() -> str:
        if not hits:
            if str(getattr(ctx.args, "min_score", "off")).lower() in ("off", "none", "all"):
                return "no results"
            return "no good matches (lower --min-score, or --min-score off, to see weaker ones)"
        text = hits_text(hits)
        extra = [f"     {h.path}: {h.group_size} near-identical copies" for h in hits if h.group_size > 1]
        extra += [f"     {h.path}: matched region {[int(v) for v in h.region]}" for h in hits if h.region]
        return "\n".join([text, *extra])

    listed = [h.to_json() for h in hits]
    ctx.out(listed if understood is None else {"hits": listed, "understood": understood}, human)


def _say_reading(text: str | None, image: bool = False) -> None:
    """How the query's operators were read, one line on stderr (nothing for plain text, nor
    for a query the search refuses: its one-line reason says enough)."""
    q = read_terms(text)
    reading = q.reading()
    if reading and (image or q.positives):
        print(f"imgrag: {reading}", file=sys.stderr)


def read_query(ctx: Context, text: str, where: str | None, question: bool = False) -> tuple[Any, str | None]:
    """The query read by search/understand (people's names become person filters), its chips on
    stderr, and the where-clause with the filters it read on top of the option filters."""
    import sys

    from imgrag_desktop.search.filters import and_where
    from imgrag_desktop.search.understand import understand

    reading = understand(text, context=ctx.services.read_context())
    chips = [c for c in reading.chips if c.kind != "operator"]  # operators: their own line (_say_reading)
    if chips:
        print("imgrag: understood: " + ", ".join(c.label for c in chips)
              + (f"; searching for {reading.text!r}" if reading.text and not question else ""), file=sys.stderr)
    return reading, and_where(where, reading.filters.where())


def search_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", metavar="TEXT", help="what to look for: any text; \"-word\" avoids a word, \"word:2\" weighs "
                                                "it, \"quotes\" make a literal phrase (how it was read goes to stderr)")
    p.add_argument("-k", "--limit", type=int, default=10, help="number of results (default 10)")
    p.add_argument("--like", metavar="IMAGE", help="combine the text with an image (\"like this, but …\")")
    p.add_argument("--mode", choices=MODE_NAMES, default=None, help=modes_help())
    g = p.add_argument_group("hybrid weights (default: the weights in settings, 1 each)")
    for m in ("visual", "textual", "keyword"):
        g.add_argument(f"--weight-{m}", type=float, default=None, metavar="W", help=f"weight of the {m} list, 0 or more")
    add_filter_arguments(p)
    add_result_arguments(p)
    u = p.add_argument_group("understanding (dates, places, kinds read from the text)")
    u.add_argument("--explain", action="store_true", help="print what the query was read as, and do not search")
    u.add_argument("--literal", action="store_true", help="read nothing from the text: search for all its words")
    u.add_argument("--sort", choices=("score", "date"), default="score",
                   help="order of the hits: by score (default) or newest first")


def cmd_search(ctx: Context) -> int:
    from imgrag_desktop.search.understand import understand
    from imgrag_desktop.search.understood import search_reading

    args = ctx.args
    svc = ctx.services
    s = svc.cfg.settings
    weights = {m: (getattr(args, f"weight_{m}") if getattr(args, f"weight_{m}") is not None else getattr(s, f"weight_{m}"))
               for m in ("visual", "textual", "keyword")}
    base = filters_from_args(args)
    reading = understand(args.text, base, svc.read_context(),
                         readers=() if args.literal else None)
    understood = reading.as_json()
    if args.explain:
        ctx.out({"query": args.text, "understood": understood}, reading.explain)
        return 0
    chips = [c for c in reading.chips if c.kind != "operator"]  # operators: their own line (_say_reading)
    if chips:  # on stderr with --json too: stdout stays machine-readable
        print("imgrag: understood " + " · ".join(c.label for c in chips)
              + (f" · text: {reading.text!r}" if reading.text else " · nothing else: listed by date"), file=sys.stderr)
    if not reading.only_filters:
        _say_reading(reading.text or args.text, image=args.like is not None)
    hits = search_reading(svc.searcher, reading, args.limit, sort=args.sort,
                          mode=args.mode or s.search_mode or "hybrid", weights=weights,
                          like=_image_arg(args.like), min_score=args.min_score, collapse=not args.no_collapse)
    _hits_out(ctx, hits, understood)
    return 0


def similar_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", metavar="IMAGE", help="an image file (indexed or not)")
    p.add_argument("-k", "--limit", type=int, default=10, help="number of results (default 10)")
    p.add_argument("--text", help="steer the look-alikes with words (\"at night\", \"-people\")")
    add_filter_arguments(p)
    add_result_arguments(p)


def cmd_similar(ctx: Context) -> int:
    args = ctx.args
    path = _image_arg(args.image)
    _say_reading(args.text, image=True)
    hits = ctx.services.searcher.similar(path, k=args.limit, where=filter_from_args(args), text=args.text,
                                         min_score=args.min_score, collapse=not args.no_collapse)
    _hits_out(ctx, hits)
    return 0
