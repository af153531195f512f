"""`imgrag models list|download|check|use`: CLIP models and vision-language models alike.

The work is in `models/catalogue.py` (the list, installing, selecting) and
`models/downloads.py` (resumable, verified transfers); this only parses and prints. Progress
goes to stderr as a bar with bytes, rate and time left; Ctrl-C pauses (the next download
resumes from the partial file).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from typing import Any, Callable

from imgrag_desktop.cli.context import Context, common_options
from imgrag_desktop.types import ImgragError

REEMBED_NOTE = ("the next `imgrag index` or `imgrag watch` re-embeds the pictures in the background; "
                "searches use the previous model until every picture has the new one")


def models_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="models_action", metavar="ACTION")
    ls = common_options(sub.add_parser("list", help="the CLIP and vision-language models, their sizes, and which are "
                                                    "installed (--json: a list of objects with name, kind, installed)"))
    ls.add_argument("--kind", choices=["clip", "vlm"], help="only models of this kind")
    d = common_options(sub.add_parser("download", help="download a model into the data dir (resumable, verified)"))
    d.add_argument("name", metavar="NAME", help="a name from `imgrag models list`")
    d.add_argument("--use", action="store_true", help="also make it the model in use")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    u = common_options(sub.add_parser("use", help="use a downloaded model, or local files (a .gguf, a CLIP checkpoint)"))
    u.add_argument("name", metavar="NAME_OR_FILE",
                   help="a name from the list, a language-model .gguf file, or a CLIP checkpoint (.pt, .bin, .safetensors)")
    u.add_argument("--mmproj", help="the vision projector .gguf that belongs to the model file")
    u.add_argument("--handler", choices=["auto", "llava15", "llava16", "mtmd", "qwen25vl", "text"], default=None,
                   help="chat handler (default: auto, from the files)")
    u.add_argument("--clip-model", help="the open_clip architecture of a CLIP checkpoint file (default: the "
                   "clip_model setting when the file fits it, else the architecture the file's shapes name)")
    c = common_options(sub.add_parser("check", help="load a model and run it once (default: the VLM in use)"))
    c.add_argument("name", nargs="?", metavar="NAME", help="`clip` for the CLIP in use, or a model name")


def cmd_models(ctx: Context) -> int:
    from imgrag_desktop.models import catalogue

    action = getattr(ctx.args, "models_action", None) or "list"
    cfg = ctx.services.cfg
    if action == "list":
        rows = catalogue.rows(cfg, getattr(ctx.args, "kind", None) or "")
        ctx.out(rows, lambda: _table(rows, cfg))
        return 0
    if action == "download":
        kind, item = catalogue.find(ctx.args.name)
        bar = download_bar(quiet=ctx.args.quiet)
        cancel = threading.Event()
        try:
            files = catalogue.install(cfg, ctx.args.name, progress=bar, cancel=cancel)
        except KeyboardInterrupt:
            cancel.set()
            raise ImgragError(f"download of {item.name} paused; run the command again to resume") from None
        finally:
            bar(None)
        if ctx.args.use:
            catalogue.use(cfg, ctx.args.name)
        ctx.out({"name": item.name, "kind": kind, "files": [str(f) for f in files], "in_use": bool(ctx.args.use)},
                f"{item.name} is ready ({', '.join(str(f) for f in files)})"
                + (" and in use" if ctx.args.use else f"; use it with `imgrag models use {item.name}`"))
        return 0
    if action == "use":
        return _use(ctx)
    if action == "check":
        name = getattr(ctx.args, "name", None)
        if name and (name == "clip" or catalogue.find(name)[0] == "clip"):
            return _check_clip(ctx, name)
        from imgrag_desktop.cli.commands.vlm import check_vlm

        return check_vlm(ctx)
    raise ImgragError(f"unknown models action {action!r}: use list, download, use or check")


def _table(rows: list[dict[str, Any]], cfg: Any) -> str:
    out = [f"{'name':14} {'kind':4} {'size':>8}  {'state':12} description"]
    for r in rows:
        if r["in_use"]:
            state = "in use" if r["installed"] else "in use, missing"
        elif r["installed"]:
            state = "installed"
        elif r.get("partial_bytes"):
            state = f"partial {r['partial_bytes'] >> 20} MB"
        else:
            state = "-"
        extra = ""
        if r["kind"] == "clip" and r.get("coco_image_r5"):
            extra = f"; COCO R@5 {r['coco_image_r5']}%, {r['speed']}, {r['languages']}"
        out.append(f"{r['name']:14} {r['kind']:4} {r['size_mb']:>6} MB  {state:12} {r['title']}: {r['notes']}{extra}")
    s = cfg.settings
    if s.clip_checkpoint:
        out.append(f"CLIP in use: local checkpoint {s.clip_checkpoint} ({s.clip_model})")
    if s.vlm_model and not any(r["in_use"] for r in rows if r["kind"] == "vlm"):
        out.append(f"VLM in use: local files {s.vlm_model} {s.vlm_mmproj}".rstrip())
    out.append("download with `imgrag models download NAME --use`")
    return "\n".join(out)


def _use(ctx: Context) -> int:
    from imgrag_desktop.models import catalogue

    cfg = ctx.services.cfg
    args = ctx.args
    name = args.name
    if os.path.isfile(os.path.expanduser(name)) and not name.endswith(".gguf"):
        path = os.path.abspath(os.path.expanduser(name))
        catalogue.use_local_file(cfg, path, args.clip_model)  # a file that does not fit is refused here
        s = cfg.settings
        ctx.out({"kind": "clip", "clip_model": s.clip_model, "clip_checkpoint": path},
                f"CLIP now uses {path} ({s.clip_model}); {REEMBED_NOTE}")
        return 0
    if name.endswith(".gguf"):
        from imgrag_desktop.cli.commands.vlm import use_vlm_files

        return use_vlm_files(ctx)
    kind = catalogue.use(cfg, name)
    s = cfg.settings
    data = ({"kind": kind, "clip_model": s.clip_model, "clip_pretrained": s.clip_pretrained} if kind == "clip"
            else {"kind": kind, "vlm_model": s.vlm_model, "vlm_mmproj": ""})
    ctx.out(data, f"now using {name}" + (f"; {REEMBED_NOTE}" if kind == "clip" else ""))
    return 0


def _check_clip(ctx: Context, name: str) -> int:
    import time

    import numpy as np

    from imgrag_desktop.models import catalogue
    from imgrag_desktop.models.clip import ClipEncoder, encoder_from_config, hub_caches

    cfg = ctx.services.cfg
    if name == "clip":
        enc = encoder_from_config(cfg)
    else:
        c = catalogue.find(name)[1]
        enc = ClipEncoder(c.model, c.pretrained, device=cfg.settings.device, precision=cfg.settings.precision,
                          cache_dirs=hub_caches(cfg))
    t0 = time.perf_counter()
    enc.load()
    load_s = time.perf_counter() - t0
    from PIL import Image

    img = enc.encode_images([Image.new("RGB", (64, 64), (40, 90, 200))])
    txt = enc.encode_texts(["a blue square"])
    ok = bool(np.isfinite(img).all() and np.isfinite(txt).all())
    data = {"kind": "clip", "model": enc.model_id, "dim": int(img.shape[1]), "device": enc.device,
            "load_s": round(load_s, 3), "ok": ok, "similarity": round(float(img[0] @ txt[0]), 4)}
    enc.unload()
    ctx.out(data, lambda: f"{data['model']} loaded in {data['load_s']} s on {data['device']}: {data['dim']}-d vectors, "
                          + ("finite" if ok else "NOT finite"))
    return 0 if ok else 1


def download_bar(quiet: bool = False) -> Callable[[Any], None]:
    """A tqdm bar on stderr per file fed by DownloadEvents (bytes, rate, time left); `bar(None)` closes it."""
    from tqdm import tqdm

    state: dict[str, Any] = {}

    def update(e: Any) -> None:
        bar = state.get("bar")
        if e is None or (bar is not None and state.get("name") != e.name):
            if bar is not None:
                bar.close()
            state.clear()
            if e is None:
                return
        if quiet:
            return
        if "bar" not in state:
            state["name"] = e.name
            state["bar"] = tqdm(total=e.total or None, desc=str(e.name), unit="B", unit_scale=True, unit_divisor=1024,
                                file=sys.stderr, mininterval=0.5, dynamic_ncols=True, initial=e.done)
        b = state["bar"]
        if e.total and b.total != e.total:
            b.total = e.total
        if e.phase == "verify":
            b.set_postfix_str("verifying", refresh=False)
        b.update(e.done - b.n)

    return update
