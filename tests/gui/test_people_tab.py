"""The People tab on real face photos: one face per person, most photos first, naming inline,
merging by multi-select, a person's photos."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.gui.conftest import index_folder
from tests.support.data import faces_dir

PHOTOS = ["img1.jpg", "img2.jpg", "img4.jpg", "img13.jpg", "img14.jpg", "img16.jpg", "img17.jpg"]


@pytest.fixture(scope="module")
def people_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.indexing.stages import STAGES, run_later_stages
    from imgrag_desktop.services import Services
    from imgrag_desktop.store import writer

    base = tmp_path_factory.mktemp("people")
    photos = base / "photos"
    photos.mkdir()
    for n in PHOTOS:
        shutil.copy2(faces_dir() / n, photos / n)
    index_folder(photos, base / "data")
    svc = Services(AppConfig.load(base / "data", "test"))
    with writer(svc.store, svc.cfg.lock_file):
        out = run_later_stages(svc, stages=[s for s in STAGES if s.name == "faces"])
    assert out["faces"]["people"]["new_people"] == 3
    return base / "data"


def test_the_people_tab_names_and_merges(qtbot: Any, make_window: Any, people_data: Path) -> None:
    w = make_window(people_data)
    panel = w.people_panel
    assert w.tabs.tabText(w.people_index) == "People"
    with qtbot.waitSignal(panel.peopleShown, timeout=60_000) as blocker:
        w.act_people.trigger()
    assert blocker.args[0] == 3 and w.tabs.currentWidget() is panel
    items = [panel.people_list.item(i) for i in range(panel.people_list.count())]
    assert [it.text().split("\n")[1] for it in items] == ["3 photos", "2 photos", "2 photos"]
    assert all(not it.icon().isNull() for it in items)  # a face thumbnail each
    with qtbot.waitSignal(panel.photosShown, timeout=30_000) as shown:
        panel.people_list.setCurrentItem(items[0])
    assert shown.args[0] == 3 and panel.photo_list.count() == 3
    # inline naming: what the editor does when the user types a name
    with qtbot.waitSignal(panel.peopleShown, timeout=30_000):
        items[0].setText("Alice")
    items = [panel.people_list.item(i) for i in range(panel.people_list.count())]
    assert items[0].text().startswith("Alice\n")
    # merge the two others by multi-select
    items[1].setSelected(True)
    items[2].setSelected(True)
    with qtbot.waitSignal(panel.peopleShown, timeout=30_000) as merged:
        panel.merge_button.click()
    assert merged.args[0] == 2
    counts = sorted(panel.people_list.item(i).text().split("\n")[1] for i in range(2))
    assert counts == ["3 photos", "4 photos"]


def test_face_boxes_in_the_preview_open_their_person(qtbot: Any, make_window: Any, people_data: Path) -> None:
    from PySide6.QtCore import Qt

    w = make_window(people_data)
    qtbot.waitUntil(lambda: w.model.rowCount() == len(PHOTOS), timeout=60_000)
    row = next(r for r in range(w.model.rowCount()) if w.model.item(r).hit.path.endswith("/img13.jpg"))
    w.view.setCurrentIndex(w.model.index(row, 0))
    canvas = w.preview.canvas
    qtbot.waitUntil(lambda: bool(canvas.faces) and not canvas.image_rect().isEmpty(), timeout=30_000)
    (face,) = canvas.faces
    left, top, right, bottom = face["box"]
    assert right - left > 50 and face["person"] is not None
    rect = canvas.face_rects()[0]
    with qtbot.waitSignal(w.people_panel.peopleShown, timeout=30_000):
        qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=rect.center().toPoint())
    assert w.tabs.currentWidget() is w.people_panel
    assert w.people_panel.people_list.currentItem().data(Qt.ItemDataRole.UserRole) == face["person"]


def _name_alice(data: Path) -> None:
    """Person of img1.jpg is Alice (whatever the tests before did)."""
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.imaging import content_hash
    from imgrag_desktop.search.people import people_of
    from imgrag_desktop.services import Services

    people = people_of(Services(AppConfig.load(data, "test")).store)
    (face,) = people.faces_in(content_hash((faces_dir() / "img1.jpg").read_bytes()))
    if face["name"] != "Alice":
        people.name(face["person"], "Alice")


def test_the_filter_bar_filters_by_a_named_person(qtbot: Any, make_window: Any, people_data: Path) -> None:
    _name_alice(people_data)
    w = make_window(people_data)
    bar = w.filter_bar
    qtbot.waitUntil(lambda: bar.person.count() > 1, timeout=60_000)  # the named people arrive after start
    names = [bar.person.itemText(i) for i in range(1, bar.person.count())]
    assert "Alice" in names
    qtbot.waitUntil(lambda: w.model.rowCount() == len(PHOTOS), timeout=60_000)
    with qtbot.waitSignal(w.resultsShown, timeout=30_000):
        bar.set_filters(person="Alice")
    assert bar.active_count() == 1
    shown = {w.model.item(r).hit.path.rsplit("/", 1)[1] for r in range(w.model.rowCount())}
    assert shown == {"img1.jpg", "img2.jpg", "img4.jpg"}


def test_a_name_typed_in_the_search_bar_filters_by_that_person(qtbot: Any, make_window: Any, people_data: Path) -> None:
    _name_alice(people_data)
    w = make_window(people_data)
    qtbot.waitUntil(lambda: w.model.rowCount() == len(PHOTOS), timeout=60_000)
    with qtbot.waitSignal(w.resultsShown, timeout=30_000, check_params_cb=lambda i: i.get("kind") == "text"):
        w.page.search("alice")
    shown = {w.model.item(r).hit.path.rsplit("/", 1)[1] for r in range(w.model.rowCount())}
    assert shown == {"img1.jpg", "img2.jpg", "img4.jpg"}
    with qtbot.waitSignal(w.resultsShown, timeout=30_000, check_params_cb=lambda i: i.get("kind") == "text"):
        w.page.search("portrait alice")  # words left over are searched among her photos
    shown = {w.model.item(r).hit.path.rsplit("/", 1)[1] for r in range(w.model.rowCount())}
    assert shown <= {"img1.jpg", "img2.jpg", "img4.jpg"}
