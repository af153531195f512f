"""`imgrag index` runs the later stages through the one runner: a stage that cannot run is one
line on stderr and an error entry in the --json output, and the stages after it still run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from imgrag_desktop.cli import main as cli_main
from tests.conftest import SCREENSHOTS
from tests.support.data import fail_without_shared_data


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="Tesseract is not installed")
def test_ocr_that_cannot_run_is_a_warning_and_an_error_entry(tmp_path: Path, capsys: Any) -> None:
    from imgrag_desktop.config import AppConfig

    fail_without_shared_data()
    shots = tmp_path / "shots"
    shots.mkdir()
    shutil.copy2(SCREENSHOTS / "05_detect_text_with_low_contrast.png", shots / "a.png")
    cfg = AppConfig.load(tmp_path / "data", "test")
    cfg.settings.ocr_languages = "qqq"
    cfg.save()
    assert cli_main(["--data-dir", str(cfg.data_dir), "--profile", "test", "index", str(shots), "--quiet",
                     "--json"]) == 0
    out = capsys.readouterr()
    data = json.loads(out.out)
    assert "imgrag: OCR skipped: Tesseract has no data for language(s) qqq" in out.err
    assert set(data["ocr"]) == {"error"} and data["images"] == 1
    assert data["text"]["embedded"] == 1 and "keyword_index" in data["text"]
    assert list(data).index("ocr") < list(data).index("text")
    # Where the command's time went (issue 19): the pass's own phases, each later stage's wall
    # and CPU seconds, the process's peak memory.
    t = data["timings"]
    assert "scan" in t["visual_pass_phases_s"] and sum(t["visual_pass_phases_s"].values()) <= t["visual_pass_s"] + 0.5
    assert set(t["stage_cpu_seconds"]) == set(t["stage_seconds"]) >= {"ocr", "text", "faces"}
    assert t["later_stages_cpu_s"] >= 0 and t["process_cpu_s"] > 0 and t["peak_rss_mb"] > 0
