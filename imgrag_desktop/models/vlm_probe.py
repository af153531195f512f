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
from typing import TYPE_CHECKING, Any

from imgrag_desktop.models.llama_native import default_threads
from imgrag_desktop.types import ImgragError, ModelUnavailable

if TYPE_CHECKING:  # pragma: no cover
    from imgrag_desktop.models.vlm import VlmSpec

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

    def _key(self, spec: VlmSpec, handler: str) -> str:
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

    def known(self, spec: VlmSpec, handler: str) -> bool:
        return self._key(spec, handler) in self._load()

    def remember(self, spec: VlmSpec, handler: str) -> None:
        if self.path is None:
            return
        with self._lock:
            data = self._load()
            data[self._key(spec, handler)] = time.time()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, indent=1), "utf-8")
            os.replace(tmp, self.path)


def probe_in_subprocess(spec: VlmSpec, handler: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Load the pair and run one tiny image through it in a child process.

    A crash there (signal) becomes a ModelUnavailable here; this process never touches the
    files until they have passed.
    """
    cmd = [sys.executable, "-m", "imgrag_desktop.models.vlm_probe", "probe", spec.model_path, spec.mmproj_path or "",
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


# The subprocess side of probe_in_subprocess --------------------------------------------------
def _probe_main(argv: list[str]) -> int:
    model_path, mmproj, handler, n_ctx = argv[0], argv[1], argv[2], int(argv[3])
    from imgrag_desktop.models.vlm import LocalVLM, VlmSpec, image_data_uri

    try:
        from PIL import Image

        spec = VlmSpec(model_path=model_path, mmproj_path=mmproj, handler=handler, n_ctx=n_ctx, verify=False,
                       n_threads=default_threads())
        vlm = LocalVLM(spec, idle_unload_s=0)
        vlm.load()
        if vlm.has_vision:
            img = Image.new("RGB", (64, 64), (90, 120, 200))
            messages = [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": image_data_uri(img, 64)}},
                {"type": "text", "text": "Hi"}]}]
        else:
            messages = [{"role": "user", "content": "Hi"}]
        vlm.generate(messages, max_tokens=1)
        vlm.unload()
    except ImgragError as exc:
        print(json.dumps({"error": str(exc)}))
        return 2
    except Exception as exc:  # noqa: BLE001 - reported to the parent as text
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 3
    print(json.dumps({"ok": True}))
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through probe_in_subprocess
    if len(sys.argv) >= 6 and sys.argv[1] == "probe":
        sys.exit(_probe_main(sys.argv[2:]))
    print("usage: python -m imgrag_desktop.models.vlm_probe probe MODEL MMPROJ HANDLER N_CTX", file=sys.stderr)
    sys.exit(64)
