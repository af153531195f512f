"""Switching CLIP models in the window: the pictures are re-embedded in the background, with
progress and Cancel, while searches keep using the previous model (indexing/reembed.py)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer

from imgrag_desktop.config import AppConfig
from imgrag_desktop.models.clip import ClipEncoder, write_tiny_checkpoint
from imgrag_desktop.services import Services
from tests.unit.indexing.test_reembed import SENTINEL, _photos

N = 8


def _library(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    old = write_tiny_checkpoint(tmp_path / "old.pt", seed=1)
    new = write_tiny_checkpoint(tmp_path / "new.pt", seed=2)
    photos, data = tmp_path / "photos", tmp_path / "data"
    _photos(photos, N)
    cfg = AppConfig.load(data, "default")
    s = cfg.settings
    s.clip_model, s.clip_pretrained, s.clip_checkpoint, s.device = "imgrag-tiny", "", str(old), "cpu"
    s.ocr_enabled = s.captions_enabled = s.faces_enabled = False
    s.folders = [str(photos)]
    s.batch_size = 4  # the re-embed goes in batches of 4: Cancel comes after the first
    cfg.save()
    svc = Services(cfg)
    svc.indexer().index_paths([str(photos)])
    paths = svc.store.query(None, ["path"]).column("path").to_pylist()
    svc.store.update_rows({p: {"ocr_text": SENTINEL, "ocr_status": "done"} for p in paths})
    return data, photos, old, new


def test_switching_models_in_the_window_reembeds_in_the_background(qtbot: Any, make_window: Any, tmp_path: Path,
                                                                  monkeypatch: Any) -> None:
    from imgrag_desktop.store import Store

    data, photos, old, new = _library(tmp_path)
    old_id = ClipEncoder("imgrag-tiny", "", str(old)).model_id
    new_id = ClipEncoder("imgrag-tiny", "", str(new)).model_id
    w = make_window(data, profile="default")
    with qtbot.waitSignal(w.indexFinished, timeout=120_000):  # the start-up rescan: nothing to do
        pass
    labels: list[str] = []
    clicked = threading.Event()

    def look() -> None:  # what the bar shows once it took the progress in; then the user clicks Cancel
        labels.append(w.queue.label.text())
        if not clicked.is_set():
            w.queue.cancel_button.click()
            clicked.set()

    def on_progress(p: Any) -> None:
        if p.stage == "reembed":
            QTimer.singleShot(0, look)

    def hold_first_batch(p: Any) -> None:  # in the worker's thread: the click lands during the first batch
        if p.stage == "reembed" and not clicked.is_set():
            clicked.wait(30)

    w.queue.progress.connect(on_progress)
    w.queue.worker.progress.connect(hold_first_batch, Qt.ConnectionType.DirectConnection)
    w.set_watch_paused(True)  # the watcher would run the same stages; here the queue's Cancel is under test
    # "Use files on this computer…" on the Models page picks the new checkpoint (the file
    # dialog, the one part of the OS here, answers with its path).
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(new), "")))
    dlg = w.open_models()
    with qtbot.waitSignal(w.engineReady, timeout=120_000) as ready:
        dlg.btn_local.click()
    assert ready.args[0]["model"] == old_id and ready.args[0]["next"] == new_id
    with qtbot.waitSignal(w.indexFinished, timeout=120_000) as first:
        pass
    assert labels and labels[0].startswith("Updating visual search for the new model: ")
    assert labels[0].endswith(f" / {N:,}")
    assert first.args[0]["reembed"]["remaining"] > 0 and "switched" not in first.args[0]["reembed"]
    # Searching meanwhile (visual mode): the old model's vectors answer, every picture is found.
    w.mode_combo.setCurrentIndex(w.mode_combo.findData("visual"))
    with qtbot.waitSignal(w.resultsShown, timeout=30_000, check_params_cb=lambda i: i.get("kind") == "text"):
        qtbot.keyClicks(w.search_edit, "a photo")
        qtbot.keyClick(w.search_edit, Qt.Key.Key_Return)
    assert len(w.model.paths()) == N
    assert {r["clip_model"] for r in Store(data / "index.lancedb").query(None, ["clip_model"]).to_pylist()} == {old_id}
    # Rescan (or the next start) resumes and switches.
    with qtbot.waitSignal(w.indexFinished, timeout=120_000) as second:
        w.rescan()
    rep = second.args[0]["reembed"]
    assert rep["switched"] is True and rep["embedded"] == first.args[0]["reembed"]["remaining"]
    rows = Store(data / "index.lancedb").query(None, ["clip_model", "ocr_text"]).to_pylist()
    assert {r["clip_model"] for r in rows} == {new_id}
    assert all(r["ocr_text"] == SENTINEL for r in rows)  # the text was not read again
    # The window's searches now read the new model's vectors (none of the old model remain).
    with qtbot.waitSignal(w.resultsShown, timeout=30_000, check_params_cb=lambda i: i.get("kind") == "text"):
        w.search_edit.clear()
        qtbot.keyClicks(w.search_edit, "a picture")
        qtbot.keyClick(w.search_edit, Qt.Key.Key_Return)
    assert len(w.model.paths()) == N
    assert w.host.services.clip.model_id == new_id
