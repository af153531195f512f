"""The window shows what a query was read as: removable chips above the results, and the
"sort by" choice (gui/query_chips.py; the reading is search/understand.py's)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from imgrag_desktop.gui.query_chips import shown_label
from tests.gui.conftest import wait_results
from tests.support.geo_photos import SPOTS, gps_photo


@pytest.fixture(scope="module")
def geo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.indexing.stages import run_later_stages
    from imgrag_desktop.services import Services
    from imgrag_desktop.store import writer

    photos = tmp_path_factory.mktemp("geo") / "trips"
    photos.mkdir()
    for i, s in enumerate(SPOTS):
        gps_photo(photos / f"img_{i:02d}.jpg", s.lat, s.lon, datetime(2020 + i, 5, 1, 12, 0), colour=(25 * i, 80, 160))
    data = tmp_path_factory.mktemp("geo-data")
    cfg = AppConfig.load(data, "test")
    cfg.settings.folders = [str(photos)]
    cfg.settings.extra["gui"] = {"rescan_on_start": False}
    cfg.save()
    svc = Services(cfg)
    with writer(svc.store, cfg.lock_file):
        svc.indexer().index_paths([str(photos)])
        run_later_stages(svc)
    return data


def test_chips_show_what_was_understood_and_removing_one_searches_without_it(qtbot: Any, make_window: Any,
                                                                              geo_data: Path) -> None:
    w = make_window(geo_data)
    page = w.search_page
    w.search_edit.setText("photos from Japan")
    w.search_now()
    wait_results(qtbot, w, "text")
    assert [Path(p).name for p in w.model.paths()] == ["img_01.jpg"]  # only a filter: listed by date
    assert [b.text() for b in page.chips.buttons] == [f"{shown_label(page.current.reading.chips[0])}  ✕"]
    assert page.chips.buttons[0].text() in ("📍 Japan  ✕", "Where: Japan  ✕")  # the word when no emoji font
    assert page.chips.rest.text() == "listed by date" and page.chips.isVisible()
    w.preview.set_details(w.model.paths()[0], {"local_time": 1689359400.0, "utc_offset": 540,
                                               "date_source": "gps time zone", "city": "Tokyo", "country": "Japan"})
    assert w.preview.facts["date"].text() == "2023-07-14 18:30 (UTC+09:00, camera, zone from GPS)"
    assert w.preview.facts["place"].text() == "Tokyo, Japan"

    page.chips.buttons[0].click()
    wait_results(qtbot, w, "text")
    assert page.chips.buttons == []  # the place filter is gone ...
    assert page.current.reading.filters.place is None and "from Japan" in page.current.reading.text  # ... its words back


def test_sort_by_date_lists_the_newest_first(qtbot: Any, make_window: Any, geo_data: Path) -> None:
    w = make_window(geo_data)
    page = w.search_page
    w.search_edit.setText("photo")
    w.search_now()
    wait_results(qtbot, w, "text")
    page.chips.sort_combo.setCurrentIndex(1)  # Newest first
    wait_results(qtbot, w, "text")
    assert page.current.sort == "date"
    times = [it.hit.taken_at for it in (w.model.item(i) for i in range(w.model.rowCount()))]
    assert times and times == sorted(times, reverse=True)


def test_the_places_tab_lists_countries_towns_and_months_and_searches_them(qtbot: Any, make_window: Any,
                                                                           geo_data: Path) -> None:
    w = make_window(geo_data)
    panel = w.places_panel
    w.tabs.setCurrentWidget(panel)
    qtbot.waitUntil(lambda: panel.loaded, timeout=30_000)
    tops = {panel.places.topLevelItem(i).text(0): panel.places.topLevelItem(i)
            for i in range(panel.places.topLevelItemCount())}
    assert tops["Portugal"].text(1) == "2" and {tops["Portugal"].child(i).text(0) for i in range(2)} == \
        {"Lisbon", "Sintra"}
    assert tops["No town within 25 km (at sea)"].text(1) == "2"
    years = [panel.timeline.topLevelItem(i).text(0) for i in range(panel.timeline.topLevelItemCount())]
    assert years == [str(2020 + i) for i in reversed(range(len(SPOTS)))]
    lisbon = next(tops["Portugal"].child(i) for i in range(2) if tops["Portugal"].child(i).text(0) == "Lisbon")
    panel.places.itemActivated.emit(lisbon, 0)
    wait_results(qtbot, w, "text")
    assert w.tabs.currentWidget() is w.page
    assert [Path(p).name for p in w.model.paths()] == ["img_00.jpg"]
    assert [b.text() for b in w.search_page.chips.buttons] in (["📍 Lisbon  ✕"], ["Where: Lisbon  ✕"])


def test_listed_by_date_each_month_is_marked_on_its_first_picture(qtbot: Any, make_window: Any,
                                                                  geo_data: Path) -> None:
    from imgrag_desktop.gui.result_model import MonthRole

    w = make_window(geo_data)
    w.search_edit.setText("photos from 2022")  # one photo: 2020 + index 2
    w.search_now()
    wait_results(qtbot, w, "text")
    assert [w.model.data(w.model.index(i), MonthRole) for i in range(w.model.rowCount())] == ["May 2022"]
    w.search_edit.setText("")
    w.search_now()  # browsing: newest first, a mark per month
    qtbot.waitUntil(lambda: w.model.rowCount() == len(SPOTS) and not w.model.show_scores, timeout=30_000)
    marks = [w.model.data(w.model.index(i), MonthRole) for i in range(w.model.rowCount())]
    assert marks == [f"May {2020 + i}" for i in reversed(range(len(SPOTS)))]
    w.view.grab()  # the delegate paints the marks without error


def test_listed_by_date_each_month_starts_a_row_under_its_header(qtbot: Any, make_window: Any,
                                                                 geo_data: Path) -> None:
    from PySide6.QtCore import Qt

    w = make_window(geo_data)
    view = w.view
    qtbot.waitUntil(lambda: w.model.rowCount() == len(SPOTS) and not w.model.show_scores, timeout=30_000)
    qtbot.waitUntil(lambda: len(view.headers) == len(SPOTS), timeout=5_000)  # browsing: newest first
    assert view.sections
    assert [t for _, t in view.headers] == [f"May {2020 + i}" for i in reversed(range(len(SPOTS)))]
    bands = [view.header_rect(top) for top, _ in view.headers]
    for row in range(w.model.rowCount()):  # one photo a month: each under its own header, at the row's start
        cell = view.visualRect(w.model.index(row))
        assert cell.left() == 0 and cell.top() == bands[row].bottom() + 1, (row, cell, bands[row])
        assert not any(cell.intersects(b) for b in bands)
        assert bands[row].width() == view.viewport().width()  # the header spans the row
    page = w.search_page
    page.select(w.model.index(0))
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Down)  # over the next month's header, onto its picture
    assert view.currentIndex().row() == 1
    assert page.open_viewer(1)
    qtbot.keyClick(page.viewer, Qt.Key.Key_Right)  # the viewer's next: the next picture, never a header
    assert page.viewer.row == 2
    img = view.grab()  # the headers are painted, in the band above each month's first row
    assert not img.isNull()
    w.search_edit.setText("a photo")
    w.search_now()  # a search by relevance: no headers, the grid as before
    wait_results(qtbot, w, "text")
    qtbot.waitUntil(lambda: not view.sections, timeout=5_000)
    assert view.headers == [] and view.visualRect(w.model.index(0)).top() == 0


def test_operators_are_said_once_in_the_chips_row(qtbot: Any, make_window: Any, geo_data: Path) -> None:
    w = make_window(geo_data)
    page = w.search_page
    assert page.query_reading.parent() is page.chips  # one row: no second line under the box
    w.search_edit.setText("photos from Japan -people")
    assert page.query_reading.isVisible() and "avoid “people”" in page.query_reading.text()  # while typing
    w.search_now()
    wait_results(qtbot, w, "text")
    assert len(page.chips.buttons) == 2  # the place and the minus became chips ...
    row = [b.text() for b in page.chips.buttons]
    row += [lbl.text() for lbl in (page.query_reading, page.chips.rest) if lbl.isVisible()]
    assert " ".join(row).count("people") == 1  # ... and each is said once in the row
    assert page.query_reading.isHidden() and page.chips.rest.text() == "+ “photos”"
    w.search_edit.setText("photos from Japan")
    w.search_now()
    wait_results(qtbot, w, "text")
    assert page.query_reading.isHidden() and page.chips.rest.text() == "listed by date"
