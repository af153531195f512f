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
    # Absolute: the bundle's programs run with the test's tmp dir as working directory, and
    # `make package` passes a relative dist.
    dist = Path(os.environ.get("IMGRAG_BUNDLE_DIST") or tmp_path_factory.mktemp("dist")).resolve()
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


def test_bundle_carries_the_resources_and_puts_itself_in_the_menu(bundle, tmp_path):
    """install-desktop reads every resource through importlib.resources inside the frozen app,
    and the entry it writes starts the bundle's own window executable."""
    share = tmp_path / "share"
    r = _run(bundle / "imgrag", "--data-dir", str(tmp_path / "data"), "install-desktop", "--prefix", str(share),
             "--json", tmp=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    files = [Path(p) for p in json.loads(r.stdout)["installed"]]
    assert len(files) == 10 and all(p.stat().st_size > 0 for p in files)
    desk = share / "applications" / "io.github.imgrag.Desktop.desktop"
    assert f"Exec={bundle / 'imgrag-desktop'} %F" in desk.read_text("utf-8").splitlines()


def test_bundled_window_starts_and_quits(bundle, tmp_path):
    """The window executable finds its Qt plugins, icon and style sheet in the bundle."""
    report = tmp_path / "report.json"
    r = _run(bundle / "imgrag-desktop", "--profile", "test", "--data-dir", str(tmp_path / "data"), "--quit-after",
             "--report", str(report), tmp=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(report.read_text())["start_to_shown_s"] > 0


def test_bundle_answers_with_the_local_vision_model(bundle, tmp_path):
    """llama.cpp's native libraries and the multimodal handler work frozen (test profile: a tiny
    random LLaVA-style pair, so the words are gibberish but image → tokens → text runs)."""
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    for i, c in enumerate([(200, 30, 30), (30, 200, 30)]):
        Image.new("RGB", (96, 64), c).save(photos / f"p{i}.png")
    common = ("--profile", "test", "--data-dir", str(tmp_path / "data"))
    idx = _run(bundle / "imgrag", *common, "index", str(photos), "--json", tmp=tmp_path)
    assert idx.returncode == 0, idx.stderr[-2000:]
    ask = _run(bundle / "imgrag", *common, "ask", "what is in these pictures?", "-k", "2", "--max-tokens", "8",
               "--json", tmp=tmp_path)
    assert ask.returncode == 0, ask.stderr[-2000:]
    out = json.loads(ask.stdout)
    assert out["looked_at_images"] and out["answer"]
    assert sorted(out["citations"]) == sorted(str(p) for p in photos.iterdir())
