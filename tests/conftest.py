"""Shared fixtures: real data from ../shared/data, real LanceDB in temp dirs, test-profile models."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("IMGRAG_SHARED_DATA", REPO.parent / "shared" / "data"))
COCO = SHARED_DATA / "coco-mini"
SCREENSHOTS = SHARED_DATA / "screenshots"


def coco_images() -> list[Path]:
    return sorted(COCO.glob("*/*.jpg"))


@pytest.fixture(scope="session")
def coco_dir() -> Path:
    if not COCO.is_dir():
        pytest.skip(f"shared test data not found at {COCO}")
    return COCO


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
    from imgrag_desktop.services import Services
    from imgrag_desktop.config import AppConfig

    return Services(AppConfig.load(tmp_path / "data", "test"))


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
