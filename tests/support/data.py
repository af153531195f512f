"""Where the shared test data lives, and the rule that a run without it is a failure.

The photos and screenshots are not in the repository (they sit beside it in ../shared/data, or
wherever IMGRAG_SHARED_DATA points). A suite that skipped every test needing them would pass
green while testing nothing, so a missing folder fails the run instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("IMGRAG_SHARED_DATA", REPO.parent / "shared" / "data"))
COCO = SHARED_DATA / "coco-mini"
SCREENSHOTS = SHARED_DATA / "screenshots"


def missing_shared_data() -> str | None:
    """Why the shared data cannot serve the suite, or None when it can."""
    if not any(COCO.glob("*/*.jpg")):
        return f"no COCO photos in {COCO}"
    if not (SCREENSHOTS / "expected.json").is_file():
        return f"no screenshots (expected.json) in {SCREENSHOTS}"
    return None


def fail_without_shared_data() -> None:
    reason = missing_shared_data()
    if reason is not None:
        pytest.fail(f"shared test data not found: {reason}; put it in {REPO.parent / 'shared' / 'data'} "
                    "or set IMGRAG_SHARED_DATA", pytrace=False)


def coco_images() -> list[Path]:
    fail_without_shared_data()
    return sorted(COCO.glob("*/*.jpg"))


FACES = SHARED_DATA / "faces"


def faces_dir() -> Path:
    """The labelled face photos (labels.json); a missing folder fails the test."""
    if not (FACES / "labels.json").is_file():
        pytest.fail(f"shared test data not found: no faces/labels.json in {SHARED_DATA}", pytrace=False)
    return FACES
