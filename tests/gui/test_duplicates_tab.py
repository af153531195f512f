"""The Duplicates tab: a planted group (a COCO photo, a byte copy and a resized copy) among real
photos, listed keeper first with its facts and thumbnails, with Open / Show in folder / Copy
path, a refresh, and nothing ever deleted or changed on disk."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from PySide6.QtCore import QUrl
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QAbstractButton

from tests.gui.conftest import copy_images, index_folder


def digest(folder: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory, coco_jpegs: list[Path]) -> tuple[Path, Path, list[Path]]:
    """8 photos + a byte copy and a half-size re-encoded copy of the first, indexed by the engine."""
    base = tmp_path_factory.mktemp("dups")
    photos = copy_images(coco_jpegs[20:28], base / "photos")
    original = photos / coco_jpegs[20].name
    byte_copy = photos / "backup" / "copy.jpg"
    byte_copy.parent.mkdir()
    shutil.copyfile(original, byte_copy)
    resized = photos / "small.jpg"
    with Image.open(original) as im:
        im.convert("RGB").resize((im.width // 2, im.height // 2)).save(resized, "JPEG", quality=80)
    report = index_folder(photos, base / "data")
    assert report.added == 10
    return base / "data", photos, [original, byte_copy, resized]


def test_the_duplicates_tab_lists_the_planted_group(qtbot: Any, make_window: Any, planted: Any) -> None:
    data, photos, group = planted
    before = digest(photos)
    w = make_window(data)
    assert w.tabs.tabText(w.dups_index) == "Duplicates"
    with qtbot.waitSignal(w.dups_panel.groupsShown, timeout=60_000) as blocker:
        w.act_duplicates.trigger()  # Ctrl+D: computed in the background when the tab opens
    assert w.tabs.currentWidget() is w.dups_panel
    info = blocker.args[0]
    assert info["groups"] == 1 and info["images"] == 10 and info["copies"] == 2
    (card,) = w.dups_panel.cards
    tiles = card.tiles
    assert {t.path for t in tiles} == {str(p) for p in group}
    assert tiles[0].path != str(group[2])  # the half-size copy is never the one to keep
    assert tiles[0].badge.text() == "Keep"
    copy_badge = "Copy" if tiles[0].path in (str(group[0]), str(group[1])) else "?"
    assert sorted(t.badge.text() for t in tiles[1:]) == sorted([copy_badge, "Identical file"])
    with Image.open(group[2]) as im:
        small = f"{im.width}×{im.height}"
    small_tile = next(t for t in tiles if t.path == str(group[2]))
    assert small_tile.facts.text().startswith(small) and "KB" in small_tile.facts.text()
    assert "2 extra copies" in w.dups_panel.summary.text() and "10 images" in w.dups_panel.summary.text()
    qtbot.waitUntil(lambda: all(t.has_thumbnail() for t in tiles), timeout=30_000)

    # Open, Show in folder and Copy path, from the buttons and from the right-click menu.
    t = tiles[1]
    t.open_button.click()
    assert w.open_url.calls[-1] == QUrl.fromLocalFile(t.path)
    t.reveal_button.click()
    assert w.reveal.calls[-1] == t.path
    t.copy_button.click()
    assert QGuiApplication.clipboard().text() == t.path
    t.customContextMenuRequested.emit(t.rect().center())
    menu = w.dups_panel._last_menu
    assert [a.text() for a in menu.actions()] == ["Open", "Show in folder", "Copy path"]
    menu.close()

    # Read-only: no control offers to delete, move or rename, and nothing on disk changed.
    texts = [b.text().lower() for b in w.dups_panel.findChildren(QAbstractButton)]
    assert not any(word in x for x in texts for word in ("delete", "remove", "trash", "move", "rename"))
    assert digest(photos) == before

    # Refresh recomputes (same answer); a change to the index marks the list stale first.
    w.dups_panel.mark_stale()
    assert w.dups_panel.stale_label.isVisibleTo(w.dups_panel)
    with qtbot.waitSignal(w.dups_panel.groupsShown, timeout=60_000) as again:
        w.dups_panel.refresh_button.click()
    assert again.args[0]["groups"] == 1 and not w.dups_panel.stale_label.isVisibleTo(w.dups_panel)
    assert digest(photos) == before


def test_the_list_follows_the_folder_selected_on_the_left(qtbot: Any, make_window: Any, planted: Any,
                                                          tmp_path: Path, coco_jpegs: list[Path]) -> None:
    data, photos, group = planted
    mine = tmp_path / "data"
    shutil.copytree(data, mine)  # this test adds a folder: keep the shared index as it is
    others = copy_images(coco_jpegs[40:42], tmp_path / "others")
    w = make_window(mine)
    with qtbot.waitSignal(w.indexFinished, timeout=120_000):
        w.add_folders([str(others)])
    w.folders_panel.select(str(others))
    with qtbot.waitSignal(w.dups_panel.groupsShown, timeout=60_000) as blocker:
        w.show_duplicates()
    assert blocker.args[0]["groups"] == 0 and not w.dups_panel.cards
    assert w.dups_panel.empty.isVisibleTo(w.dups_panel)
    assert w.dups_panel.empty.text() == "No near-duplicates among the 2 indexed images in others."
    w.folders_panel.select(str(photos))
    with qtbot.waitSignal(w.dups_panel.groupsShown, timeout=60_000) as blocker:
        w.dups_panel.refresh_button.click()
    assert blocker.args[0]["groups"] == 1 and "in photos" in w.dups_panel.summary.text()


def test_search_results_fold_the_copies_and_show_a_badge(qtbot: Any, make_window: Any, planted: Any) -> None:
    from PySide6.QtGui import QColor

    from imgrag_desktop.gui.result_model import GroupRole
    from imgrag_desktop.gui.results_view import GROUP_BADGE

    data, photos, group = planted
    w = make_window(data)
    with qtbot.waitSignal(w.resultsShown, timeout=30_000, check_params_cb=lambda i: i.get("kind") == "similar"):
        w.find_similar(str(group[0]))
    top = w.model.item(0).hit
    assert top.path == str(group[0]) and top.group_size == 3
    assert sorted(top.group) == sorted(str(p) for p in group[1:])
    assert w.model.rowCount() == 8  # 10 images, 3 of them shown as one
    assert w.model.data(w.model.index(0), GroupRole) == 3
    assert w.preview.facts["copies"].text().startswith("+2 near-identical")
    # The badge is painted on the first cell (top-right of its thumbnail).
    w.view.scrollToTop()
    qtbot.wait(50)
    rect = w.view.visualRect(w.model.index(0))
    shot = w.view.viewport().grab(rect).toImage()
    badge = QColor(GROUP_BADGE)
    found = any(abs(QColor(shot.pixel(x, y)).blue() - badge.blue()) < 30
                and abs(QColor(shot.pixel(x, y)).red() - badge.red()) < 30
                and abs(QColor(shot.pixel(x, y)).green() - badge.green()) < 30
                for x in range(shot.width() // 2, shot.width()) for y in range(0, shot.height() // 4))
    assert found, "no +N badge drawn in the top-right of the first result"
