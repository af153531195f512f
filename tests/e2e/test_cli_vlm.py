"""`imgrag ask`, `imgrag models` and `imgrag captions` end to end, as subprocesses.

The test profile answers with the tiny random vision pair it generates in its data dir, so the
answers are gibberish, but retrieval, pictures, prompt, streaming and citations are real.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, SCREENSHOTS, run_cli

PICKED = ["03_parse_emails.png", "04_parse_email_skip_invalid.png", "08_paragraphs.png", "18_qrcode_phone_number.png",
          "10_font_sizes.png"]


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    if not SCREENSHOTS.is_dir():
        pytest.fail(f"shared screenshots not found at {SCREENSHOTS}")
    d = tmp_path / "shots"
    d.mkdir()
    for name in PICKED:
        shutil.copy2(SCREENSHOTS / name, d / name)
    return d


def run_default(*args: str, data_dir: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "imgrag_desktop.cli", "--data-dir", str(data_dir), "--profile", "default", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})


def test_ask_json_answers_with_citations_of_indexed_pictures(tmp_path, shots):
    data = tmp_path / "data"
    run_cli("index", str(shots), "--quiet", data_dir=data)
    out = json.loads(run_cli("ask", "which e-mail addresses are shown?", "--json", data_dir=data).stdout)
    indexed = {str(p) for p in shots.iterdir()}
    assert isinstance(out["answer"], str) and out["answer"].strip()
    assert out["citations"] and set(out["citations"]) <= indexed
    assert all(os.path.isabs(p) for p in out["citations"])
    assert out["looked_at_images"] is True and len(out["sources"]) == 4
    # Evidence, always: lines of the pictures' text with their boxes, the addresses among the best.
    ev = out["evidence"]
    assert ev and all(e["path"] in indexed and e["text"] and (e["box"] is None or len(e["box"]) == 4) for e in ev)
    assert any("@test.com" in e["text"] for e in ev[:3])
    # The tiny model writes gibberish: what is shown is checked, so it is an address from the text
    # (or an honest "I don't know"), never the gibberish.
    assert out["status"] in ("supported", "extracted", "unknown") and out["model_answer"] is not None
    if out["status"] == "extracted":
        assert "@test.com" in out["answer"] and out["quote"]["text"] in [e["text"] for e in ev]

    human = run_cli("ask", "which chapter is shown?", "-k", "2", data_dir=data).stdout
    listed = [line for line in human.splitlines() if re.match(r"^[* ]\[\d\] /", line)]
    assert len(listed) == 2 and all(line.split("] ", 1)[1] in indexed for line in listed)
    assert "Evidence (the lines of text that bear on the question):" in human


def test_captions_command_and_caption_stage_after_index(tmp_path, coco_dir):
    # Photos: their OCR is skipped, so they are ready for captions right after indexing
    # (screenshots wait until their OCR text is read).
    shots = tmp_path / "photos"
    shots.mkdir()
    photos = sorted(coco_dir.glob("*/*.jpg"))[:6]
    for p in photos[:5]:
        shutil.copy2(p, shots / p.name)
    data = tmp_path / "data"
    run_cli("index", str(shots), "--quiet", data_dir=data)
    status = json.loads(run_cli("status", "--json", data_dir=data).stdout)
    assert status["caption_pending"] == 0  # captions are off by default
    out = json.loads(run_cli("captions", "--requeue", "--json", "--quiet", data_dir=data).stdout)
    waiting_for_ocr = status["ocr_pending"]  # a photo taken for a document waits for its OCR text
    assert waiting_for_ocr < 5
    assert out["requeued"] == 5 and out["captioned"] == 5 - waiting_for_ocr and out["remaining"] == waiting_for_ocr

    # With captions switched on, `index` captions new pictures itself.
    settings = json.loads((data / "settings.json").read_text())
    settings["captions_enabled"] = True
    (data / "settings.json").write_text(json.dumps(settings))
    shutil.copy2(photos[5], shots / photos[5].name)
    report = json.loads(run_cli("index", str(shots), "--json", "--quiet", data_dir=data).stdout)
    assert report["added"] == 1 and report["captions"]["captioned"] + report["captions"]["remaining"] >= 1


def test_models_use_local_files_and_check(tmp_path, shots):
    from imgrag_desktop.models.tiny_vlm import write_tiny_vlm

    data = tmp_path / "data"
    model, mmproj = write_tiny_vlm(tmp_path / "mine")
    out = json.loads(run_cli("models", "use", str(model), "--mmproj", str(mmproj), "--json", data_dir=data).stdout)
    assert out["vlm_model"] == str(model)
    check = json.loads(run_cli("models", "check", "--json", data_dir=data).stdout)
    assert check["vision"] is True and check["handler"] == "mtmd"
    # Files picked by the user were probed in a subprocess once, and remembered.
    assert (data / "models" / "vlm-verified.json").is_file()
    # Swapped files are refused with the reason.
    bad = run_cli("models", "use", str(mmproj), "--mmproj", str(model), data_dir=data, check=False)
    assert bad.returncode == 1 and "vision projector" in bad.stderr and bad.stderr.count("\n") == 1


def test_default_profile_without_a_model_explains_how_to_get_one(tmp_path):
    proc = run_default("ask", "which e-mail addresses are shown?", data_dir=tmp_path / "d")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "imgrag models download" in proc.stderr and "vlm_model" in proc.stderr


def test_models_list_and_offline_download(tmp_path):
    listing = json.loads(run_default("models", "list", "--json", data_dir=tmp_path / "d").stdout)
    names = {m["name"]: m for m in listing}
    assert "smolvlm-256m" in names and names["smolvlm-256m"]["vision"] and not names["smolvlm-256m"]["installed"]
    for env in ({"HF_HUB_OFFLINE": "1"}, {"HF_ENDPOINT": "http://127.0.0.1:9"}):
        proc = run_default("models", "download", "smolvlm-256m", data_dir=tmp_path / "d", env=env)
        assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "settings.json" in proc.stderr
    unknown = run_default("models", "download", "nonesuch", data_dir=tmp_path / "d")
    assert unknown.returncode == 1 and "smolvlm-256m" in unknown.stderr
