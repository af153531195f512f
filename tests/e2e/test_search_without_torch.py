"""`imgrag search` on an index whose ONNX exports exist runs without torch, open_clip or
sentence-transformers (models/onnx_clip.py, onnx_text.py), and finds what the torch path finds."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, run_cli
from tests.support.data import coco_images

HEAVY = ("torch", "open_clip", "sentence_transformers", "transformers", "torchvision")
# The CLI as a user runs it, then which heavy modules the process imported by its end.
PROBE = (
    "import runpy, sys\n"
    "sys.argv = ['imgrag', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('imgrag_desktop.cli', run_name='__main__')\n"
    "except SystemExit as exc:\n"
    "    code = exc.code\n"
    "finally:\n"
    f"    print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
)


OWN_EXPORTS = {"IMGRAG_ONNX_DIR": ""}  # this test's data dir holds its exports, not the session's shared folder


def _probe(data: Path, *args: str) -> tuple[str, str]:
    """`imgrag ARGS`'s stdout, and the heavy modules its process imported."""
    cmd = [sys.executable, "-c", PROBE, "--data-dir", str(data), "--profile", "test", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO), **OWN_EXPORTS})
    assert proc.returncode == 0, proc.stderr[-2000:]
    heavy = [ln for ln in proc.stderr.splitlines() if ln.startswith("HEAVY=")]
    assert heavy, proc.stderr[-2000:]
    return proc.stdout, heavy[-1][len("HEAVY="):]


def _window(data: Path, report: Path, query: str) -> dict[str, Any]:
    """The window (offscreen) on `data`: searched for `query`, then closed; its automation report."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen", **OWN_EXPORTS}
    env.pop("IMGRAG_PROFILE", None)
    proc = subprocess.run([sys.executable, "-m", "imgrag_desktop", "--profile", "test", "--data-dir", str(data),
                           "--query", query, "--report", str(report), "--quit-after", "--automation-timeout", "240"],
                          capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out: dict[str, Any] = json.loads(report.read_text("utf-8"))
    return out


def _search(data: Path, *args: str) -> tuple[list[str], str]:
    stdout, heavy = _probe(data, "search", *args, "--json", "--min-score", "off")
    out = json.loads(stdout)
    hits = out["hits"] if isinstance(out, dict) else out
    return [h["path"] for h in hits], heavy


@pytest.mark.slow  # four CLI processes (an index run with its exports, searches both ways)
def test_a_search_process_imports_no_torch_once_exported(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for p in coco_images()[:4]:
        shutil.copy2(p, photos / p.name)
    data = tmp_path / "data"
    for key, value in (("faces_enabled", "false"),):  # OCR stays: the text stage then runs MiniLM
        run_cli("settings", "set", key, value, data_dir=data, env=OWN_EXPORTS)
    proc = run_cli("index", str(photos), "--json", data_dir=data, env=OWN_EXPORTS)  # exports CLIP and MiniLM before it exits
    onnx = data / "models" / "onnx"
    assert sorted(p.name.split("_")[0] for p in onnx.iterdir()) == ["imgrag-tiny", "text-all-MiniLM-L6-v2"], \
        [ln for ln in proc.stderr.splitlines() if "ONNX" in ln or "export" in ln]

    visual, heavy = _search(data, "a dog on a sofa", "--mode", "visual")
    assert heavy == "", f"a search process imported {heavy}"
    hybrid, heavy = _search(data, "a dog on a sofa", "--mode", "hybrid")
    assert heavy == "", f"a search process imported {heavy}"
    assert len(visual) == 4 and hybrid

    # The window on the same library: its engine gets ready, with the text model opened beside
    # CLIP's export, and answers the first hybrid query, without importing any of them.
    report = _window(data, tmp_path / "window-report.json", "a dog on a sofa")
    assert report["runtimes_when_ready"] == {"clip": "onnx", "text": "onnx"}, report["runtimes_when_ready"]
    assert not [m for m, there in report["modules_when_ready"].items() if there], report["modules_when_ready"]
    assert not [m for m, there in report["modules_at_finish"].items() if there], report["modules_at_finish"]
    assert report["results"]["count"] == 4

    run_cli("settings", "set", "clip_runtime", "torch", data_dir=data, env=OWN_EXPORTS)
    run_cli("settings", "set", "precision", "fp32", data_dir=data, env=OWN_EXPORTS)  # the exports are fp32: no bf16 near-ties
    visual_torch, heavy = _search(data, "a dog on a sofa", "--mode", "visual")
    assert "torch" in heavy.split(",")  # the probe sees torch when it is there
    hybrid_torch, _ = _search(data, "a dog on a sofa", "--mode", "hybrid")
    assert visual_torch == visual and hybrid_torch == hybrid

    # clip_runtime onnx: an index run too imports none of them (image batches on onnxruntime)
    run_cli("settings", "set", "clip_runtime", "onnx", data_dir=data, env=OWN_EXPORTS)
    more = tmp_path / "more"
    more.mkdir()
    for p in coco_images()[4:6]:
        shutil.copy2(p, more / p.name)
    stdout, heavy = _probe(data, "index", str(more), "--json")
    assert heavy == "", f"an index run on onnxruntime imported {heavy}"
    assert json.loads(stdout)["embedded"] == 2
