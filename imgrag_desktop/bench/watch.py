"""Folder watcher benchmark: latency from a file's last write to searchable, idle CPU of a
watching process, and a 100,000-file tree (`imgrag bench --part watch`).

"Searchable" means committed to LanceDB: the watcher reports a file after its row is written,
and the benchmark checks, for a sample, that a separate reader sees the row at that moment.
Timings on a shared machine are noisy; the 100k-file scan is given as a ratio to a bare
`os.walk` of the same tree measured in the same run.
"""

from __future__ import annotations

import io
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from imgrag_desktop.bench.common import Progress, say
from imgrag_desktop.bench.memory import child_env
from imgrag_desktop.config import AppConfig
from imgrag_desktop.indexing import scanner
from imgrag_desktop.indexing.pipeline import Indexer
from imgrag_desktop.indexing.watch.service import WatchService
from imgrag_desktop.models.clip import ClipEncoder
from imgrag_desktop.services import Services
from imgrag_desktop.store import Store
from imgrag_desktop.types import ImgragError


def jpeg(seed: int, size: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(q / 100 * (len(xs) - 1)))))]


def make_service(base: Path, model: str, settle: float, **kw) -> tuple[WatchService, Services]:
    cfg = AppConfig.load(base / "data", "test")
    svc = Services(cfg)
    if model != "tiny":  # the real architecture with random weights costs what the trained one does
        enc = ClipEncoder(model, "", "", device="cpu")
        indexer = Indexer(cfg, svc.store, enc)
        return WatchService(indexer, svc.store, settle_s=settle, **kw), svc
    return WatchService.from_services(svc, settle_s=settle, **kw), svc


def latency(base: Path, n: int, model: str, mode: str, settle: float, interval: float, batch_max: int = 0) -> dict:
    root = base / "photos"
    root.mkdir(parents=True)
    payloads = [jpeg(10_000 + i, 320) for i in range(n)]
    w, svc = make_service(base, model, settle, **({"batch_max": batch_max} if batch_max else {}))
    written: dict[str, float] = {}
    searchable: dict[str, float] = {}
    reader = Store(svc.cfg.db_dir)
    checked = {"ok": 0, "missing": 0}

    def on_event(ev) -> None:
        if ev.action in ("added", "updated"):
            searchable[ev.path] = ev.at
            if len(searchable) % 10 == 1:  # a separate reader sees the row already
                reader.refresh()
                checked["ok" if reader.rows([ev.path]) else "missing"] += 1

    w.add_listener(on_event)
    w.start([str(root)])
    w.wait_idle(120)
    # Warm the model outside the measurement (the first file also pays for loading it).
    warm = root / "warm.jpg"
    warm.write_bytes(jpeg(1, 320))
    deadline = time.monotonic() + 300
    while str(warm) not in searchable and time.monotonic() < deadline:
        time.sleep(0.05)
    t_start = time.time()
    for i, data in enumerate(payloads):
        p = root / f"shot_{i:04d}.jpg"
        with open(p, "wb") as fh:
            fh.write(data)
        written[str(p)] = time.time()  # the file's last write (closed)
        if mode == "trickle":
            time.sleep(interval)
    deadline = time.monotonic() + 600
    while len([p for p in written if p in searchable]) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    w.stop()
    lat = [searchable[p] - written[p] for p in written if p in searchable]
    return {
        "mode": mode, "model": model, "files": n, "settle_s": settle, "batch_max": w.batch_max,
        "interval_s": interval if mode == "trickle" else 0.0,
        "indexed": len(lat), "p50_s": round(pct(lat, 50), 3), "p95_s": round(pct(lat, 95), 3),
        "max_s": round(max(lat), 3), "mean_s": round(statistics.mean(lat), 3),
        "wall_s": round(time.time() - t_start, 1), "reader_saw_row": checked,
    }


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime of all threads


def idle_cpu(base: Path, seconds: float, images: int) -> dict:
    root = base / "photos"
    root.mkdir(parents=True)
    for i in range(images):
        (root / f"i{i}.jpg").write_bytes(jpeg(i, 64))
    cmd = [sys.executable, "-m", "imgrag_desktop.bench.child", "watch", "--profile", "test",
           "--data-dir", str(base / "data"), str(root)]
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=child_env())
    assert p.stderr is not None
    for line in p.stderr:
        if line.rstrip().endswith(": watching"):
            break
    else:
        p.wait(60)
        raise ImgragError(f"the watching process exited ({p.returncode}) before it was watching")
    time.sleep(3)  # let start-up work (imports, the reconciliation) finish
    hz = os.sysconf("SC_CLK_TCK")
    t0, c0 = time.monotonic(), cpu_ticks(p.pid)
    time.sleep(seconds)
    t1, c1 = time.monotonic(), cpu_ticks(p.pid)
    threads = len(os.listdir(f"/proc/{p.pid}/task"))
    rss_kib = int([x for x in Path(f"/proc/{p.pid}/status").read_text().splitlines() if x.startswith("VmRSS")][0].split()[1])
    p.terminate()
    rc = p.wait(60)
    cpu_s = (c1 - c0) / hz
    return {"seconds": round(t1 - t0, 1), "cpu_s": round(cpu_s, 3), "cpu_percent": round(100 * cpu_s / (t1 - t0), 3),
            "threads": threads, "rss_mib": round(rss_kib / 1024), "indexed_images": images, "exit_code_on_sigterm": rc}


def big_tree(base: Path, total: int, images: int) -> dict:
    root = base / "big"
    per_dir = 100
    dirs = total // per_dir
    t0 = time.monotonic()
    for d in range(dirs):
        sub = root / f"{d // 100:03d}" / f"{d:05d}"
        sub.mkdir(parents=True)
        for i in range(per_dir):
            (sub / f"f{i}.txt").touch()
    for i in range(images):
        (root / f"{i % (dirs // 100 or 1):03d}" / f"img{i}.jpg").write_bytes(jpeg(i, 64))
    made = time.monotonic() - t0
    t0 = time.monotonic()
    walked = sum(len(f) for _, _, f in os.walk(root))
    t_walk = time.monotonic() - t0
    t0 = time.monotonic()
    res = scanner.scan([root])
    t_scan = time.monotonic() - t0
    w, svc = make_service(base, "tiny", 1.0)
    svc.clip.load()  # model loading is not the watcher's cost
    attached: dict[str, float] = {}

    def on_event(ev: Any) -> None:
        if ev.action == "state":
            attached.setdefault(ev.detail, time.monotonic())

    w.add_listener(on_event)
    t0 = time.monotonic()
    w.start([str(root)])
    w.wait_idle(600)
    t_start = time.monotonic() - t0
    t_attach = attached.get("scanning", t0) - t0
    rows_after_start = svc.store.count()
    # A rescan with nothing changed (what the periodic reconciliation costs).
    t0 = time.monotonic()
    svc.indexer().index_paths([str(root)])
    t_rescan = time.monotonic() - t0
    late = root / "000" / "00000" / "late.jpg"
    t0 = time.time()
    late.write_bytes(jpeg(999_999, 64))
    deadline = time.monotonic() + 60
    while not svc.store.rows([str(late)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    t_late = time.time() - t0
    w.stop()
    return {"files": walked, "folders": dirs + dirs // 100 + 1, "images": len(res.files), "create_s": round(made, 1),
            "os_walk_s": round(t_walk, 2), "scanner_s": round(t_scan, 2), "scan_vs_walk": round(t_scan / t_walk, 2),
            "observer_attach_s": round(t_attach, 2), "watch_start_to_idle_s": round(t_start, 2), "rows": rows_after_start,
            "unchanged_rescan_s": round(t_rescan, 2), "new_file_latency_s": round(t_late, 2)}


def bench_watch(work_dir: Path, files: int = 200, interval: float = 0.25, settle: float = 1.0,
                model: str = "tiny", big: int = 100_000, big_images: int = 100, idle: float = 30.0,
                idle_images: int = 200, batch_max: tuple[int, ...] = (0,), progress: Progress | None = None) -> dict[str, Any]:
    """Files arriving one at a time ("trickle") and all at once ("burst", for each watcher
    batch size; 0: the default), then the idle process, then the large tree; 0 skips a run."""
    out: dict[str, Any] = {}
    base = work_dir / "watch"
    base.mkdir()
    try:
        if files > 0:
            for mode, b in [("trickle", 0)] + [("burst", b) for b in batch_max]:
                say(progress, f"watch: {files} files, {mode}" + (f", batches of {b}" if b else ""))
                d = base / f"lat-{mode}-{b}"
                d.mkdir()
                out[f"latency_{mode}" + (f"_batch{b}" if b else "")] = latency(d, files, model, mode, settle, interval, b)
                shutil.rmtree(d, ignore_errors=True)
        if idle > 0:
            say(progress, f"watch: idle CPU of a watching process for {idle:.0f} s")
            d = base / "idle"
            d.mkdir()
            out["idle"] = idle_cpu(d, idle, idle_images)
        if big > 0:
            say(progress, f"watch: a tree of {big:,} files")
            d = base / "bigtree"
            d.mkdir()
            out["big_tree"] = big_tree(d, big, big_images)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return out
