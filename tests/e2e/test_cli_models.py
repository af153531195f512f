"""`imgrag models` for CLIP and VLMs through the real CLI, downloading from a hub on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli
from tests.support.hub_server import LoopbackHub

TINY = "imgrag-tiny/hf-hub:imgrag/imgrag-tiny"


def run_default(*args: str, data_dir: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "imgrag_desktop.cli", "--data-dir", str(data_dir), "--profile", "default", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})


@pytest.fixture
def hub(tiny_ckpt):
    with LoopbackHub() as h:
        h.add("imgrag/imgrag-tiny", tiny_ckpt, "open_clip_model.safetensors.absent")  # not served by that name
        h.add("imgrag/imgrag-tiny", tiny_ckpt, "open_clip_pytorch_model.bin")
        yield h


def test_a_clip_model_is_listed_downloaded_checked_and_used(hub, tmp_path):
    data = tmp_path / "d"
    data.mkdir()
    (data / "settings.json").write_text(json.dumps({"clip_model": "imgrag-tiny",
                                                     "clip_pretrained": "hf-hub:imgrag/imgrag-tiny"}))
    env = {"HF_ENDPOINT": hub.endpoint, "HF_HUB_CACHE": str(tmp_path / "no-default-cache")}
    listing = json.loads(run_default("models", "list", "--json", data_dir=data, env=env).stdout)
    assert isinstance(listing, list) and {"clip", "vlm"} <= {m["kind"] for m in listing}
    assert all({"name", "kind", "installed"} <= set(m) for m in listing)
    mine = {m["name"]: m for m in listing}[TINY]
    assert mine["in_use"] and not mine["installed"]
    assert "vit-b-32-256" in {m["name"] for m in listing if m["kind"] == "clip"}

    proc = run_default("models", "download", TINY, "--json", data_dir=data, env=env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["kind"] == "clip" and Path(out["files"][0]).is_file()
    assert str(data / "models" / "hub") in out["files"][0]
    assert "open_clip_pytorch_model.bin" in proc.stderr  # the progress bar, on stderr
    listing = json.loads(run_default("models", "list", "--json", "--kind", "clip", data_dir=data, env=env).stdout)
    assert {m["name"]: m for m in listing}[TINY]["installed"]

    check = json.loads(run_default("models", "check", "clip", "--json", data_dir=data, env=env).stdout)
    assert check["ok"] and check["dim"] == 128
    # Offline from now on: the downloaded file serves, nothing asks the network.
    hub.stop()
    hub.stop = lambda: None
    doctor = json.loads(run_default("doctor", "--json", data_dir=data, env=env).stdout)
    clip = next(c for c in doctor["checks"] if c["name"] == "CLIP model")
    assert clip["ok"], clip


def test_a_failed_clip_download_is_one_line_and_use_refuses_what_is_missing(hub, tmp_path):
    data = tmp_path / "d"
    proc = run_default("models", "download", "vit-b-32", data_dir=data, env={"HF_ENDPOINT": hub.endpoint})
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "404" in proc.stderr
    use = run_default("models", "use", "vit-b-32", data_dir=data)
    assert use.returncode == 1 and "not downloaded" in use.stderr and use.stderr.count("\n") == 1


def test_the_test_profile_lists_models_as_json(tmp_path):
    listing = json.loads(run_cli("models", "list", "--json", data_dir=tmp_path / "d").stdout)
    assert isinstance(listing, list) and all({"name", "kind", "installed"} <= set(m) for m in listing)


def test_indexing_does_not_wait_for_clip_and_the_vectors_come_without_re_ocr(hub, tmp_path, shots_three):
    """Default profile, CLIP not downloaded: text in the images is searchable at once; after the
    download the next indexing fills the visual vectors and reads no OCR again."""
    data = tmp_path / "d"
    data.mkdir()
    (data / "settings.json").write_text(json.dumps({"clip_model": "imgrag-tiny",
                                                     "clip_pretrained": "hf-hub:imgrag/imgrag-tiny"}))
    # Its own ONNX folder: the session's shared one may hold an export of this model, made by
    # another test that downloaded it (this one is about a model never loaded here).
    env = {"HF_ENDPOINT": hub.endpoint, "HF_HUB_CACHE": str(tmp_path / "no-default-cache"),
           "IMGRAG_ONNX_DIR": str(tmp_path / "onnx")}
    first = run_default("index", str(shots_three), "--json", "--quiet", data_dir=data, env=env)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["added"] == 3 and report["ocr"]["read"] >= 1, report
    hits = json.loads(run_default("search", "regex101", "--json", data_dir=data, env=env).stdout)
    hits = hits["hits"] if isinstance(hits, dict) else hits
    assert hits and hits[0]["path"].endswith("01_parse_colored_url.png")
    status = json.loads(run_default("status", "--json", data_dir=data, env=env).stdout)
    assert status["visual_pending"] == 3
    visual = run_default("search", "a web page", "--mode", "visual", data_dir=data, env=env)
    assert visual.returncode == 1 and "models download" in visual.stderr and visual.stderr.count("\n") == 1
    assert run_default("models", "download", TINY, data_dir=data, env=env).returncode == 0
    second = run_default("index", str(shots_three), "--json", "--quiet", data_dir=data, env=env)
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)
    assert report["added"] == 0 and report["visual"]["filled"] == 3 and report["visual"]["waiting"] == 0, report
    assert not (report.get("ocr") or {}).get("read"), report  # the OCR was not read again
    hits = json.loads(run_default("search", "a web page", "--mode", "visual", "--json", "--min-score", "off",
                                  data_dir=data, env=env).stdout)
    hits = hits["hits"] if isinstance(hits, dict) else hits
    assert len(hits) == 3


@pytest.fixture
def shots_three(tmp_path):
    from tests.support.data import SCREENSHOTS

    d = tmp_path / "shots"
    d.mkdir()
    import shutil

    for name in ("00_parse_urls.png", "01_parse_colored_url.png", "03_parse_emails.png"):
        shutil.copy2(SCREENSHOTS / name, d / name)
    return d


@pytest.mark.slow
def test_switching_clip_models_reembeds_while_the_old_model_serves(tmp_path):
    """`imgrag models use` another CLIP: `status` tells what is coming, searches keep answering
    with the old model, the next `imgrag index` re-embeds (no OCR) and switches."""
    from imgrag_desktop.models.clip import ClipEncoder, write_tiny_checkpoint
    from tests.unit.indexing.test_reembed import _photos

    old = write_tiny_checkpoint(tmp_path / "old.pt", seed=1)
    new = write_tiny_checkpoint(tmp_path / "new.pt", seed=2)
    old_id, new_id = (ClipEncoder("imgrag-tiny", "", str(p)).model_id for p in (old, new))
    photos, data = tmp_path / "photos", tmp_path / "d"
    _photos(photos, 6)
    data.mkdir()
    (data / "settings.json").write_text(json.dumps({"clip_model": "imgrag-tiny", "clip_pretrained": "",
                                                     "clip_checkpoint": str(old), "device": "cpu",
                                                     "ocr_enabled": False}))

    def cli(*args: str) -> object:
        proc = run_default(*args, "--json", data_dir=data)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    assert cli("index", str(photos))["added"] == 6
    used = run_default("models", "use", str(new), data_dir=data)
    assert used.returncode == 0 and "in the background" in used.stdout, used.stderr
    status = cli("status")
    assert (status["visual_model"], status["visual_model_next"], status["reembed_remaining"]) == (old_id, new_id, 6)
    told = run_default("status", data_dir=data).stdout
    assert f"searches use {old_id} until 6 more picture(s) have vectors of {new_id}" in told
    hits = cli("search", "a photo", "--mode", "visual", "--min-score", "off")
    hits = hits["hits"] if isinstance(hits, dict) else hits
    assert len(hits) == 6  # the old model's vectors serve
    out = cli("index", str(photos))
    assert out["unchanged"] == 6 and out["added"] == out["updated"] == 0
    assert out["reembed"]["switched"] is True and out["reembed"]["embedded"] == 6
    status = cli("status")
    assert (status["visual_model"], status["visual_model_next"], status["reembed_remaining"]) == (new_id, None, 0)
    assert status["clip_models"] == {new_id: 6}
