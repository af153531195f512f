"""dlib in a child process (models/faces_child.py): the same faces as in-process, a time limit and
a crash that cost one picture, an idle exit, and a parent that never imports dlib."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from imgrag_desktop.models.child_proc import ChildTimeout
from imgrag_desktop.models.faces import DlibFaces
from imgrag_desktop.models.faces_child import ChildFaces
from imgrag_desktop.types import ImgragError
from tests.support.data import faces_dir

REPO = Path(__file__).resolve().parents[3]
FILES = ["img1.jpg", "couple.jpg", "selfie-many-people.jpg", "img13.jpg"]


@pytest.fixture(scope="module")
def child():
    engine = ChildFaces("hog", keep_s=0)
    yield engine
    engine.close()


def test_the_same_boxes_and_descriptors_as_in_process(child):
    here = DlibFaces("hog").load()
    assert child.model_id == here.model_id == "dlib-hog-resnet-v1"
    total = 0
    for name in FILES:
        path = str(faces_dir() / name)
        a, b = child.faces_of_file(path, 1024), here.faces_of_file(path, 1024)
        assert (a.width, a.height, a.seen) == (b.width, b.height, b.seen)
        assert [f.box for f in a.faces] == [f.box for f in b.faces]
        for fa, fb in zip(a.faces, b.faces):
            assert fa.descriptor.dtype == np.float32 and np.array_equal(fa.descriptor, fb.descriptor)
            assert (fa.confidence, fa.size, fa.blur, fa.pose, fa.quality) == (fb.confidence, fb.size, fb.blur,
                                                                                 fb.pose, fb.quality)
        total += len(a.faces)
    assert total >= 6  # 1 + 2 + several + 1: the comparison compared faces
    # a picture already in memory goes to the child as pixels, with the same answer
    from PIL import Image, ImageOps

    img = ImageOps.exif_transpose(Image.open(faces_dir() / "img1.jpg")).convert("RGB")
    assert [f.box for f in child.faces(img)] == [f.box for f in here.faces(img)]


def test_over_the_time_limit_the_picture_fails_and_the_next_one_is_read(child):
    path = str(faces_dir() / "selfie-many-people.jpg")
    child.timeout_s = 0.001
    try:
        with pytest.raises(ChildTimeout, match="took longer than 0.001 s"):
            child.faces_of_file(path, 1024)
        assert child.child_pids() == []  # the stuck child was killed
    finally:
        child.timeout_s = 60.0
    assert len(child.faces_of_file(str(faces_dir() / "img1.jpg"), 1024).faces) == 1


def test_a_crashed_child_costs_one_picture(child):
    child.load()
    (pid,) = child.child_pids()
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    with pytest.raises(ImgragError, match="face process (has )?ended"):
        child.faces_of_file(str(faces_dir() / "img1.jpg"), 1024)
    assert len(child.faces_of_file(str(faces_dir() / "img1.jpg"), 1024).faces) == 1
    assert child.child_pids() and child.child_pids()[0] != pid


def test_an_unreadable_file_is_an_error_and_the_child_lives_on(child, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a picture")
    child.load()
    pids = child.child_pids()
    with pytest.raises(ImgragError):
        child.faces_of_file(str(bad), 1024)
    assert child.child_pids() == pids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_children_end_when_idle():
    engine = ChildFaces("hog", keep_s=0.5)
    engine.faces_of_file(str(faces_dir() / "img1.jpg"), 1024)
    (pid,) = engine.child_pids()
    deadline = time.monotonic() + 10
    while engine.child_pids() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert engine.child_pids() == []
    while time.monotonic() < deadline and _alive(pid):  # it is told to end, then reaped
        time.sleep(0.1)
    assert not _alive(pid)
    assert len(engine.faces_of_file(str(faces_dir() / "img1.jpg"), 1024).faces) == 1  # back on demand
    engine.close()


def test_the_parent_never_imports_dlib():
    code = (
        "import sys\n"
        "from imgrag_desktop.config import Settings\n"
        "from imgrag_desktop.models.faces_child import engine_from_settings\n"
        "e = engine_from_settings(Settings())\n"
        f"n = len(e.faces_of_file({str(faces_dir() / 'img1.jpg')!r}, 1024).faces)\n"
        "e.close()\n"
        "print(n, e.model_id, 'dlib' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    n, model, imported = out.stdout.split()
    assert n == "1" and model.startswith("dlib-") and imported == "False"
