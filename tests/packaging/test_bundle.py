"""Build the PyInstaller one-folder bundle and run it (slow: `make package`, not `make test`)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.bundle


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    dist = Path(os.environ.get("IMGRAG_BUNDLE_DIST") or tmp_path_factory.mktemp("dist"))
    exe = dist / "imgrag-desktop" / "imgrag"
    if not exe.exists():
        work = tmp_path_factory.mktemp("work")
        proc = subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
                               "--distpath", str(dist), "--workpath", str(work),
                               str(REPO / "packaging" / "imgrag-desktop.spec")],
                              capture_output=True, text=True, timeout=3600, cwd=REPO)
        assert proc.returncode == 0, proc.stderr[-4000:]
    assert exe.exists() and (dist / "imgrag-desktop" / "imgrag-desktop").exists()
    return dist / "imgrag-desktop"


def _run(exe: Path, *args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(QT_QPA_PLATFORM="offscreen", HOME=str(tmp))
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=600, env=env, cwd=tmp)


def test_bundle_version_and_doctor(bundle, tmp_path):
    v = _run(bundle / "imgrag", "--version", tmp=tmp_path)
    assert v.returncode == 0 and v.stdout.startswith("imgrag "), v.stderr
    d = _run(bundle / "imgrag", "--data-dir", str(tmp_path / "data"), "doctor", "--json", tmp=tmp_path)
    assert d.returncode == 0, d.stderr[-2000:]
    checks = {c["name"]: c for c in json.loads(d.stdout)["checks"]}
    assert checks["torch"]["ok"] and checks["data dir"]["ok"]


def test_bundle_indexes_and_searches(bundle, tmp_path):
    """The bundled model code, LanceDB and resources work, not just the import of the CLI."""
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    for i, c in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200)]):
        Image.new("RGB", (96, 64), c).save(photos / f"p{i}.png")
    data = str(tmp_path / "data")
    idx = _run(bundle / "imgrag", "--profile", "test", "--data-dir", data, "index", str(photos), "--json", tmp=tmp_path)
    assert idx.returncode == 0, idx.stderr[-2000:]
    assert json.loads(idx.stdout)["added"] == 3
    sim = _run(bundle / "imgrag", "--profile", "test", "--data-dir", data, "similar", str(photos / "p1.png"),
               "--json", tmp=tmp_path)
    assert sim.returncode == 0 and json.loads(sim.stdout)[0]["path"] == str(photos / "p1.png")
