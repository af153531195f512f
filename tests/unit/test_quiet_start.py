"""quiet_start: the engine's native libraries load without holding the GIL, and imports run
without a garbage collection (what the window's start-up stalls were made of, issue 19)."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys

from imgrag_desktop.quiet_start import NATIVE, native_files, quiet_gc
from tests.support.data import REPO

# In a fresh interpreter: a thread beating every 5 ms while torch's and LanceDB's native
# libraries are preloaded; torch itself is not imported. Without the GIL released, the beat
# waits for the whole dlopen of torch._C (libtorch_cpu + libtorch_cuda and their CUDA
# libraries: 0.5-1 s here).
PROBE = r"""
import json, sys, threading, time
from imgrag_desktop.quiet_start import preload_native
gaps, done = [], threading.Event()
def beat():
    last = time.perf_counter()
    while not done.is_set():
        time.sleep(0.005)
        now = time.perf_counter(); gaps.append(now - last); last = now
t = threading.Thread(target=beat); t.start()
time.sleep(0.05)
t0 = time.perf_counter()
loaded = preload_native()
seconds = time.perf_counter() - t0
done.set(); t.join()
maps = open("/proc/self/maps").read()
print(json.dumps({"loaded": [(x.path, x.ok, x.seconds) for x in loaded], "seconds": seconds,
                  "max_gap": max(gaps), "torch_imported": "torch" in sys.modules,
                  "libtorch_cpu_mapped": "libtorch_cpu.so" in maps}))
"""


def test_native_libraries_load_while_another_thread_keeps_running() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    ok = {path for path, loaded, _ in r["loaded"] if loaded}
    assert any(f"{os.sep}torch{os.sep}_C." in path for path in ok), r["loaded"]
    assert any(f"{os.sep}lancedb{os.sep}_lancedb" in path for path in ok), r["loaded"]
    assert r["libtorch_cpu_mapped"] and not r["torch_imported"]
    # The loads took real time, and the other thread ran all through them.
    assert r["seconds"] > 0.05, r
    assert r["max_gap"] < min(0.4, r["seconds"] * 0.8), r


def test_native_files_skip_imported_packages_and_missing_ones() -> None:
    assert "json" in sys.modules
    items = (("json", "*.py", False), ("no_such_package_here", "x{ext}", False))
    assert native_files(items) == []
    files = native_files(NATIVE)
    assert all(os.path.isfile(path) for path, _ in files)
    assert not any(pkg in sys.modules and f"/{pkg}/" in path for pkg, _, _ in NATIVE for path, _ in files)


def test_quiet_gc_collects_nothing_inside_and_freezes_what_was_made() -> None:
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    made: list[object] = []
    try:
        with quiet_gc():
            assert not gc.isenabled()
            before = gc.get_stats()[0]["collections"]
            for _ in range(20_000):  # far past gen 0's threshold of 700
                a: list[object] = []
                a.append(a)
                made.append(a)
            assert gc.get_stats()[0]["collections"] == before
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen + len(made)
    finally:
        gc.unfreeze()
    frozen = gc.get_freeze_count()
    with quiet_gc(freeze=False):
        kept: list[object] = []
        kept.append(kept)
        assert not gc.isenabled()
    assert gc.isenabled() and gc.get_freeze_count() == frozen
    gc.disable()
    try:
        with quiet_gc():
            pass
        assert not gc.isenabled()  # a disabled collector stays disabled
    finally:
        gc.enable()
        gc.unfreeze()
