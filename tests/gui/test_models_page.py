"""The Models page and the first run without CLIP: default profile, a hub on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.support.data import SCREENSHOTS
from tests.support.hub_server import LoopbackHub

TINY = "imgrag-tiny/hf-hub:imgrag/imgrag-tiny"
SHOTS = ("00_parse_urls.png", "01_parse_colored_url.png")


@pytest.fixture
def hub(tiny_ckpt: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    with LoopbackHub() as h:
        h.add("imgrag/imgrag-tiny", tiny_ckpt, "open_clip_pytorch_model.bin")
        monkeypatch.setenv("HF_ENDPOINT", h.endpoint)
        yield h


def _first_run_data(tmp_path: Path) -> tuple[Path, Path]:
    shots = tmp_path / "shots"
    shots.mkdir()
    for name in SHOTS:
        shutil.copy2(SCREENSHOTS / name, shots / name)
    data = tmp_path / "data"
    data.mkdir()
    (data / "settings.json").write_text(json.dumps({
        "clip_model": "imgrag-tiny", "clip_pretrained": "hf-hub:imgrag/imgrag-tiny", "folders": [str(shots)]}))
    return data, shots


def _rows(data: Path) -> dict[str, dict[str, Any]]:
    from imgrag_desktop.store import Store

    tbl = Store(data / "index.lancedb").query(None, ["path", "clip_model", "ocr_text", "ocr_status", "visual"])
    return {r["path"]: r for r in tbl.to_pylist()}


def test_first_run_indexes_text_then_gains_visual_search_from_the_download(qtbot: Any, make_window: Any, hub: Any,
                                                                        tmp_path: Path, monkeypatch: Any) -> None:
    from imgrag_desktop.gui.models_page import ModelsDialog

    # A first run has no ONNX export of the model (the session's shared folder may hold one).
    monkeypatch.setenv("IMGRAG_ONNX_DIR", str(tmp_path / "onnx"))
    data, shots = _first_run_data(tmp_path)
    w = make_window(data, profile="default", wait_ready=False)
    # The folder is indexed without CLIP: scanned, OCR'd, searchable by its text.
    with qtbot.waitSignal(w.indexFinished, timeout=300_000) as first:
        pass
    assert first.args[0]["added"] == 2
    rows = _rows(data)
    assert all(r["clip_model"] == "" and r["visual"] is None for r in rows.values())
    text_before = {p: r["ocr_text"] for p, r in rows.items()}
    assert any("regex101" in t for t in text_before.values())
    # The first-run assistant is open, says what waits, and offers the model in settings.
    qtbot.waitUntil(lambda: isinstance(getattr(w, "_models_dialog", None), ModelsDialog), timeout=60_000)
    dlg = w._models_dialog
    qtbot.waitUntil(lambda: dlg.selected() is not None, timeout=30_000)
    assert "waiting" in dlg.intro.text() and dlg.selected()["name"] == TINY
    assert dlg.btn_download.isEnabled() and not dlg.btn_pause.isEnabled()
    # Download from the loopback hub; the window loads the model and fills the vectors.
    with qtbot.waitSignal(w.indexFinished, timeout=300_000) as second:
        with qtbot.waitSignal(dlg.downloaded, timeout=120_000):
            dlg.btn_download.click()
    assert "installed" in dlg.status.text()
    report = second.args[0]
    assert report["visual"]["filled"] == 2 and not (report.get("ocr") or {}).get("read"), report
    rows = _rows(data)
    assert all(r["clip_model"].startswith("imgrag-tiny/") and r["visual"] is not None for r in rows.values())
    assert {p: r["ocr_text"] for p, r in rows.items()} == text_before  # the OCR was not read again
    qtbot.waitUntil(lambda: dlg.rows and {r["name"]: r for r in dlg.rows}[TINY]["installed"], timeout=30_000)


def test_pause_keeps_the_partial_file_and_cancel_removes_it(qtbot: Any, hub: Any, tmp_path: Path) -> None:
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.gui.models_page import ModelsDialog
    from imgrag_desktop.models import catalogue

    data, _ = _first_run_data(tmp_path)
    cfg = AppConfig.load(data, "default")
    hub.state.delay_s = 0.01  # ~6 MB/s: time to press the buttons
    dlg = ModelsDialog(cfg)
    qtbot.addWidget(dlg)
    qtbot.waitUntil(lambda: bool(dlg.rows), timeout=30_000)
    dlg.select(TINY)
    events: list[Any] = []
    dlg.worker.progress.connect(events.append)
    dlg.btn_download.click()
    qtbot.waitUntil(lambda: any(e.done > 1 << 20 for e in events), timeout=60_000)
    assert dlg.btn_pause.isEnabled() and "MB/s" in dlg.status.text() and "left" in dlg.status.text()
    dlg.btn_pause.click()
    qtbot.waitUntil(lambda: not dlg.busy, timeout=30_000)
    assert dlg.status.text().startswith("Paused")
    qtbot.waitUntil(lambda: catalogue.clip_partial(cfg, catalogue.find(TINY)[1]) > 1 << 20, timeout=10_000)
    assert not catalogue.clip_installed(cfg, catalogue.find(TINY)[1])
    qtbot.waitUntil(lambda: "partly downloaded" in dlg.table.item(dlg.rows.index(
        next(r for r in dlg.rows if r["name"] == TINY)), 7).text(), timeout=30_000)
    # Resume, then cancel: the partial file goes.
    events.clear()
    dlg.select(TINY)
    dlg.btn_download.click()
    qtbot.waitUntil(lambda: bool(events) and events[0].done > 1 << 20, timeout=60_000)  # resumed, not from zero
    dlg.btn_cancel.click()
    qtbot.waitUntil(lambda: not dlg.busy, timeout=30_000)
    assert "cancelled" in dlg.status.text()
    assert catalogue.clip_partial(cfg, catalogue.find(TINY)[1]) == 0
    dlg.close()
    dlg.stop_worker()
