"""SIGKILL at chosen points, each reached and seen from outside before the kill: OCR half
done (in `imgrag index`), and the window's indexing worker with rows already written. Then:
no duplicate row, nothing committed lost, and the next start finishes the work.

(Kills during the visual pass and during captioning: tests/unit/indexing/test_crash_safety.py;
an upgrade cut short: tests/unit/store/test_release_upgrade.py.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import lance
import pytest

from tests.conftest import REPO, SCREENSHOTS, run_cli
from tests.support.hostile_corpus import _jpeg, _noise, tree_state


def _start(data: Path, *args: str, module: str = "imgrag_desktop.cli") -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", module, "--profile", "test", "--data-dir", str(data), *args]
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env)


def _table(data: Path) -> lance.LanceDataset | None:
    uri = data / "index.lancedb" / "images.lance"
    try:
        return lance.dataset(str(uri))
    except Exception:
        return None


def _count(data: Path, where: str | None = None) -> int:
    ds = _table(data)
    return 0 if ds is None else ds.count_rows(filter=where)


def _wait(proc: subprocess.Popen[str], test, timeout: float = 300) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if test():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    raise AssertionError("no progress before the deadline")


def _no_duplicates(data: Path) -> list[str]:
    ds = _table(data)
    assert ds is not None
    paths = ds.to_table(columns=["path"]).column("path").to_pylist()
    assert len(paths) == len(set(paths)), "duplicate rows after a kill"
    return paths


def _data_dir(tmp_path: Path, tiny_ckpt: Path, **settings: object) -> Path:
    data = tmp_path / "data"
    (data / "models").mkdir(parents=True)
    shutil.copy2(tiny_ckpt, data / "models" / "imgrag-tiny.pt")
    (data / "settings.json").write_text(json.dumps({"batch_size": 8, "decode_workers": 2, **settings}))
    return data


@pytest.mark.slow
def test_kill_with_ocr_half_done_keeps_what_was_read_and_the_next_run_finishes(tmp_path: Path,
                                                                               tiny_ckpt: Path) -> None:
    shots = tmp_path / "shots"
    shutil.copytree(SCREENSHOTS, shots, ignore=shutil.ignore_patterns("*.json", "LICENSE*"))
    n = sum(1 for _ in shots.iterdir())
    before = tree_state(shots)
    data = _data_dir(tmp_path, tiny_ckpt, ocr_workers=1)
    kills = []
    read_before: dict[str, str] = {}
    for _round in range(2):
        proc = _start(data, "index", str(shots), "--json", "--quiet")
        target = len(read_before) + 1
        try:
            reached = _wait(proc, lambda: _count(data, "ocr_status = 'done'") >= target)  # noqa: B023
            finished = proc.poll() is not None
        finally:
            proc.kill()
            proc.communicate(timeout=60)
        paths = _no_duplicates(data)
        assert len(paths) == n  # the visual pass had committed every row before OCR began
        ds = _table(data)
        assert ds is not None
        done = {r["path"]: r["ocr_text"] for r in
                ds.to_table(columns=["path", "ocr_text"], filter="ocr_status = 'done'").to_pylist()}
        assert all(done.get(p) == t for p, t in read_before.items()), "text already read was lost or changed"
        read_before = done
        kills.append((reached and not finished, len(done), n))
        if len(done) == n:
            break
    assert any(killed and 0 < done < n for killed, done, n in kills), f"no kill landed mid-OCR: {kills}"
    out = json.loads(run_cli("index", str(shots), "--json", "--quiet", data_dir=data).stdout)
    assert out["added"] == 0 and out["updated"] == 0
    assert _count(data, "ocr_status IS NULL OR ocr_status = 'pending'") == 0
    assert len(_no_duplicates(data)) == n and tree_state(shots) == before
    print(f"\nOCR kills (killed, read, of): {kills}")


@pytest.mark.slow
def test_kill_the_window_while_its_worker_indexes(tmp_path: Path, tiny_ckpt: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    n = 700  # rows are written every 256 or every 2 s: several commits before the end
    for i in range(n):
        (photos / f"w{i:03d}.jpg").write_bytes(_jpeg(_noise((64, 48), 9000 + i)))
    before = tree_state(photos)
    data = _data_dir(tmp_path, tiny_ckpt, folders=[str(photos)], rescan_on_start=True, ocr_enabled=False)
    proc = _start(data, "gui", module="imgrag_desktop.cli")
    try:
        reached = _wait(proc, lambda: 0 < _count(data) < n, timeout=400)
        rows = _count(data)
    finally:
        proc.kill()
        _out, err = proc.communicate(timeout=60)
    assert reached, f"the window's worker finished or died before the kill: {err[-2000:]}"
    assert len(_no_duplicates(data)) >= rows > 0
    out = json.loads(run_cli("index", str(photos), "--json", "--quiet", data_dir=data).stdout)
    assert out["images"] == n and out["unchanged"] >= rows and out["removed"] == 0
    assert len(_no_duplicates(data)) == n and tree_state(photos) == before
    print(f"\nwindow killed with {rows} of {n} rows written; the next run finished the rest")


@pytest.mark.slow
def test_kill_during_a_clip_switch_keeps_the_old_model_serving_and_the_next_run_resumes(tmp_path: Path) -> None:
    """SIGKILL `imgrag index` while it re-embeds for a newly chosen CLIP model: every row still
    has the old model's vector (searches go on), the new vectors written so far are kept, and
    the next run embeds only the rest, then switches."""
    import signal

    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.indexing.stages import STAGES, run_later_stages
    from imgrag_desktop.models.clip import ClipEncoder, write_tiny_checkpoint
    from imgrag_desktop.services import Services
    from tests.unit.indexing.test_reembed import _photos

    n = 80
    old = write_tiny_checkpoint(tmp_path / "old.pt", seed=1)
    new = write_tiny_checkpoint(tmp_path / "new.pt", seed=2)
    old_id, new_id = (ClipEncoder("imgrag-tiny", "", str(p)).model_id for p in (old, new))
    photos, data = tmp_path / "photos", tmp_path / "data"
    _photos(photos, n)
    cfg = AppConfig.load(data, "default")
    s = cfg.settings
    s.clip_model, s.clip_pretrained, s.clip_checkpoint, s.device = "imgrag-tiny", "", str(old), "cpu"
    s.ocr_enabled = s.captions_enabled = s.faces_enabled = False
    s.batch_size = 1  # one commit per picture: the kill lands in the middle
    cfg.save()
    Services(cfg).indexer().index_paths([str(photos)])
    cfg.settings.clip_checkpoint = str(new)
    cfg.save()

    def made() -> int:
        try:
            return _count(data, "clip_model_next IS NOT NULL")
        except Exception:  # the column is not there yet
            return 0

    cmd = [sys.executable, "-m", "imgrag_desktop.cli", "--profile", "default", "--data-dir", str(data),
           "index", str(photos)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert _wait(proc, lambda: made() >= 3), proc.communicate()[1][-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    kept = made()
    assert 3 <= kept < n
    assert _no_duplicates(data) and _count(data) == n
    assert _count(data, f"clip_model = '{old_id}' AND visual IS NOT NULL") == n  # the old vectors still serve

    svc = Services(AppConfig.load(data, "default"))
    assert svc.clip.model_id == old_id
    assert svc.indexer().index_paths([str(photos)]).unchanged == n
    out = run_later_stages(svc, stages=[st for st in STAGES if st.name == "reembed"])
    assert out["reembed"]["switched"] and out["reembed"]["embedded"] == n - kept
    assert _count(data, f"clip_model = '{new_id}' AND visual IS NOT NULL") == n
