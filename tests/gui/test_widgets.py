"""The grid with 10,000 results, the preview's word boxes, and the search-mode plumbing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtGui import QImage

from imgrag_desktop.gui.automation import Heartbeat
from imgrag_desktop.gui.preview import PreviewPanel
from imgrag_desktop.gui.result_model import ResultsModel
from imgrag_desktop.gui.results_view import ResultsView
from imgrag_desktop.gui.thumbnails import ImageLoader
from imgrag_desktop.gui.workers import QueryWorker, Request, ResultItem
from imgrag_desktop.types import Hit
from tests.gui.conftest import copy_images


def test_ten_thousand_results_decode_only_what_is_seen(qtbot: Any, tmp_path: Path, coco_jpegs: list[Path]) -> None:
    src = sorted(copy_images(coco_jpegs[:20], tmp_path / "src").glob("*.jpg"))
    many = tmp_path / "many"
    many.mkdir()
    paths = []
    for i in range(10_000):  # 10,000 distinct files (hard links: cheap, and each is decoded on its own)
        p = many / f"img{i:05d}.jpg"
        os.link(src[i % len(src)], p)
        paths.append(str(p))
    loader = ImageLoader(tmp_path / "thumbs", threads=2)
    model = ResultsModel(loader)
    view = ResultsView(thumb_size=160)
    view.setModel(model)
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    qtbot.waitExposed(view)
    model.set_items([ResultItem(Hit(p, score=1.0 - i / 10_000, width=640, height=480)) for i, p in enumerate(paths)])
    qtbot.waitUntil(lambda: loader.requested > 0 and not loader.busy, timeout=30_000)
    on_screen = loader.requested
    cols = view.columns()
    # Cells fill the width: no room is left for one more column.
    assert view.viewport().width() - cols * view.gridSize().width() < view.gridSize().width()
    assert view.gridSize().width() >= 160
    assert on_screen <= cols * (view.viewport().height() // view.gridSize().height() + 2)
    beat = Heartbeat(10)
    beat.start()
    sb = view.verticalScrollBar()
    for step in range(1, 41):
        sb.setValue(sb.maximum() * step // 40)
        qtbot.wait(15)
    last = paths[-1]
    qtbot.waitUntil(lambda: loader.thumbnail(last) is not None, timeout=60_000)
    beat.stop()
    print(f"\nscrolling 10,000 results: {loader.requested} thumbnails decoded, heartbeat {beat.summary()}")
    assert loader.requested < 1500  # a screenful per stop, not 10,000
    loader.shutdown()


def test_preview_draws_matched_word_boxes_over_the_image(qtbot: Any, coco_jpegs: list[Path]) -> None:
    path = str(coco_jpegs[0])
    image = QImage(path)
    w, h = image.width(), image.height()
    words = [{"text": "STOP", "x": w // 4, "y": h // 4, "w": w // 2, "h": h // 4}]
    panel = PreviewPanel()
    qtbot.addWidget(panel)
    panel.resize(420, 760)
    panel.show()
    qtbot.waitExposed(panel)
    hit = Hit(path, 0.42, size=1234, width=w, height=h, ocr_text="STOP sign ahead", reasons=["keyword"],
              matched_words=words)
    panel.show_item(ResultItem(hit))
    panel.set_image(path, image)
    qtbot.wait(50)
    target = panel.canvas.image_rect()
    (box,) = panel.canvas.box_rects()
    sx = target.width() / w
    assert abs(box.left() - (target.left() + w // 4 * sx)) < 1.0
    assert abs(box.width() - (w // 2) * sx) < 1.0
    shot = panel.canvas.grab().toImage()
    y = int(box.center().y())
    edge = [shot.pixelColor(int(box.left()) + dx, y) for dx in (-1, 0, 1)]
    assert any(c.red() > 200 and 90 < c.green() < 190 and c.blue() < 90 for c in edge), [c.name() for c in edge]
    assert panel.ocr.isVisibleTo(panel) and panel.ocr.toPlainText() == "STOP sign ahead"
    assert not panel.caption.isVisibleTo(panel)
    assert panel.facts["score"].text() == "0.4200" and panel.facts["why"].text() == "keyword"
    assert panel.facts["dimensions"].text() == f"{w} × {h}"
    # Without matched words nothing is drawn over the photo.
    panel.show_item(ResultItem(Hit(path, 0.1, width=w, height=h)))
    panel.set_image(path, image)
    assert panel.canvas.box_rects() == [] and not panel.ocr.isVisibleTo(panel)


class _ModeSearcher:
    def __init__(self) -> None:
        self.modes: list[str] = []
        self.cutoffs: list[Any] = []

    def search(self, text: str, k: int = 10, where: str | None = None, mode: str = "hybrid",
               min_score: Any = "auto") -> list[Hit]:
        self.modes.append(mode)
        self.cutoffs.append(min_score)
        return [Hit("/x.jpg", 0.5, reasons=[mode])]


class _Svc:
    def __init__(self, searcher: Any) -> None:
        self.searcher = searcher

    def read_context(self) -> Any:  # what the query readers know of the library: nothing here
        from imgrag_desktop.search.understand import ReadContext

        return ReadContext()


def test_search_mode_and_cut_off_are_passed_to_the_searcher() -> None:
    new = _ModeSearcher()
    req = Request("text", text="receipt", mode="keyword", min_score="off")
    assert QueryWorker._search(_Svc(new), req)[0].reasons == ["keyword"] and new.modes == ["keyword"]
    assert new.cutoffs == ["off"]


def test_mode_combo_reflects_the_installed_searcher(qtbot: Any, make_window: Any, indexed_dir: Path) -> None:
    w = make_window(indexed_dir)
    modes = [w.mode_combo.itemData(i) for i in range(w.mode_combo.count())]
    assert modes == ["hybrid", "visual", "textual", "keyword"] and w.mode_combo.isEnabled()


def test_show_in_folder_falls_back_to_opening_the_folder(qtbot: Any, monkeypatch: Any, tmp_path: Path) -> None:
    """Without a file manager that can select the file (no D-Bus session here), its folder opens."""
    from PySide6.QtCore import QUrl

    from imgrag_desktop.gui.window import reveal_in_file_manager

    f = tmp_path / "a.jpg"
    f.write_bytes(b"x")
    opened: list[QUrl] = []
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    reveal_in_file_manager(str(f), opened.append)
    assert opened == [QUrl.fromLocalFile(str(tmp_path))]
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")  # a bus that is not there
    reveal_in_file_manager(str(f), opened.append)
    qtbot.waitUntil(lambda: len(opened) == 2, timeout=10_000)
    assert opened[1] == QUrl.fromLocalFile(str(tmp_path))
