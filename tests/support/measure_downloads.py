"""Measure the download core over loopback: throughput against a plain copy, and peak memory.

    python -m tests.support.measure_downloads [--gb 1] [--dir /tmp/x]

Serves a generated file (sparse, so the source costs no disk) from tests/support/hub_server.py,
downloads it with the product's HubDownloader in a child process (its peak RSS is that
process's ru_maxrss), and copies the same bytes with a 1 MiB read/write loop for the ratio.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.hub_server import LoopbackHub

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from imgrag_desktop.models.downloads import HubDownloader, RemoteFile
import huggingface_hub, httpx2  # the imports, before the baseline
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
phases = {}
def progress(e):
    phases.setdefault(e.phase, time.perf_counter())
HubDownloader(endpoint=sys.argv[1]).fetch_to(RemoteFile("bench/big", "big.bin"), Path(sys.argv[2]), progress=progress)
t1 = time.perf_counter()
print(json.dumps({"seconds": t1 - t0, "transfer_s": phases.get("verify", t1) - t0, "verify_s": t1 - phases.get("verify", t1),
                  "rss_base_kb": base, "rss_peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def plain_copy(src: Path, dst: Path) -> float:
    t0 = time.perf_counter()
    with src.open("rb") as a, dst.open("wb") as b:
        while block := a.read(1 << 20):
            b.write(block)
        b.flush()
        os.fsync(b.fileno())
    return time.perf_counter() - t0


def first_visual(photos: Path, work: Path, ckpt: Path) -> dict[str, float]:
    """Seconds from "Download" to the first visual hit, for a folder indexed before CLIP was
    there (default profile, the tiny CLIP served as `hf-hub:imgrag/imgrag-tiny`)."""
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.models import catalogue
    from imgrag_desktop.models.downloads import HubDownloader
    from imgrag_desktop.services import Services

    cfg = AppConfig.load(work / "data", "default")
    cfg.settings.clip_model, cfg.settings.clip_pretrained = "imgrag-tiny", "hf-hub:imgrag/imgrag-tiny"
    cfg.save()
    svc = Services(cfg)
    svc.indexer().index_paths([str(photos)])  # text pass, no CLIP yet
    with LoopbackHub() as hub:
        hub.add("imgrag/imgrag-tiny", ckpt, "open_clip_pytorch_model.bin")
        t0 = time.perf_counter()
        catalogue.install(cfg, "imgrag-tiny/hf-hub:imgrag/imgrag-tiny", downloader=HubDownloader(endpoint=hub.endpoint))
        t1 = time.perf_counter()
    svc.indexer().index_paths([str(photos)])  # the visual stage fills the vectors
    t2 = time.perf_counter()
    hits = svc.searcher.search("a picture", k=3, mode="visual", min_score=None)
    t3 = time.perf_counter()
    return {"images": svc.store.count(), "download_s": round(t1 - t0, 2), "fill_s": round(t2 - t1, 2),
            "first_visual_hit_s": round(t3 - t0, 2), "hits": len(hits)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--first-visual", metavar="PHOTOS", help="measure Download → first visual hit on this folder")
    args = ap.parse_args()
    if args.first_visual:
        from imgrag_desktop.models.clip import write_tiny_checkpoint

        work = Path(tempfile.mkdtemp(prefix="imgrag-fv-", dir=args.dir))
        try:
            ckpt = write_tiny_checkpoint(work / "tiny.pt")
            print(json.dumps(first_visual(Path(args.first_visual), work, ckpt)))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return
    work = Path(tempfile.mkdtemp(prefix="imgrag-dl-", dir=args.dir))
    try:
        size = int(args.gb * (1 << 30))
        src = work / "big.bin"
        with src.open("wb") as fh:  # a sparse file: the hub reads zeros, no disk used
            fh.truncate(size)
        copy_s = plain_copy(src, work / "copy.bin")
        (work / "copy.bin").unlink()
        with LoopbackHub() as hub:
            hub.add("bench/big", src)
            hub.state.checksum(src)  # the server's own SHA-256, outside the timing
            env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
            out = subprocess.run([sys.executable, "-c", CHILD, hub.endpoint, str(work / "out.bin")],
                                 capture_output=True, text=True, env=env, check=True)
        child = json.loads(out.stdout)
        mb = size / 1e6
        print(json.dumps({
            "bytes": size, "copy_s": round(copy_s, 2), "copy_mb_s": round(mb / copy_s),
            "download_s": round(child["seconds"], 2), "transfer_mb_s": round(mb / child["transfer_s"]),
            "verify_s": round(child["verify_s"], 2),
            "download_vs_copy": round(child["transfer_s"] / copy_s, 2),
            "rss_base_mb": round(child["rss_base_kb"] / 1024), "rss_peak_mb": round(child["rss_peak_kb"] / 1024),
            "self_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
