"""Shared fixtures: real data from ../shared/data, real LanceDB in temp dirs, test-profile models."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.data import COCO, REPO, SCREENSHOTS, SHARED_DATA, coco_images, missing_shared_data

__all__ = ["COCO", "REPO", "SCREENSHOTS", "SHARED_DATA", "coco_images", "run_cli"]

# The VLM, Ask and caption fixtures (tiny_pair, gemma_path, screenshot_store) serve every test dir.
pytest_plugins = ["tests.support.vlm_fixtures"]


def pytest_sessionstart(session: pytest.Session) -> None:
    """Stop before the first test when the shared data is missing: a green run must have used it."""
    reason = missing_shared_data()
    if reason is not None:
        pytest.exit(f"shared test data not found: {reason}; put it in {REPO.parent / 'shared' / 'data'} "
                    "or set IMGRAG_SHARED_DATA", returncode=pytest.ExitCode.TESTS_FAILED)
    # The ONNX exports (models/onnx_clip.py) of the test profile's models, made once for the
    # whole session rather than in each test's data dir (the tiny CLIP and MiniLM are the same
    # in all of them; tests of the exports themselves set their own folder).
    if not os.environ.get("IMGRAG_ONNX_DIR"):
        import tempfile

        os.environ["IMGRAG_ONNX_DIR"] = _OWN_ONNX_DIR[0] = tempfile.mkdtemp(prefix="imgrag-onnx-tests-")


_OWN_ONNX_DIR = [""]  # the session's shared export folder, when this session made it


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run that collected nothing tested nothing: CI must not read that as a pass."""
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if _OWN_ONNX_DIR[0]:
        import threading

        for t in threading.enumerate():  # an export still running in the background finishes first
            if t.name.startswith("imgrag-onnx"):
                t.join(300)
        shutil.rmtree(_OWN_ONNX_DIR[0], ignore_errors=True)


@pytest.fixture(scope="session")
def coco_dir() -> Path:
    if not COCO.is_dir():
        pytest.fail(f"shared test data not found at {COCO}")
    return COCO


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test profile's tiny CLIP checkpoint (fixed seed), built once; tests copy it, never change it."""
    from imgrag_desktop.models.clip import write_tiny_checkpoint

    return write_tiny_checkpoint(tmp_path_factory.mktemp("tinyclip") / "imgrag-tiny.pt")


@pytest.fixture
def photo_dir(tmp_path: Path, coco_dir: Path) -> Path:
    """A temp folder with 24 real COCO photos (copies in the test's temp dir only)."""
    d = tmp_path / "photos"
    d.mkdir()
    for p in coco_images()[:24]:
        shutil.copy2(p, d / p.name)
    return d


@pytest.fixture
def services(tmp_path: Path):
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.services import Services

    svc = Services(AppConfig.load(tmp_path / "data", "test"))
    yield svc
    svc.close_faces()  # the face children end with the test, not 30 s later beside the next ones


def run_cli(*args: str, data_dir: Path | None = None, timeout: float = 600, check: bool = True,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `imgrag` as a subprocess, as a user would (test profile)."""
    cmd = [sys.executable, "-m", "imgrag_desktop.cli"]
    if data_dir is not None:
        cmd += ["--data-dir", str(data_dir)]
    cmd += ["--profile", "test", *args]
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env, cwd=REPO)
    if check and proc.returncode != 0:
        raise AssertionError(f"imgrag {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc
