"""quiet_start: the engine's native libraries load without holding the GIL, and imports run
without a garbage collection (what the window's start-up stalls were made of, issue 19)."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys

import pytest

from imgrag_desktop.quiet_start import NATIVE, ONNX_MODULES, defer_init, native_files, natives_for, quiet_gc
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


def test_only_the_native_libraries_of_the_imported_modules_are_preloaded(monkeypatch: pytest.MonkeyPatch) -> None:
    def packages(modules: tuple[str, ...]) -> set[str]:
        return {pkg for pkg, _, _ in natives_for(modules)}

    assert packages(("lancedb",)) == {"pyarrow", "lancedb"}
    assert packages(ONNX_MODULES) == {"onnxruntime", "tokenizers", "_pillow_heif"}
    assert {"torch", "triton", "torchvision"} <= packages(("lancedb", "open_clip"))
    assert packages(("json", "no_such_module")) == set()
    # A top-level extension module (not a package) is found by its own file (native_files
    # skips one already imported, as an earlier test in this process may have done).
    monkeypatch.delitem(sys.modules, "_pillow_heif", raising=False)
    assert any(os.path.basename(path).startswith("_pillow_heif.") for path, _ in
               native_files(natives_for(("imgrag_desktop.imaging",))))


# The window's engine start when ONNX exports serve the queries: the store's and onnxruntime's
# modules imported the quiet way, then a LanceDB table written and searched.
ONNX_START = r"""
import json, sys
from imgrag_desktop.quiet_start import ONNX_MODULES, import_engine
import_engine(("lancedb", *ONNX_MODULES))
deferred = "lance_namespace_urllib3_client.api" not in sys.modules
import lancedb, pyarrow as pa
db = lancedb.connect(sys.argv[1])
vectors = pa.array([[0.0, 1.0], [1.0, 0.0], [0.6, 0.8]], pa.list_(pa.float32(), 2))
t = db.create_table("t", pa.table({"id": [1, 2, 3], "v": vectors}))
hit = t.search([0.0, 1.0], vector_column_name="v").limit(1).to_list()[0]["id"]
from lance_namespace_urllib3_client import ApiClient  # the deferred __init__ runs when asked for
maps = open("/proc/self/maps").read()
print(json.dumps({"deferred": deferred, "hit": hit, "rows": db.open_table("t").count_rows(),
                  "api_client": ApiClient.__name__, "torch_imported": "torch" in sys.modules,
                  "libtorch_mapped": "libtorch" in maps, "ort_mapped": "onnxruntime_pybind11_state" in maps}))
"""


def test_the_onnx_engine_start_maps_nothing_of_torch_and_lancedb_still_works(tmp_path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", ONNX_START, str(tmp_path / "db")], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["ort_mapped"] and not r["torch_imported"] and not r["libtorch_mapped"], r
    # lancedb's REST client waited until asked for, and the local table did not need it.
    assert r["deferred"] and (r["hit"], r["rows"], r["api_client"]) == (1, 3, "ApiClient"), r


def test_a_deferred_init_runs_when_one_of_its_names_is_asked_for(tmp_path, monkeypatch) -> None:
    pkg = tmp_path / "deferred_pkg_for_test"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import sys\nsys.deferred_runs = getattr(sys, 'deferred_runs', 0) + 1\n"
                                     "from .part import VALUE\nTOP = 'top'\n")
    (pkg / "part.py").write_text("VALUE = 7\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delattr(sys, "deferred_runs", raising=False)
    try:
        assert defer_init("deferred_pkg_for_test")
        assert not defer_init("deferred_pkg_for_test")  # there already
        from deferred_pkg_for_test.part import VALUE  # type: ignore[import-not-found]

        assert VALUE == 7 and not hasattr(sys, "deferred_runs")  # a submodule: __init__ not run
        import deferred_pkg_for_test  # type: ignore[import-not-found]

        assert deferred_pkg_for_test.TOP == "top" and sys.deferred_runs == 1  # type: ignore[attr-defined]
        assert deferred_pkg_for_test.VALUE == 7 and sys.deferred_runs == 1  # type: ignore[attr-defined]
        assert not defer_init("no_such_package_here")
    finally:
        for name in [m for m in sys.modules if m.startswith("deferred_pkg_for_test")]:
            del sys.modules[name]


def test_a_deferred_init_runs_once_when_two_threads_ask_at_once(tmp_path, monkeypatch) -> None:
    import threading

    pkg = tmp_path / "deferred_slow_pkg_for_test"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import sys, time\nsys.deferred_slow_runs = getattr(sys, 'deferred_slow_runs', 0) + 1\n"
                                     "time.sleep(0.2)\nTOP = 'top'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delattr(sys, "deferred_slow_runs", raising=False)
    got: list[str] = []
    try:
        assert defer_init("deferred_slow_pkg_for_test")
        module = sys.modules["deferred_slow_pkg_for_test"]
        threads = [threading.Thread(target=lambda: got.append(module.TOP)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert got == ["top", "top"] and sys.deferred_slow_runs == 1  # type: ignore[attr-defined]
    finally:
        sys.modules.pop("deferred_slow_pkg_for_test", None)
