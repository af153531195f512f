"""`imgrag doctor`: is everything the app needs installed and working."""

from __future__ import annotations

import argparse
import sys

from imgrag_desktop.cli.context import Context


def doctor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--download", action="store_true",
                   help="download the configured CLIP model's weights (needs a network connection)")


def cmd_doctor(ctx: Context) -> int:
    from imgrag_desktop.doctor import run_checks

    cfg = ctx.services.cfg
    if ctx.args.download:
        name, pretrained, ckpt = cfg.clip_spec()
        if ckpt:
            print(f"imgrag: nothing to download: CLIP comes from the local checkpoint {ckpt}", file=sys.stderr)
        else:
            from imgrag_desktop.cli.commands.models import download_bar
            from imgrag_desktop.models.catalogue import hub_cache
            from imgrag_desktop.models.clip import download_weights

            print(f"downloading {name}/{pretrained}…", file=sys.stderr)
            bar = download_bar()
            try:
                saved = download_weights(name, pretrained, hub_cache(cfg), progress=bar)
            finally:
                bar(None)
            print(f"saved {saved}", file=sys.stderr)
    checks = run_checks(cfg)
    problems = [c for c in checks if not c["ok"] and c.get("required")]

    def human() -> str:
        out = []
        for c in checks:
            mark = "ok  " if c["ok"] else ("FAIL" if c.get("required") else "warn")
            out.append(f"[{mark}] {c['name']}: {c['detail']}")
        return "\n".join(out)

    ctx.out({"ok": not problems, "checks": checks}, human)
    return 1 if problems else 0
