"""The Search tab at 800×600, 1280×800 and 1920×1080 (and the viewer at 800×600): the window
really takes that size, no visible widget overlaps a sibling, none is squeezed below its own
minimum (a combo cut to "Any kin"), and the search field keeps room to type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QAbstractScrollArea, QSizePolicy, QSplitterHandle, QWidget

SIZES = [(800, 600), (1280, 800), (1920, 1080)]


def layout_problems(root: QWidget) -> list[str]:
    problems = []

    def visible_children(w: QWidget) -> list[QWidget]:
        return [c for c in w.findChildren(QWidget, options=_direct()) if c.isVisible() and not c.isWindow()]

    def walk(w: QWidget) -> None:
        kids = visible_children(w)
        if not isinstance(w, QAbstractScrollArea):  # a scroll area's viewport and bars are its own business
            boxes = [(c, c.geometry()) for c in kids if not isinstance(c, QSplitterHandle)]
            for i, (a, ra) in enumerate(boxes):
                for b, rb in boxes[i + 1:]:
                    if ra.intersects(rb) and not ra.intersected(rb).isEmpty():
                        problems.append(f"{_name(a)} {ra.getRect()} overlaps {_name(b)} {rb.getRect()}")
        for c in kids:
            hint = c.minimumSizeHint()
            policy = c.sizePolicy().horizontalPolicy()
            if hint.isValid() and policy != QSizePolicy.Policy.Ignored and c.width() < hint.width() - 1 \
                    and not isinstance(w, QAbstractScrollArea):
                problems.append(f"{_name(c)} is {c.width()} px wide, below its minimum {hint.width()}")
            walk(c)

    walk(root)
    return problems


def fresh_layout_copy(indexed_dir: Path, data: Path) -> Path:
    """A copy of the shared indexed data dir with no saved window layout (the windows of other
    tests save theirs there when they close, a folders panel closed by hand included)."""
    import json
    import shutil

    shutil.copytree(indexed_dir, data, ignore=shutil.ignore_patterns("writer.lock"))
    settings = data / "settings.json"
    saved = json.loads(settings.read_text())
    saved["gui"] = {"rescan_on_start": False}
    settings.write_text(json.dumps(saved))
    return data


def _direct() -> Any:
    from PySide6.QtCore import Qt

    return Qt.FindChildOption.FindDirectChildrenOnly


def _name(w: QWidget) -> str:
    text = getattr(w, "text", None)
    label = text() if callable(text) else ""
    return f"{type(w).__name__}({w.objectName() or label or w.accessibleName()!r})"


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_the_search_tab_fits_without_overlaps(qtbot: Any, make_window: Any, indexed_dir: Path,
                                              size: tuple[int, int]) -> None:
    w = make_window(indexed_dir)
    qtbot.waitUntil(lambda: w.model.rowCount() == 20, timeout=30_000)
    w.filters_button.setChecked(True)  # the widest row there is
    w.resize(*size)
    qtbot.waitUntil(lambda: (w.width(), w.height()) == size, timeout=5_000)
    qtbot.wait(50)
    assert w.filter_bar.isVisible()
    assert layout_problems(w.page) == []
    assert w.search_edit.width() >= 200
    assert w.view.columns() >= 2
    if size[0] < 1000:
        assert not w.folders_dock.isVisible()  # stepped aside in a narrow window
    else:
        assert w.folders_dock.isVisible()
    # The viewer fits the same window.
    assert w.page.open_viewer(0)
    qtbot.wait(50)
    assert layout_problems(w.page.viewer) == []


def test_the_folders_panel_returns_when_the_window_is_wide_again(qtbot: Any, make_window: Any,
                                                                 indexed_dir: Path) -> None:
    w = make_window(indexed_dir)
    w.resize(1280, 800)
    qtbot.waitUntil(lambda: w.folders_dock.isVisible(), timeout=5_000)
    w.resize(800, 600)
    qtbot.waitUntil(lambda: not w.folders_dock.isVisible(), timeout=5_000)
    w.resize(1300, 800)
    qtbot.waitUntil(lambda: w.folders_dock.isVisible(), timeout=5_000)
    # Closed by the user in a wide window: it stays closed when the window narrows and widens.
    w.folders_dock.toggleViewAction().trigger()
    assert not w.folders_dock.isVisible()
    w.resize(800, 600)
    qtbot.wait(50)
    w.resize(1300, 800)
    qtbot.wait(50)
    assert not w.folders_dock.isVisible()


def test_a_window_sized_small_before_it_is_shown_starts_without_the_folders_panel(
        qtbot: Any, indexed_dir: Path, tmp_path: Path) -> None:
    """A fresh start at 800×600 (no saved layout): the panel steps aside before the window first
    shows, so the window is really 800 wide (not widened by the panel's minimum)."""
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.gui.window import MainWindow

    data = fresh_layout_copy(indexed_dir, tmp_path / "data")
    w = MainWindow(AppConfig.load(data, "test"))
    qtbot.addWidget(w)
    try:
        w.resize(800, 600)
        with qtbot.waitSignal(w.engineReady, timeout=120_000):
            w.show()
            qtbot.waitExposed(w)
        qtbot.wait(50)
        assert not w.folders_dock.isVisible()
        assert w.width() == 800
        w.resize(1280, 800)  # and it comes back when the window is wide
        qtbot.waitUntil(lambda: w.folders_dock.isVisible(), timeout=5_000)
    finally:
        w.close()
        assert w.shutdown()


def test_the_search_tab_fits_at_a_hidpi_scale_of_2(indexed_dir: Path, tmp_path: Path) -> None:
    """QT_SCALE_FACTOR=2 (a HiDPI screen): 1280×800 logical pixels, no overlaps, nothing below its
    minimum. A child process, since the scale is read when the QApplication is made."""
    import json
    import os
    import subprocess
    import sys

    data = fresh_layout_copy(indexed_dir, tmp_path / "data")
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QT_SCALE_FACTOR": "2",
           "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "tests.gui.hidpi_check", str(data)], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["ratio"] == 2.0
    assert out["size"] == [1280, 800]
    assert out["rows"] == 20 and out["columns"] >= 2
    assert out["folders"]
    assert out["search_width"] >= 200
    assert out["problems"] == []


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_looks_like_leaves_the_search_field_room_for_its_hint(qtbot: Any, make_window: Any, indexed_dir: Path,
                                                              size: tuple[int, int]) -> None:
    from PySide6.QtGui import QFontMetrics

    w = make_window(indexed_dir)
    qtbot.waitUntil(lambda: w.model.rowCount() == 20, timeout=30_000)
    w.resize(*size)
    qtbot.waitUntil(lambda: (w.width(), w.height()) == size, timeout=5_000)
    target = w.model.item(0).hit.path
    w.page.find_similar(target)
    qtbot.waitUntil(w.similar_chip.isVisible, timeout=5_000)
    try:  # the row lays out again once the chip has its name and picture
        qtbot.waitUntil(lambda: layout_problems(w.page) == [], timeout=3_000)
    except AssertionError:
        pass
    assert layout_problems(w.page) == []
    edit = w.search_edit
    hint = edit.placeholderText()
    assert hint.startswith("Refine with words")
    room = edit.width() - 30  # less the clear button and the text margins
    assert QFontMetrics(edit.font()).horizontalAdvance(hint) <= room, (hint, edit.width())
    name = Path(target).name
    assert w.similar_label.text().startswith("Looks like: ") and name in w.similar_chip.toolTip()
