"""Warm CLI queries (`imgrag bench --part warm`): `imgrag search` from a terminal with no server
(cold: imports, model and vectors load for every query) against the same command answered by
a running `imgrag watch` over its socket (imgrag_desktop/warm.py). Both are real processes,
timed from process start to exit, on the same index and queries."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from imgrag_desktop.bench.common import Progress, say
from imgrag_desktop.bench.memory import child_env
from imgrag_desktop.bench.watch import jpeg
from imgrag_desktop.types import ImgragError

# argv: data dir, count, queries... -> [[round trip ms...], [server ms...]]
_ROUND_TRIPS = """
import json, sys, time
from argparse import Namespace
from imgrag_desktop import warm
from imgrag_desktop.cli import build_parser
from imgrag_desktop.cli.commands.warm import _request
data, n, queries = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
trips, server = [], []
for i in range(n):
    args = build_parser().parse_args(["--profile", "test", "--data-dir", data, "search", queries[i % len(queries)], "--json"])
    req = _request(Namespace(**vars(args)))[1]
    t = time.perf_counter()
    reply = warm.request(data, req)
    trips.append((time.perf_counter() - t) * 1e3)
    if reply is None:
        sys.exit("the watcher declined a warm query")
    server.append(float(reply.get("server_ms", 0)))
print(json.dumps([trips, server]))
"""
QUERIES = ["a dog on the beach", "receipt", "sunset over the sea", "a red car", "birthday cake"]


def _cli(data: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "imgrag_desktop.cli", "--profile", "test", "--data-dir", str(data), *args]


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if p.returncode != 0:
        raise ImgragError(f"{' '.join(cmd[3:])} failed: {p.stderr[-500:]}")
    return (time.perf_counter() - t) * 1e3, p.stdout


def bench_warm(work_dir: Path, images: int = 40, cold_runs: int = 3, warm_runs: int = 10,
               progress: Progress | None = None) -> dict[str, Any]:
    from imgrag_desktop import warm

    data, pics = work_dir / "warm-data", work_dir / "warm-pics"
    pics.mkdir(parents=True)
    for i in range(images):
        (pics / f"p{i:03d}.jpg").write_bytes(jpeg(i, 96))
    env = child_env()
    say(progress, f"warm: indexing {images} pictures (test profile)")
    _timed(_cli(data, "index", str(pics), "--quiet"), env)
    cold_env = {**env, "IMGRAG_NO_WARM": "1"}
    say(progress, "warm: cold queries")
    cold, cold_out = [], {}
    for i in range(cold_runs):
        q = QUERIES[i % len(QUERIES)]
        ms, cold_out[q] = _timed(_cli(data, "search", q, "--json"), cold_env)
        cold.append(ms)
    say(progress, "warm: starting imgrag watch")
    watcher = subprocess.Popen(_cli(data, "watch", str(pics), "--quiet", "--no-remember"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        t = time.perf_counter()
        while warm.probe(data) is None:
            if watcher.poll() is not None or time.perf_counter() - t > 300:
                raise ImgragError("imgrag watch never served warm queries")
            time.sleep(0.2)
        serving_s = time.perf_counter() - t
        while not (warm.probe(data) or {}).get("ready"):  # its warm-up (models, vectors) ends
            if watcher.poll() is not None or time.perf_counter() - t > 300:
                raise ImgragError("imgrag watch never finished warming up")
            time.sleep(0.2)
        ready_s = time.perf_counter() - t
        say(progress, "warm: warm queries")
        hot, same = [], True
        for i in range(warm_runs):
            q = QUERIES[i % len(QUERIES)]
            ms, out = _timed(_cli(data, "search", q, "--json"), env)
            hot.append(ms)
            if q in cold_out:
                same = same and out == cold_out[q]
        # What a launcher or a desktop search provider sees: the request alone, no Python start
        # (timed in a child process that has the command line loaded; the bench never imports it).
        p = subprocess.run([sys.executable, "-c", _ROUND_TRIPS, str(data), str(warm_runs), *QUERIES],
                           capture_output=True, text=True, env=env, timeout=600)
        if p.returncode != 0:
            raise ImgragError(f"timing the socket failed: {p.stderr[-500:]}")
        trips, server = json.loads(p.stdout.strip().splitlines()[-1])
    finally:
        watcher.send_signal(signal.SIGINT)
        try:
            watcher.wait(60)
        except subprocess.TimeoutExpired:
            watcher.kill()
    cold_p50, warm_p50 = statistics.median(cold), statistics.median(hot)
    return {"images": images, "cold_ms": {"p50": round(cold_p50, 1), "n": len(cold)},
            "warm_ms": {"p50": round(warm_p50, 1), "min": round(min(hot), 1), "n": len(hot)},
            "speedup": round(cold_p50 / max(warm_p50, 1e-3), 1), "same_output": same,
            "socket_round_trip_ms": {"p50": round(statistics.median(trips), 1), "min": round(min(trips), 1)},
            "server_ms": {"p50": round(statistics.median(server), 1)},
            "watch_start_to_serving_s": round(serving_s, 1), "watch_start_to_warm_s": round(ready_s, 1),
            "note": "process start to exit of `imgrag search --json`, test profile; the warm figure "
                    "includes starting Python and importing the command line (~0.5 s here)",
            "python": os.path.basename(sys.executable)}
