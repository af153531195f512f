"""`imgrag bench`: indexing speed, search latency and memory on generated data."""

from __future__ import annotations

import argparse
import sys

from imgrag_desktop.cli.context import Context
from imgrag_desktop.types import ImgragError


def bench_args(p: argparse.ArgumentParser) -> None:
    from imgrag_desktop.bench.parts import ALL, CHOICES

    p.add_argument("--part", action="append", choices=CHOICES,
                   help=f"what to measure (repeatable; default all: {', '.join(ALL)})")
    p.add_argument("--quick", action="store_true", help="a small, fast smoke run (numbers not meaningful)")
    p.add_argument("--sizes", help="search sizes in rows, comma-separated (default 10000,100000,1000000)")
    p.add_argument("--images", type=int, help="640x480 JPEGs to index (default 256; the 12 MP set and the memory run get a quarter)")
    p.add_argument("--queries", type=int, help="queries per measurement (default 200)")
    p.add_argument("--model", default=None, help="open_clip architecture, random weights (default ViT-B-32; "
                                                 "features and watch: the test profile's tiny model)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                   help="the product's CLIP precision (default auto: fp16 on CUDA, bf16 on CPUs with native bf16)")
    p.add_argument("--batch-size", type=int, help="indexing batch size (default: chosen for the device)")
    p.add_argument("--workers", type=int, help="decode workers (default: chosen for the machine)")
    p.add_argument("--work-dir", help="where to put the generated files (default: the system temp dir)")


def cmd_bench(ctx: Context) -> int:
    from imgrag_desktop.bench import format_report, run_bench

    args = ctx.args
    try:
        sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()] if args.sizes else None
    except ValueError:
        raise ImgragError(f"cannot read --sizes {args.sizes!r}: give row counts like 10000,100000") from None
    kw = {k: v for k, v in (("batch_size", args.batch_size), ("workers", args.workers)) if v}
    result = run_bench(parts=args.part or ["all"], quick=args.quick, sizes=sizes, images=args.images,
                       queries=args.queries, model=args.model, device=args.device,
                       precision=args.precision, work_dir=args.work_dir, progress=lambda m: print(f"bench: {m}", file=sys.stderr, flush=True),
                       **kw)
    ctx.out(result, lambda: format_report(result))
    return 0
