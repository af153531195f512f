"""The real application under a real X server (Xvfb): add the COCO folder, search, screenshot.

Runs `python -m imgrag_desktop` exactly as a user would start it, driven by its test-automation
options, and checks what it reports and what it drew. Timings land in .test-artifacts/.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".test-artifacts"

pytestmark = pytest.mark.skipif(shutil.which("xvfb-run") is None,
                                reason="xvfb-run is not installed (Debian: apt install xvfb xauth)")


def run_window(tmp_path: Path, *app_args: str, timeout: float = 600) -> tuple[subprocess.CompletedProcess[str], dict]:
    """Start the app under xvfb-run; the wall-clock time just before Python starts is recorded
    so launch → window shown includes interpreter start-up and every import."""
    t0_file = tmp_path / "t0"
    report = tmp_path / "report.json"
    app = [sys.executable, "-m", "imgrag_desktop", *app_args, "--report", str(report), "--quit-after"]
    inner = f"date +%s.%N > {shlex.quote(str(t0_file))}; exec " + " ".join(shlex.quote(a) for a in app)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("QT_QPA_PLATFORM", None)  # the real xcb platform on the Xvfb display
    env.pop("IMGRAG_PROFILE", None)
    proc = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1440x900x24", "sh", "-c", inner],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp_path)
    data = json.loads(report.read_text()) if report.exists() else {}
    if t0_file.exists() and "shown_at" in data:
        data["launch_to_shown_s"] = round(data["shown_at"] - float(t0_file.read_text().strip()), 3)
    return proc, data


def test_real_window_indexes_coco_searches_and_draws_results(tmp_path: Path, coco_dir: Path) -> None:
    from PIL import Image

    shot = tmp_path / "window.png"
    proc, r = run_window(tmp_path, "--profile", "test", "--data-dir", str(tmp_path / "data"),
                         "--add-folder", str(coco_dir), "--query", "a dog on a couch", "--screenshot", str(shot),
                         "--window-size", "1280x800", "--automation-timeout", "500")
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-3000:], r.get("error"))
    n_images = len([p for p in coco_dir.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")])
    (index,) = r["index_reports"]
    assert index["added"] == n_images and index["failed"] == 0 and index["images"] == n_images
    assert r["modules_when_shown"]["torch"] is False
    assert r["results"]["count"] == n_images  # every image ranked for the query (results limit 500)
    assert all(p.startswith(str(coco_dir)) for p in r["results"]["paths"])
    # The picture: the window at its size, with real thumbnails drawn (many colours, not a blank grid).
    img = Image.open(shot).convert("RGB")
    assert img.size == (1280, 800)
    grid = img.crop((300, 100, 900, 700))
    assert len(set(grid.getdata())) > 5000
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTIFACTS / "window-e2e.png")
    summary = {k: r.get(k) for k in ("launch_to_shown_s", "start_to_shown_s", "engine_ready_s", "index_seconds",
                                     "index_heartbeat", "startup_heartbeat", "index_reports", "results")}
    (ARTIFACTS / "window-e2e.json").write_text(json.dumps(summary, indent=2))
    print("\n" + json.dumps({k: summary[k] for k in ("launch_to_shown_s", "engine_ready_s", "index_seconds",
                                                     "index_heartbeat", "startup_heartbeat")}))
