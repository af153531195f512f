"""Peak memory of indexing in a fresh process, as a user runs it, and the window's cold start."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from imgrag_desktop.bench.common import Progress, say
from imgrag_desktop.bench.indexing import make_jpegs
from imgrag_desktop.types import ImgragError


def child_env() -> dict[str, str]:
    """The environment of a measured child: this checkout first on its path, so that the child
    runs the same code as the benchmark even when the package is not installed."""
    here = str(Path(__file__).resolve().parents[2])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH", "")]))}


def random_weights_file(work_dir: Path, model: str) -> str:
    """A checkpoint file of `model` with random weights (made once, untimed): a user's weights
    come from a file (a download or their own), and loading from a file is the path whose
    memory counts; building random weights in place is a different path no user takes."""
    from imgrag_desktop.models.clip import write_tiny_checkpoint

    path = work_dir / f"random-weights-{model}.pt"
    if not path.exists():
        write_tiny_checkpoint(path, model)
    return str(path)


def _peak_rss_mb_of(pid: int) -> float | None:
    """The process's own high-water mark of resident memory (VmHWM, Linux).

    Not getrusage(): on Linux a child's ru_maxrss keeps the maximum of the process it was
    forked from, so a child of a benchmark that held a million vectors would report that.
    """
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def run_measured(cmd: list[str], env: dict[str, str], timeout: float,
                 stdout: list[str] | None = None) -> tuple[int, float, float | None, str]:
    """Run a child; return (exit code, wall seconds, peak RSS in MB or None, stderr tail).

    The peak is polled every 20 ms; VmHWM only grows, so the last reading before the child
    exits is its peak unless it grew in its last 20 ms. With `stdout`, the child's standard
    output is appended to it. Both pipes are read by threads while the child runs, so a child
    that writes a lot (progress bars) never blocks on a full pipe.
    """
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL if stdout is None else subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    err: list[str] = []
    readers = [threading.Thread(target=lambda: err.append(proc.stderr.read() if proc.stderr else ""), daemon=True)]
    if stdout is not None:
        readers.append(threading.Thread(target=lambda: stdout.append(proc.stdout.read() if proc.stdout else ""),
                                        daemon=True))
    for reader in readers:
        reader.start()
    peak: float | None = None
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None:
            hwm = _peak_rss_mb_of(proc.pid)
            if hwm is not None:
                peak = max(peak or 0.0, hwm)
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise ImgragError(f"benchmark child {' '.join(cmd[3:4])} took more than {timeout:.0f} s")
            time.sleep(0.02)
    finally:
        for reader in readers:
            reader.join(5)
        for pipe in (proc.stderr, proc.stdout):
            if pipe is not None and not any(r.is_alive() for r in readers):
                pipe.close()
    return proc.returncode or 0, time.perf_counter() - t, peak, (err[0] if err else "")[-2000:]


def bench_memory(work_dir: Path, images: int, model: str, size: tuple[int, int] = (4000, 3000),
                 progress: Progress | None = None) -> dict[str, Any]:
    """Peak RSS of indexing in a fresh process (what `imgrag index` does, see child.py) and the
    window's cold start."""
    from imgrag_desktop.config import AppConfig

    out: dict[str, Any] = {}
    folder = work_dir / "jpeg-memory"
    say(progress, f"memory: writing {images} JPEGs of {size[0]}x{size[1]}")
    make_jpegs(folder, images, size, seed=5)
    data_dir = work_dir / "data-memory"
    cfg = AppConfig.load(data_dir, "default")
    cfg.settings.clip_model = model
    cfg.settings.clip_pretrained = ""  # random weights: same architecture, no download
    cfg.settings.clip_checkpoint = random_weights_file(work_dir, model)
    cfg.settings.ocr_enabled = False
    cfg.save()
    env = child_env()
    base_cmd = [sys.executable, "-m", "imgrag_desktop.bench.child"]
    say(progress, "memory: baseline process (imports, model load)")
    rc, wall, peak0, err = run_measured(base_cmd + ["doctor", "--data-dir", str(data_dir)], env, 600)
    say(progress, f"memory: indexing {images} images in a fresh process")
    rc, wall, peak, err = run_measured(base_cmd + ["index", "--data-dir", str(data_dir), str(folder)], env, 1800)
    if rc != 0:
        raise ImgragError(f"indexing failed in the memory benchmark: {err.strip().splitlines()[-1] if err.strip() else rc}")
    out["index_images"] = images
    out["index_image_size"] = list(size)
    out["index_peak_rss_mb"] = None if peak is None else round(peak, 1)
    out["index_wall_s"] = round(wall, 2)
    out["doctor_peak_rss_mb"] = None if peak0 is None else round(peak0, 1)
    if peak is None:
        out["rss_note"] = "peak memory is read from /proc (Linux only)"
    say(progress, "memory: window cold start")
    out["window"], out["window_note"] = window_cold_start(env, work_dir / "data-gui")
    shutil.rmtree(folder, ignore_errors=True)
    return out


def window_cold_start(env: dict[str, str], data_dir: Path, timeout: float = 180) -> tuple[dict[str, Any] | None, str]:
    """Seconds from starting the window's process to its main window being shown.

    Runs `python -m imgrag_desktop --report R --quit-after` (the window's test automation,
    which records the wall-clock time its main window was first shown and when the engine
    was ready) and measures from just before the process is started, so interpreter start-up
    and imports count. Without a display, Qt's offscreen platform is used.
    """
    import importlib.util

    try:
        if importlib.util.find_spec("imgrag_desktop.gui.app") is None:
            return None, "the window (imgrag_desktop.gui) is not part of this build"
    except (ImportError, ValueError):
        return None, "the window (imgrag_desktop.gui) is not part of this build"
    env = dict(env)
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    report = data_dir.parent / "window-report.json"
    cmd = [sys.executable, "-m", "imgrag_desktop", "--data-dir", str(data_dir), "--profile", "test",
           "--report", str(report), "--quit-after", "--automation-timeout", str(int(timeout))]
    t0 = time.time()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout + 30)
    except subprocess.TimeoutExpired:
        return None, f"the window did not quit within {timeout + 30:.0f} s"
    try:
        data = json.loads(report.read_text("utf-8"))
    except (OSError, ValueError):
        err = proc.stderr.strip().splitlines()
        return None, "the window wrote no timing report (--report unsupported?)" + (f": {err[-1][:200]}" if err else "")
    if not data.get("shown_at"):
        return None, "the window's report has no shown time"
    out = {"process_start_to_shown_s": round(float(data["shown_at"]) - t0, 3),
           "app_start_to_shown_s": data.get("start_to_shown_s"),
           "engine_ready_s": round(float(data["shown_at"]) - t0 - float(data.get("start_to_shown_s") or 0)
                                   + float(data["engine_ready_s"]), 3) if data.get("engine_ready_s") else None,
           "torch_loaded_when_shown": (data.get("modules_when_shown") or {}).get("torch")}
    return out, "offscreen Qt platform" if env.get("QT_QPA_PLATFORM") == "offscreen" else "on the desktop"
