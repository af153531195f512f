"""Settings reads the chosen GGUF files' headers on a worker thread and fills the dialog in
when they have been read: a slow disk or a large file never freezes the window."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QDialogButtonBox

from tests.gui.test_indexing import fresh_data


def test_model_headers_are_read_off_the_gui_thread(qtbot: Any, make_window: Any, tmp_path: Path,
                                                  monkeypatch: Any) -> None:
    from imgrag_desktop.models import gguf_info
    from imgrag_desktop.models.tiny_vlm import write_tiny_vlm

    model, mmproj = write_tiny_vlm(tmp_path / "my-models")
    real = gguf_info.read_gguf
    readers: list[threading.Thread] = []

    def slow_read(path: Any) -> Any:  # a large file on a slow disk
        readers.append(threading.current_thread())
        time.sleep(0.6)
        return real(path)

    monkeypatch.setattr(gguf_info, "read_gguf", slow_read)
    w = make_window(fresh_data(tmp_path))
    dlg = w.open_settings()
    dlg.vlm_model.setCurrentText(str(mmproj))  # swapped: the headers say so
    dlg.vlm_mmproj.setText(str(model))
    ok = dlg.buttons.button(QDialogButtonBox.StandardButton.Ok)
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(20)
    ok.click()
    assert dlg.isVisible() and not ok.isEnabled() and "Checking" in dlg.error.text()
    qtbot.waitUntil(lambda: "projector" in dlg.error.text(), timeout=10_000)
    timer.stop()
    assert dlg.isVisible() and ok.isEnabled()
    assert readers and threading.main_thread() not in readers
    assert len(ticks) > 20  # the event loop ran while the headers were read
    dlg.vlm_model.setCurrentText(str(model))
    dlg.vlm_mmproj.setText(str(mmproj))
    ok.click()
    qtbot.waitUntil(lambda: not dlg.isVisible(), timeout=10_000)
    assert w.cfg.settings.vlm_model == str(model) and w.cfg.settings.vlm_mmproj == str(mmproj)
