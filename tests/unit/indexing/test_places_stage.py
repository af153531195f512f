"""Places and time at index time (indexing/photometa.py, places_stage.py, search/places.py):
generated photos with GPS EXIF for known positions and capture times across zones and DST."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from imgrag_desktop.indexing.photometa import PhotoMeta, from_xmp, parse_offset, read_meta, when
from imgrag_desktop.indexing.places_stage import PlacesStage, restore_place_words
from imgrag_desktop.indexing.stages import run_later_stages
from imgrag_desktop.search.places import geocoder
from tests.support.geo_photos import SPOTS, gps_photo, screenshot


def test_positions_snap_to_the_town_people_name_and_nothing_is_guessed_at_sea() -> None:
    got = geocoder().places([(s.lat, s.lon) for s in SPOTS])
    for spot, place in zip(SPOTS, got):
        if spot.city is None:
            assert place is None, spot  # ship at sea, null island: no town within 25 km
        else:
            assert place is not None and (place.city, place.country) == (spot.city, spot.country), (spot, place)
    lisbon = got[0]
    assert lisbon is not None and "Lisboa" in lisbon.words().split()  # the keyword index knows its other names


def test_gps_and_time_come_out_of_the_exif_as_written(tmp_path: Path) -> None:
    p = gps_photo(tmp_path / "a.jpg", -33.8568, 151.2153, datetime(2024, 1, 5, 20, 15, 7), "+11:00")
    meta = read_meta(str(p))
    assert meta.lat == pytest.approx(-33.8568, abs=1e-4) and meta.lon == pytest.approx(151.2153, abs=1e-4)
    assert meta.wall == datetime(2024, 1, 5, 20, 15, 7) and meta.offset_minutes == 660
    w = when(meta, mtime=0.0)
    assert w.source == "exif offset" and w.instant == datetime(2024, 1, 5, 9, 15, 7, tzinfo=timezone.utc).timestamp()
    assert parse_offset("-05:30") == -330 and parse_offset("Z") == 0 and parse_offset("+25:00") is None


@pytest.mark.parametrize("zone,wall,offset", [
    ("Europe/Lisbon", datetime(2023, 7, 14, 18, 30), 60),  # summer time
    ("Europe/Lisbon", datetime(2023, 1, 14, 18, 30), 0),  # winter
    ("America/New_York", datetime(2023, 3, 12, 3, 30), -240),  # just after the spring jump
    ("America/New_York", datetime(2023, 3, 11, 23, 0), -300),  # just before it
    ("Australia/Sydney", datetime(2023, 7, 1, 12, 0), 600),  # southern winter
    ("Asia/Tokyo", datetime(2023, 7, 1, 12, 0), 540),  # no DST
])
def test_without_an_offset_the_gps_time_zone_gives_it_dst_included(zone: str, wall: datetime, offset: int) -> None:
    w = when(PhotoMeta(lat=1.0, lon=1.0, wall=wall, source="exif"), mtime=0.0, zone=zone)
    assert w.source == "gps time zone" and w.offset_minutes == offset and w.zone == zone
    assert w.instant == (wall.replace(tzinfo=timezone.utc) - timedelta(minutes=offset)).timestamp()
    assert w.local == wall.replace(tzinfo=timezone.utc).timestamp()  # the photo's own wall clock


def test_heic_files_carry_their_gps_and_time(tmp_path: Path) -> None:
    from PIL import Image

    import imgrag_desktop.imaging  # noqa: F401  (registers the HEIF opener)

    jpg = gps_photo(tmp_path / "a.jpg", 35.6812, 139.7671, datetime(2022, 4, 2, 9, 10, 11), "+09:00")
    with Image.open(jpg) as im:
        im.save(tmp_path / "a.heic", exif=im.getexif().tobytes())
    meta = read_meta(str(tmp_path / "a.heic"))
    assert (round(meta.lat or 0, 4), round(meta.lon or 0, 4), meta.offset_minutes) == (35.6812, 139.7671, 540)


def test_a_file_that_cannot_be_read_now_waits_for_a_later_run(tmp_path: Path) -> None:
    from imgrag_desktop.indexing.places_stage import place_row

    assert place_row(str(tmp_path / "offline.jpg"), 0.0) is None


def test_an_xmp_sidecar_fills_what_the_file_lacks(tmp_path: Path) -> None:
    p = gps_photo(tmp_path / "b.jpg", None, None, None)
    (tmp_path / "b.xmp").write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="35,40.872N" '
        'exif:GPSLongitude="139,46.026E" exif:DateTimeOriginal="2022-04-02T09:10:11+09:00"/></rdf:RDF></x:xmpmeta>')
    meta = read_meta(str(p))
    assert meta.source == "xmp sidecar" and meta.lat == pytest.approx(35.6812) and meta.lon == pytest.approx(139.7671)
    assert meta.wall == datetime(2022, 4, 2, 9, 10, 11) and meta.offset_minutes == 540
    (tmp_path / "bad.xmp").write_text("<not xml")
    assert from_xmp(str(tmp_path / "bad.xmp")).lat is None  # a broken sidecar is ignored


def _index(services: Any, folder: Path) -> dict[str, Any]:
    services.indexer().index_paths([str(folder)])
    return run_later_stages(services)


def test_the_stage_stores_place_and_local_time_and_the_keyword_index_finds_the_town(services: Any,
                                                                                      tmp_path: Path) -> None:
    d = tmp_path / "p"
    d.mkdir()
    for i, s in enumerate(SPOTS):
        gps_photo(d / f"img_{i:02d}.jpg", s.lat, s.lon, datetime(2023, 7, 14, 18, 30), colour=(20 * i, 90, 150))
    gps_photo(d / "home.jpg", None, None, datetime(2023, 7, 14, 18, 30), colour=(9, 9, 9))
    tue = datetime(2026, 12, 1, 9, 41)  # a Tuesday, local time here
    screenshot(d / "Screenshot tuesday.png", tue)
    out = _index(services, d)
    assert out["places"]["with_gps"] == len(SPOTS) and out["places"]["named"] == 7
    rows = {Path(r["path"]).name: r for r in services.store.query(None, [
        "path", "city", "country", "lat", "utc_offset", "time_zone", "date_source", "local_time", "taken_at",
        "search_text", "place_status"]).to_pylist()}
    lisbon, tokyo, ship = rows["img_00.jpg"], rows["img_01.jpg"], rows["img_07.jpg"]
    assert (lisbon["city"], lisbon["country"], lisbon["time_zone"], lisbon["utc_offset"]) == \
        ("Lisbon", "Portugal", "Europe/Lisbon", 60)
    assert (tokyo["city"], tokyo["utc_offset"], tokyo["date_source"]) == ("Tokyo", 540, "gps time zone")
    # the same wall clock in both places, nine hours apart in real time
    assert lisbon["local_time"] == tokyo["local_time"] and lisbon["taken_at"] - tokyo["taken_at"] == 8 * 3600
    assert ship["city"] is None and ship["country"] is None and ship["lat"] == pytest.approx(40.0)
    assert rows["home.jpg"]["place_status"] == "none" and rows["home.jpg"]["city"] is None
    assert rows["home.jpg"]["date_source"] == "camera clock"
    shot = rows["Screenshot tuesday.png"]
    assert shot["date_source"] == "file time"
    assert datetime.fromtimestamp(shot["local_time"], timezone.utc).replace(tzinfo=None) == tue
    assert "Lisboa" in lisbon["search_text"]
    hits = services.searcher.search("Lisboa", k=3, mode="keyword", min_score="off")
    assert hits and Path(hits[0].path).name == "img_00.jpg"
    assert PlacesStage(services.store).pending() == []  # resumable: nothing is read twice
    # a rewrite of search_text (OCR, caption) that drops the place words gets them back
    services.store.update_rows({lisbon["path"]: {"search_text": "img 00", "textual": None}})
    assert restore_place_words(services.store) == 1
    assert "Lisbon" in services.store.rows([lisbon["path"]], ["path", "search_text"])[lisbon["path"]]["search_text"]


def test_a_photo_is_never_modified(tmp_path: Path, services: Any) -> None:
    d = tmp_path / "q"
    d.mkdir()
    p = gps_photo(d / "x.jpg", 38.7139, -9.1394, datetime(2023, 7, 14, 18, 30))
    before = (p.read_bytes(), os.stat(p).st_mtime_ns)
    _index(services, d)
    assert (p.read_bytes(), os.stat(p).st_mtime_ns) == before
