"""The OCR engine and languages in Settings: offered, checked, applied."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imgrag_desktop.config import AppConfig
from imgrag_desktop.gui.settings_dialog import SettingsDialog, apply_values, validate
from imgrag_desktop.models.ocr import ENGINES


def test_engine_and_languages_are_chosen_and_checked(qtbot: Any, tmp_path: Path) -> None:
    cfg = AppConfig.load(tmp_path / "data", "test")
    dlg = SettingsDialog(cfg, results_limit=100, rescan_on_start=True)
    qtbot.addWidget(dlg)
    assert [dlg.ocr_engine.itemText(i) for i in range(dlg.ocr_engine.count())] == list(ENGINES)
    assert dlg.ocr_engine.currentText() == cfg.settings.ocr_engine == "auto"
    from imgrag_desktop.models.ocr_detect import languages_supported

    tip = dlg.ocr_languages.toolTip()
    assert "deu" in tip and ", ".join(languages_supported()) in tip  # what RapidOCR reads here is offered
    assert "docs/models.md" in tip  # and where to read how to add a language
    dlg.ocr_engine.setCurrentText("rapidocr")
    dlg.ocr_languages.setText("eng+kor")  # two scripts: RapidOCR reads one at a time
    assert "one script" in validate(dlg.values())
    dlg.ocr_languages.setText("")
    assert "OCR languages" in validate(dlg.values())
    dlg.ocr_languages.setText("deu+eng")
    assert validate(dlg.values()) == ""
    state: dict[str, Any] = {}
    apply_values(cfg, state, dlg.values())
    assert (cfg.settings.ocr_engine, cfg.settings.ocr_languages) == ("rapidocr", "deu+eng")
