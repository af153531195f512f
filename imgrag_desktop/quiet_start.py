"""Importing the engine's heavy libraries without freezing other threads (the window's).

Traced on this machine (scripts/trace_startup.py, py-spy --gil --native), the GUI thread was
idle in Qt's event loop during every start-up stall, waiting for Python's global interpreter
lock, while the engine thread held it in three kinds of long native calls:

1. the dynamic loader: importing an extension module (torch._C, libtriton, LanceDB, Arrow)
   dlopen()s it with the lock held, and loading libtorch_cpu/libtorch_cuda with their CUDA
   libraries (4 GB of shared objects in all) and running their static constructors takes
   seconds;
2. the cyclic garbage collector: torch, pydantic and transformers create millions of objects
   while importing, and each full collection walks all of them (0.3-1 s each here);
3. module initialisers (torch._C's and libtriton's pybind11 registrations), which cannot be
   split.

`preload_native()` removes the first: it dlopen()s the same files first through libc's own
`dlopen`, called through ctypes, which lets go of the lock for the call; the imports then find
them loaded and only run their initialisers. `quiet_gc()` removes the second: no collection
while the libraries are imported, then everything they created is moved to the permanent
generation (`gc.freeze()`), so later collections never walk it again. The third stays; see
docs/performance.md for what is left.

Only the standard library is used here, so this can run before anything else is imported.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import glob
import importlib
import importlib.machinery
import importlib.util
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator

log = logging.getLogger(__name__)

# (package, file pattern inside it, RTLD_GLOBAL): the extension modules and libraries the engine's
# imports load, in the order they load them. "{ext}" is each of the interpreter's extension
# suffixes; an empty pattern is a top-level extension module's own file. torch loads
# libtorch_global_deps with RTLD_GLOBAL itself; the rest are opened as Python opens extension
# modules (RTLD_NOW, local), their dependencies coming with them.
NATIVE = (
    ("pyarrow", "lib{ext}", False),
    ("lancedb", "_lancedb{ext}", False),
    ("_pillow_heif", "", False),  # imaging.py's HEIC opener: libheif, libde265, libx265
    ("onnxruntime", "capi/onnxruntime_pybind11_state{ext}", False),
    ("torch", "lib/libtorch_global_deps.so", True),
    ("torch", "_C{ext}", False),
    ("triton", "_C/libtriton{ext}", False),
    ("torchvision", "_C_stable{ext}", False),
    ("tokenizers", "tokenizers{ext}", False),
)

# Which of NATIVE's packages importing a module loads: only those are preloaded for it (a
# window whose queries run on the ONNX exports must not map torch's 4 GB of libraries, ~1.2 s
# and ~500 MB of RSS here, for nothing). A module not listed preloads nothing.
NATIVE_OF = {
    "lancedb": ("pyarrow", "lancedb"),
    "imgrag_desktop.imaging": ("_pillow_heif",),
    "onnxruntime": ("onnxruntime",),
    "tokenizers": ("tokenizers",),
    "torch": ("torch",),
    "open_clip": ("torch", "triton", "torchvision"),
    "sentence_transformers": ("torch", "triton", "torchvision", "tokenizers"),
}


def natives_for(modules: tuple[str, ...], items: tuple[tuple[str, str, bool], ...] = NATIVE) -> tuple[tuple[str, str, bool], ...]:
    """The entries of `items` that importing `modules` loads, in `items`' order."""
    wanted = {pkg for name in modules for pkg in NATIVE_OF.get(name, ())}
    return tuple(item for item in items if item[0] in wanted)


# The Python packages the engine imports when it starts (store, CLIP): imported by
# import_engine() under quiet_gc().
ENGINE_MODULES = ("lancedb", "torch", "open_clip")
# What the engine's first query needs when it runs on the ONNX exports (models/onnx_clip.py,
# onnx_text.py): onnxruntime, the tokenizers, and imaging.py (the store's helpers import it).
ONNX_MODULES = ("onnxruntime", "tokenizers", "imgrag_desktop.imaging")
# What the text model (models/text.py) imports: sentence-transformers, and with it scikit-learn
# and scipy.stats (~5 s here even after torch). Imported right after the image model is ready,
# in a library whose first text query will need it.
TEXT_MODULES = ("sentence_transformers",)


# Packages whose __init__ is run only when one of its own names is first asked for, not when a
# submodule is imported: lancedb imports `lance_namespace_urllib3_client.models` (the pydantic
# models of its namespace API) at start, and with it the package's __init__, which builds the
# REST client's nine API classes and their pydantic models (~0.45 s of CPU here, half of
# `import lancedb`); a local table never uses them. The models themselves still load.
DEFERRED_INITS = {"lancedb": ("lance_namespace_urllib3_client",)}


def defer_init(name: str) -> bool:
    """Put package `name` in sys.modules without running its __init__ yet: its submodules import
    as usual; the first access to a name the package itself defines runs the real __init__
    (so nothing is lost, only postponed). False when it is already imported or not found."""
    if name in sys.modules:
        return False
    spec = _find(name)
    if spec is None or spec.loader is None or not spec.submodule_search_locations:
        return False
    module = importlib.util.module_from_spec(spec)

    ran = [False]
    lock = threading.RLock()  # another thread asking meanwhile waits for the __init__ to finish

    def __getattr__(attr: str) -> Any:
        if attr.startswith("__"):  # the import system's own probes (__path__ etc. are set)
            raise AttributeError(attr)
        with lock:
            if not ran[0]:
                ran[0] = True
                try:
                    spec.loader.exec_module(module)  # type: ignore[union-attr]
                finally:
                    if module.__dict__.get("__getattr__") is __getattr__:  # not one the __init__ defined
                        del module.__dict__["__getattr__"]
        if attr in module.__dict__:
            return module.__dict__[attr]
        raise AttributeError(f"module {name!r} has no attribute {attr!r}")

    module.__dict__["__getattr__"] = __getattr__  # PEP 562: called for missing names only
    sys.modules[name] = module
    return True


@dataclass(frozen=True)
class Loaded:
    path: str
    seconds: float
    ok: bool


def _find(name: str) -> Any:
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None


def _package_dir(name: str) -> str | None:
    """A top-level package's folder, found without importing it."""
    spec = _find(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def _module_file(name: str) -> str | None:
    """A top-level extension module's file, found without importing it."""
    spec = _find(name)
    origin = getattr(spec, "origin", None) if spec is not None else None
    if not origin or not origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
        return None
    return str(origin)


def native_files(items: tuple[tuple[str, str, bool], ...] = NATIVE) -> list[tuple[str, bool]]:
    """The files of `items` that exist here, in order, with their RTLD_GLOBAL flag; none of a
    package already imported (its libraries are loaded)."""
    out: list[tuple[str, bool]] = []
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    for package, pattern, is_global in items:
        if package in sys.modules:
            continue
        if not pattern:
            path = _module_file(package)
            if path is not None and os.path.isfile(path):
                out.append((path, is_global))
            continue
        folder = _package_dir(package)
        if folder is None:
            continue
        seen: set[str] = set()
        for ext in suffixes if "{ext}" in pattern else [""]:
            for path in sorted(glob.glob(os.path.join(folder, pattern.format(ext=ext)))):
                if path not in seen:
                    seen.add(path)
                    out.append((path, is_global))
    return out


def _libc_dlopen() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None).dlopen  # a foreign call through CDLL releases the GIL while it runs
    except (OSError, AttributeError):
        return None
    fn.restype = ctypes.c_void_p
    fn.argtypes = [ctypes.c_char_p, ctypes.c_int]
    return fn


def preload_native(items: tuple[tuple[str, str, bool], ...] = NATIVE) -> list[Loaded]:
    """Load the heavy shared objects of `items` with the GIL released (Linux; elsewhere nothing).

    A file that fails to load here (a missing dependency) is left for its import, which then
    raises its usual error; nothing is ever loaded that the imports would not load anyway."""
    dlopen = _libc_dlopen()
    if dlopen is None:
        return []
    done: list[Loaded] = []
    for path, is_global in native_files(items):
        t0 = time.perf_counter()
        handle = dlopen(os.fsencode(path), os.RTLD_NOW | (os.RTLD_GLOBAL if is_global else os.RTLD_LOCAL))
        done.append(Loaded(path, time.perf_counter() - t0, bool(handle)))
        if not handle:
            log.debug("could not preload %s (its import will say why)", path)
    return done


@contextlib.contextmanager
def quiet_gc(freeze: bool = True) -> Iterator[None]:
    """No cyclic collection inside the block; with `freeze`, what exists at its end is frozen
    (never walked by a collection again, never collected if it was cyclic garbage): for the
    first imports of a process only, whose objects live as long as the process anyway."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if was_enabled:
            gc.enable()


def import_engine(modules: tuple[str, ...] = ENGINE_MODULES, freeze: bool = True) -> dict[str, float]:
    """Preload the native libraries, then import `modules` without a collection; the seconds
    each step took ("native", then each module). A module that cannot be imported is skipped:
    the part that needs it raises its own error when used. `freeze`: see quiet_gc; pass False
    once models or other short-lived objects exist."""
    times: dict[str, float] = {}
    if all(name in sys.modules for name in modules):
        return times  # done before (a model reload): nothing to freeze again
    t0 = time.perf_counter()
    loaded = preload_native(natives_for(modules))
    times["native"] = time.perf_counter() - t0
    log.debug("preloaded %d native libraries in %.2f s", sum(1 for x in loaded if x.ok), times["native"])
    with quiet_gc(freeze):
        for name in modules:
            t1 = time.perf_counter()
            for package in DEFERRED_INITS.get(name, ()) if name not in sys.modules else ():
                defer_init(package)
            try:
                importlib.import_module(name)
            except Exception as exc:  # noqa: BLE001 - the real use reports it
                log.debug("engine import of %s failed: %s", name, exc)
            times[name] = time.perf_counter() - t1
    return times
