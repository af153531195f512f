"""Unfamiliar model files are first loaded in a short-lived subprocess, once per file version.

llama.cpp kills the whole process on some malformed files (a projector with a missing tensor
segfaults); the app must survive a bad download with a clear message instead. A file version
that passed is remembered (path, size, mtime) so the check does not slow every start.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from imgrag_desktop.atomic import write_json
from imgrag_desktop.types import ModelUnavailable


class ProbeSpec(Protocol):
    """What the probe reads of a `vlm.VlmSpec` (typed here so this module needs no import of
    the loader it protects: the child process, `vlm_child`, imports that)."""

    @property
    def model_path(self) -> str: ...

    @property
    def mmproj_path(self) -> str: ...

    @property
    def n_ctx(self) -> int: ...

PROBE_TIMEOUT_S = 600.0


def _file_key(path: str) -> list[Any]:
    st = os.stat(path)
    return [os.path.abspath(path), st.st_size, st.st_mtime_ns]


class VerifiedCache:
    """Remembers which (model, projector) files loaded fine in a probe, keyed by path, size and
    mtime, so the subprocess check runs once per file version, not on every start."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _key(self, spec: ProbeSpec, handler: str) -> str:
        import llama_cpp

        parts = [_file_key(spec.model_path), _file_key(spec.mmproj_path) if spec.mmproj_path else None,
                 handler, getattr(llama_cpp, "__version__", "")]
        return json.dumps(parts, sort_keys=True)

    def _load(self) -> dict[str, Any]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            return json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            return {}

    def known(self, spec: ProbeSpec, handler: str) -> bool:
        return self._key(spec, handler) in self._load()

    def remember(self, spec: ProbeSpec, handler: str) -> None:
        if self.path is None:
            return
        with self._lock:
            data = self._load()
            data[self._key(spec, handler)] = time.time()
            write_json(self.path, data, indent=1)


def probe_in_subprocess(spec: ProbeSpec, handler: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Load the pair and run one tiny image through it in a child process.

    A crash there (signal) becomes a ModelUnavailable here; this process never touches the
    files until they have passed.
    """
    cmd = [sys.executable, "-m", "imgrag_desktop.models.vlm_child", "probe", spec.model_path, spec.mmproj_path or "",
           handler, str(min(spec.n_ctx, 2048))]
    env = dict(os.environ)
    pkg_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired as exc:
        raise ModelUnavailable(
            f"checking {Path(spec.model_path).name} took over {timeout_s:.0f} s; the model is too large for this computer"
        ) from exc
    name = Path(spec.mmproj_path or spec.model_path).name
    if proc.returncode < 0:
        import signal

        try:
            sig = signal.Signals(-proc.returncode).name
        except ValueError:
            sig = f"signal {-proc.returncode}"
        which = f"{Path(spec.model_path).name} with {Path(spec.mmproj_path).name}" if spec.mmproj_path else name
        raise ModelUnavailable(
            f"llama.cpp crashed ({sig}) loading {which}: the files are damaged, not a pair, or a model family "
            "this llama-cpp-python does not support; pick another model"
        )
    if proc.returncode != 0:
        reason = ""
        for line in reversed(proc.stdout.strip().splitlines()):
            try:
                reason = json.loads(line).get("error", "")
                break
            except ValueError:
                continue
        reason = reason or (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise ModelUnavailable(f"cannot load {name}: {reason}")
