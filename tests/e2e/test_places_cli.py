"""Places, time and understood queries through the `imgrag` command (test profile): generated
photos with GPS EXIF, and screenshots whose file times fall on known weekdays."""

from __future__ import annotations

import calendar
import json
from datetime import datetime, timedelta
from pathlib import Path

from tests.conftest import run_cli
from tests.support.geo_photos import SPOTS, gps_photo, screenshot


def test_places_timeline_understood_search_and_ask(tmp_path: Path) -> None:
    d = tmp_path / "photos"
    d.mkdir()
    for i, s in enumerate(SPOTS):
        gps_photo(d / f"img_{i:02d}.jpg", s.lat, s.lon, datetime(2023, 7, 14 + i % 3, 18, 30), colour=(25 * i, 90, 150))
    now = datetime.now()
    three_days_ago = (now - timedelta(days=3)).replace(hour=11, minute=5, second=0, microsecond=0)
    weekday = calendar.day_name[three_days_ago.weekday()]
    screenshot(d / "Screenshot error.png", three_days_ago)
    screenshot(d / "Screenshot other.png", three_days_ago - timedelta(days=1))
    data = tmp_path / "data"
    report = json.loads(run_cli("index", str(d), "--json", data_dir=data).stdout)
    assert report["places"]["named"] == 7 and report["places"]["with_gps"] == len(SPOTS)

    places = json.loads(run_cli("places", "--json", data_dir=data).stdout)
    by_city = {(p["country"], p["city"]): p["count"] for p in places}
    assert by_city[("Portugal", "Lisbon")] == 1 and by_city[("Japan", "Tokyo")] == 1
    assert by_city[("", "")] == 2  # the ship and null island: a position, no town
    assert all(p["cover"].startswith(str(d)) for p in places)
    assert places[0]["country"] == "Portugal"  # Lisbon and Sintra: the most photos first

    years = json.loads(run_cli("timeline", "--json", data_dir=data).stdout)
    y2023 = next(y for y in years if y["year"] == 2023)
    assert y2023["count"] == len(SPOTS) and y2023["months"] == [{"month": 7, "count": len(SPOTS)}]

    out = run_cli("search", "photos from Japan", "--json", data_dir=data)
    got = json.loads(out.stdout)
    assert [Path(h["path"]).name for h in got["hits"]] == ["img_01.jpg"]
    assert got["understood"]["filters"]["place"] and got["understood"]["only_filters"] is True

    got = json.loads(run_cli("search", f"the screenshot from {weekday}", "--json", data_dir=data).stdout)
    assert [Path(h["path"]).name for h in got["hits"]] == ["Screenshot error.png"]
    assert got["understood"]["filters"]["kind"] == "screenshot"
    assert got["understood"]["filters"]["date_from"] == three_days_ago.strftime("%Y-%m-%d")

    human = run_cli("search", "in Lisboa", "--min-score", "off", data_dir=data)
    assert "img_00.jpg" in human.stdout and "img_05.jpg" not in human.stdout  # Lisbon, not Sintra
    assert "📍 Lisbon" in human.stderr  # what was understood, on stderr

    explained = json.loads(run_cli("search", "beach in Lisbon in July 2023", "--explain", "--json",
                                   data_dir=data).stdout)
    assert explained["understood"]["text"] == "beach"
    assert [c["label"] for c in explained["understood"]["chips"]] == ["📅 Jul 2023", "📍 Lisbon"]
    plain = json.loads(run_cli("search", "in Lisbon", "--literal", "--json", "--min-score", "off",
                               data_dir=data).stdout)
    assert plain["understood"]["chips"] == [] and len(plain["hits"]) > 1

    dated = json.loads(run_cli("search", "photo", "--sort", "date", "--min-score", "off", "-k", "20", "--json",
                               data_dir=data).stdout)["hits"]
    times = [h["taken_at"] if h["taken_at"] is not None else h["mtime"] for h in dated]
    assert times == sorted(times, reverse=True)

    asked = json.loads(run_cli("ask", f"what error is in the screenshot from {weekday}?", "-k", "3",
                               "--max-tokens", "4", "--json", data_dir=data).stdout)
    assert [Path(s["path"]).name for s in asked["sources"]] == ["Screenshot error.png"]
    assert asked["understood"]["filters"]["kind"] == "screenshot"

    # What was read from a question leaves no picture (no photo from 1999): the words were about
    # the pictures' contents, so the whole question is searched without them, not answered from none.
    asked = json.loads(run_cli("ask", "what error is in the screenshot from 1999?", "-k", "3",
                               "--max-tokens", "4", "--json", data_dir=data).stdout)
    assert asked["understood"]["filters"]["date_from"] == "1999-01-01"
    assert "Screenshot error.png" in [Path(s["path"]).name for s in asked["sources"]]
