"""The status bar's note while a model is exported to ONNX (gui/export_status.py), and the
command line's line on stderr when it waits for one (cli.wait_for_exports)."""

from __future__ import annotations

import threading

from PySide6.QtWidgets import QWidget

from imgrag_desktop import cli
from imgrag_desktop.gui.export_status import ExportStatus
from imgrag_desktop.models import onnx_clip


def _export_until(release: threading.Event, label: str) -> threading.Thread:
    """An export thread as the encoders start them, busy until `release` is set."""
    return onnx_clip.start_export(lambda: release.wait(30), label, "test-onnx-export")


def test_the_window_shows_an_export_while_it_runs(qtbot):
    parent = QWidget()
    qtbot.addWidget(parent)
    status = ExportStatus(parent, poll_ms=50)
    status.refresh()
    assert status.label.isHidden() and status.label.text() == ""
    release = threading.Event()
    thread = _export_until(release, "CLIP ViT-B-32")
    try:
        qtbot.waitUntil(lambda: not status.label.isHidden(), timeout=5000)
        assert status.label.text() == "Preparing the fast query runtime for CLIP ViT-B-32 (once)…"
        assert "ONNX" in status.label.toolTip()
    finally:
        release.set()
        thread.join(10)
    qtbot.waitUntil(lambda: status.label.isHidden(), timeout=5000)
    assert onnx_clip.exports_running() == []


def test_the_command_line_says_why_it_waits_and_only_then(capsys):
    cli.wait_for_exports()
    assert capsys.readouterr().err == ""  # nothing exported: no line
    release = threading.Event()
    threads = [_export_until(release, "CLIP ViT-B-32"), _export_until(release, "the text model all-MiniLM-L6-v2")]
    assert onnx_clip.exports_running() == ["CLIP ViT-B-32", "the text model all-MiniLM-L6-v2"]
    threading.Timer(0.3, release.set).start()
    cli.wait_for_exports()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        "preparing the fast query runtime for CLIP ViT-B-32 and the text model all-MiniLM-L6-v2 (once")
    assert not any(t.is_alive() for t in threads) and onnx_clip.exports_running() == []
    later = threading.Event()
    thread = _export_until(later, "CLIP ViT-B-32")
    threading.Timer(0.3, later.set).start()
    assert onnx_clip.exports_running() == ["CLIP ViT-B-32"]
    cli.wait_for_exports(say=False)  # after a failure: its reason stays the only line
    assert capsys.readouterr().err == "" and not thread.is_alive()
