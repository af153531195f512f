"""The one filter builder: Filters.where() writes the LanceDB clause for the CLI, the window
(gui.workers.Request) and Python callers (build_filter)."""

from __future__ import annotations

import os

import pytest

from imgrag_desktop.search import ORIENTATIONS, Filters, build_filter


def test_nothing_filtered_is_no_clause() -> None:
    assert Filters().where() is None and build_filter() is None
    assert Filters(kind="", camera="", min_width=0).where() is None
    assert not Filters().active() and not Filters(folder="/x").active()


def test_each_field_becomes_one_clause() -> None:
    f = Filters(kind="photo, screenshot", date_from=10.0, date_to=20.5, min_width=300, min_height=200,
                camera="EOS", orientation="portrait")
    assert f.active()
    assert f.where() == (
        "(kind IN ('photo', 'screenshot')) AND (date >= 10.0) AND (date < 20.5) AND (width >= 300) AND "
        "(height >= 200) AND (lower(camera) LIKE '%eos%') AND (height > width)"
    )
    assert Filters(orientation="landscape").where() == "(width > height)"
    assert Filters(orientation="square").where() == "(width = height)"
    assert Filters(orientation="diagonal").where() is None
    assert ORIENTATIONS == ("landscape", "portrait", "square")


def test_quotes_are_escaped() -> None:
    assert Filters(camera="O'Brien").where() == "(lower(camera) LIKE '%o''brien%')"
    assert Filters(folder="/p/it's").where() == "((folder = '/p/it''s' OR starts_with(path, '/p/it''s/')))"


def test_a_typed_folder_is_made_absolute_and_joins_the_rest(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pics").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "pics")
    real = os.path.realpath(tmp_path / "pics")
    want = Filters(folder=real, kind="photo").where()
    assert build_filter(folder="link", kind="photo") == want
    assert want == f"((folder = '{real}' OR starts_with(path, '{real}/'))) AND (kind IN ('photo'))"


def test_the_window_request_adds_its_folder_as_given() -> None:
    pytest.importorskip("PySide6")
    from imgrag_desktop.gui.workers import Request

    bar = Filters(kind="document")
    req = Request("browse", folder="/lib/scans", filters=bar)
    assert req.has_filters() and req.where() == bar.with_folder("/lib/scans").where()
    assert Request("browse", folder="/lib").where() == Filters(folder="/lib").where()
    assert Request("browse").where() is None and not Request("browse").has_filters()


def test_place_and_local_time_clauses() -> None:
    assert Filters(place="city:Lisbon,country:Japan").where() == \
        "(lower(city) IN ('lisbon') OR lower(country) IN ('japan'))"
    assert Filters(place="Sant'Ana").where() == \
        "(lower(city) IN ('sant''ana') OR lower(region) IN ('sant''ana') OR lower(country) IN ('sant''ana'))"
    assert Filters(local_from=5.0, local_to=9.0).where() == \
        "(coalesce(local_time, date) >= 5.0) AND (coalesce(local_time, date) < 9.0)"
    assert Filters(place="city:Lisbon").active()
