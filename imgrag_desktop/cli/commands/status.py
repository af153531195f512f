"""`imgrag status`: what is indexed, what waits for a later stage, and what was skipped."""

from __future__ import annotations

import argparse

from imgrag_desktop.cli.context import Context, printable


def status_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--failures", action="store_true", help="list every skipped file with its reason")


def cmd_status(ctx: Context) -> int:
    from imgrag_desktop.library import library_stats

    data = library_stats(ctx.services, failures=ctx.args.failures)
    n = data["images"]

    def human() -> str:
        lines = [f"{n} images indexed, {data['failed']} files skipped (data dir {data['data_dir']})"]
        for k in ("kinds", "media", "clip_models"):
            if k in data:
                lines.append(f"{k}: " + ", ".join(f"{a}={b}" for a, b in data[k].items()))
        if "ocr_pending" in data:
            lines.append(f"text still to read: OCR {data['ocr_pending']}, captions {data['caption_pending']}; "
                         f"text vectors {data['text_vectors']}")
        if data.get("visual_pending"):
            lines.append(f"visual vectors still to make: {data['visual_pending']} (waiting for the CLIP model: "
                         "`imgrag models list`, then the next `imgrag index` fills them)")
        if data.get("visual_model_next"):
            lines.append(f"switching CLIP models: searches use {data['visual_model']} until "
                         f"{data['reembed_remaining']} more picture(s) have vectors of {data['visual_model_next']} "
                         "(the next `imgrag index` or `imgrag watch` makes them in the background)")
        if "tiles" in data:
            cut = data.get("cutoff") or {}
            lines.append(f"tiles of large images: {data['tiles']}; relevance cut-off: text {cut.get('text')}, "
                         f"image {cut.get('image')} ({cut.get('source', 'not calibrated')})")
        if data.get("skipped_types"):
            lines.append("not pictures or videos (left out): " + ", ".join(f"{a}={b}" for a, b in data["skipped_types"].items()))
        if data.get("failed_types"):
            lines.append("skipped by type: " + ", ".join(f"{a}={b}" for a, b in data["failed_types"].items()))
        lines.append("folders: " + (", ".join(data["folders"]) or "none"))
        for f in data.get("failures", []):
            lines.append(f"  {printable(f['path'])}: {f['reason']}")
        return "\n".join(lines)

    ctx.out(data, human)
    return 0
