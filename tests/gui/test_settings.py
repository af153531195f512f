"""Settings and window state persist across restarts, and are checked before they apply."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize
from PySide6.QtWidgets import QDialogButtonBox

from tests.gui.conftest import copy_images
from tests.gui.test_indexing import fresh_data


def _indexed_window(qtbot: Any, make_window: Any, tmp_path: Path, images: list[Path]) -> tuple[Path, Path, Any]:
    """(photos folder, data dir, window) with the photos indexed through the window."""
    photos = copy_images(images, tmp_path / "photos")
    data = fresh_data(tmp_path)
    w = make_window(data)
    with qtbot.waitSignal(w.indexFinished, timeout=120_000):
        w.add_folders([str(photos)])
    return photos, data, w


def test_settings_and_window_state_survive_a_restart(qtbot: Any, make_window: Any, tmp_path: Path,
                                                     monkeypatch: Any, coco_jpegs: list[Path]) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # where the data-dir choice is kept
    monkeypatch.delenv("IMGRAG_DATA_DIR", raising=False)
    photos, data, w = _indexed_window(qtbot, make_window, tmp_path, coco_jpegs[:3])
    dlg = w.open_settings()
    dlg.model.setCurrentText("ViT-B-16")
    dlg.pretrained.setText("laion2b_s34b_b88k")
    dlg.device.setCurrentText("cpu")
    dlg.precision.setCurrentText("fp32")
    dlg.results_limit.setValue(123)
    dlg.rescan.setChecked(False)
    elsewhere = tmp_path / "elsewhere"
    dlg.data_dir.setText(str(elsewhere))
    with qtbot.waitSignal(w.engineReady, timeout=120_000):  # the model is reloaded in the background
        dlg.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    w.resize(760, 560)  # within the offscreen screen (800×600): restoring clamps to it
    w.size_slider.setValue(240)
    w.act_preview.setChecked(False)
    w.folders_dock.hide()
    w.close()

    w2 = make_window(data)
    s = w2.cfg.settings
    assert (s.clip_model, s.clip_pretrained, s.clip_checkpoint, s.device) == ("ViT-B-16", "laion2b_s34b_b88k", "", "cpu")
    assert s.precision == "fp32"
    assert w2.state["results_limit"] == 123 and w2.state["rescan_on_start"] is False
    assert w2.size() == QSize(760, 560)
    assert w2.view.thumb_size == 240 and w2.size_slider.value() == 240
    assert not w2.preview.isVisible() and not w2.act_preview.isChecked()
    assert not w2.folders_dock.isVisible()
    assert w2.folders_panel.folders() == [str(photos)]
    qtbot.waitUntil(lambda: w2.model.rowCount() == 3, timeout=30_000)
    assert not w2.indexing  # no rescan at start: it was switched off
    from imgrag_desktop.gui.state import resolve_data_dir

    assert resolve_data_dir(None, "test") == str(elsewhere)  # used from the next start
    assert resolve_data_dir(str(data), "test") == str(data)  # --data-dir still wins


def test_invalid_settings_are_refused_in_the_dialog(qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    data = fresh_data(tmp_path)
    w = make_window(data)
    dlg = w.open_settings()
    dlg.checkpoint.setText(str(tmp_path / "missing.pt"))
    dlg.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert dlg.isVisible() and "does not exist" in dlg.error.text()
    dlg.checkpoint.setText("")
    (tmp_path / "a-file").write_text("x")
    dlg.data_dir.setText(str(tmp_path / "a-file"))
    dlg.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert dlg.isVisible() and "is a file" in dlg.error.text()
    dlg.data_dir.setText(str(data))
    dlg.device.setCurrentText("cpu")
    dlg.precision.setCurrentText("fp16")
    dlg.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert dlg.isVisible() and "fp16 needs a GPU" in dlg.error.text()
    dlg.reject()
    assert json.loads((data / "settings.json").read_text())["clip_checkpoint"] == ""


def test_saving_keeps_other_settings_and_folders_added_by_the_cli(qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    from imgrag_desktop.config import AppConfig

    data = fresh_data(tmp_path)
    cfg = AppConfig.load(data, "test")
    cfg.settings.ocr_languages = "deu+eng"
    cfg.settings.extra["some_future_setting"] = {"x": 1}
    cfg.save()
    w = make_window(data)
    other = AppConfig.load(data, "test")  # `imgrag index` adds a folder while the window is open
    other.settings.folders.append(str(tmp_path / "added-by-cli"))
    other.save()
    w.size_slider.setValue(200)
    w.close()
    saved = json.loads((data / "settings.json").read_text())
    assert saved["folders"] == [str(tmp_path / "added-by-cli")]
    assert saved["ocr_languages"] == "deu+eng" and saved["some_future_setting"] == {"x": 1}
    assert saved["gui"]["thumb_size"] == 200


def test_changing_precision_reloads_the_model_without_reindexing(qtbot: Any, make_window: Any, tmp_path: Path,
                                                                  coco_jpegs: list[Path]) -> None:
    import torch

    photos, data, w = _indexed_window(qtbot, make_window, tmp_path, coco_jpegs[:2])
    dlg = w.open_settings()
    dlg.precision.setCurrentText("bf16")
    with qtbot.waitSignal(w.engineReady, timeout=120_000):
        dlg.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    clip = w.host.services.clip
    _ = clip.preprocess  # queries may run on the ONNX export; image batches load the torch model
    assert clip.precision == "bf16" and clip.dtype == torch.bfloat16
    assert json.loads((data / "settings.json").read_text())["precision"] == "bf16"
    # The vectors indexed before still match: an indexed photo finds itself first.
    hits = w.host.services.searcher.similar(str(photos / coco_jpegs[0].name), k=2)
    assert hits[0].path == str(photos / coco_jpegs[0].name)


def test_settings_hints_fit_at_the_default_and_the_smallest_size(qtbot: Any, tmp_path: Path) -> None:
    """Every label shows all of its text: a one-line label is as wide as its text, a wrapped
    hint is as tall as its lines at the width it got (it was cut to one line before)."""
    from PySide6.QtWidgets import QLabel

    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.gui.settings_dialog import SettingsDialog

    dlg = SettingsDialog(AppConfig.load(tmp_path / "data", "test"), results_limit=100, rescan_on_start=True)
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitExposed(dlg)
    for size in (dlg.size(), dlg.minimumSize()):
        dlg.resize(size)
        qtbot.wait(50)
        labels = [lab for lab in dlg.findChildren(QLabel) if lab.isVisible() and lab.text()]
        wrapped = [lab for lab in labels if lab.wordWrap()]
        assert len(wrapped) >= 3 and any(lab.heightForWidth(lab.width()) > lab.fontMetrics().height() * 1.5
                                         for lab in wrapped)  # at least one hint needs two lines
        for lab in labels:
            if lab.wordWrap():
                assert lab.height() >= lab.heightForWidth(lab.width()), (lab.text(), lab.size())
            else:
                assert lab.width() >= lab.sizeHint().width(), (lab.text(), lab.size())
