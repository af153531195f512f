"""A later stage that cannot run tells the window user: status bar, Problems button, errors panel.

OCR is made to fail for real: the OCR languages in Settings name one Tesseract has no data for
(or Tesseract is missing altogether), so the engine's own check refuses to read.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tests.conftest import SCREENSHOTS
from tests.support.data import fail_without_shared_data

SHOTS = ["05_detect_text_with_low_contrast.png", "07_parse_paragraphs_of_text.png"]


def test_ocr_that_cannot_run_is_shown_in_the_status_bar_and_the_errors_panel(qtbot: Any, make_window: Any,
                                                                              tmp_path: Path) -> None:
    from imgrag_desktop.config import AppConfig

    fail_without_shared_data()
    assert all((SCREENSHOTS / n).is_file() for n in SHOTS), f"screenshots missing in {SCREENSHOTS}"
    shots = tmp_path / "shots"
    shots.mkdir()
    for n in SHOTS:
        shutil.copy2(SCREENSHOTS / n, shots / n)
    cfg = AppConfig.load(tmp_path / "data", "test")
    cfg.settings.ocr_enabled = True
    cfg.settings.ocr_languages = "qqq"  # no Tesseract has data for it
    cfg.save()
    w = make_window(cfg.data_dir)
    shown: list[str] = []
    w.statusBar().messageChanged.connect(shown.append)
    with qtbot.waitSignal(w.indexFinished, timeout=120_000) as blocker:
        w.add_folders([str(shots)])
    report = blocker.args[0]
    assert report["added"] == 2
    assert "error" in report["ocr"]  # the stage's entry, as `imgrag index --json` gives it
    qtbot.waitUntil(lambda: any(m.startswith("OCR skipped: ") for m in shown), timeout=10_000)
    qtbot.waitUntil(lambda: w.problems_button.isVisible(), timeout=10_000)
    w.show_errors_panel()
    panel = w.errors_panel
    assert panel is not None and panel.isVisible()
    reasons = [r[1] for r in panel.rows()]
    ocr = [r for r in reasons if r.startswith("OCR skipped: ")]
    assert len(ocr) == 1, reasons  # listed once, however often the watcher meets it again
    assert report["ocr"]["error"] in ocr[0]
    assert "1 error in this session" in panel.summary.text()
