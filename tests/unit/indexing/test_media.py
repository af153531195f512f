"""RAW files, RAW+JPEG pairs, videos and Live Photos through the real indexer (test profile):
DNGs written byte by byte (tests/support/raw_files.py), clips written with PyAV
(tests/support/videos.py), hostile ones among them."""

from __future__ import annotations

import hashlib
import json
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from imgrag_desktop import imaging, video
from imgrag_desktop.indexing.media import companions_of
from imgrag_desktop.indexing.photometa import read_meta
from imgrag_desktop.indexing.stages import run_later_stages
from imgrag_desktop.search.filters import Filters
from imgrag_desktop.types import DecodeError
from tests.support.raw_files import write_dng
from tests.support.videos import scene, write_audio_only, write_video


def test_a_raw_file_is_read_from_its_preview_else_demosaiced_with_its_exif(tmp_path: Path) -> None:
    with_preview = write_dng(tmp_path / "a.dng", preview=Image.new("RGB", (320, 240), (10, 200, 30)),
                             gps=(38.7139, -9.1394))
    bare = write_dng(tmp_path / "b.dng", colour=(220, 60, 20))
    dec, _ = imaging.decode_path(with_preview, 256)
    assert (dec.width, dec.height, dec.format, dec.camera) == (256, 192, "RAW", "Imgrag Test DNG")
    assert dec.image.getpixel((5, 5)) == pytest.approx((10, 200, 30), abs=6)  # the preview's pixels
    assert dec.taken_at is not None
    meta = read_meta(str(with_preview))
    assert meta.lat == pytest.approx(38.7139, abs=1e-3) and meta.lon == pytest.approx(-9.1394, abs=1e-3)
    dec, _ = imaging.decode_path(bare, 256)
    assert dec.format == "RAW" and dec.image.size == (128, 96)  # LibRaw's half-size demosaic
    (tmp_path / "c.nef").write_bytes(b"not a raw file at all" * 100)
    with pytest.raises(DecodeError, match="RAW"):
        imaging.decode_path(tmp_path / "c.nef", 256)


def test_frames_follow_scene_changes_and_hostile_videos_fail_with_a_reason(tmp_path: Path) -> None:
    clip = write_video(tmp_path / "two.mp4", [(scene((200, 30, 30), "HELLO"), 3), (scene((30, 30, 200), "WORLD"), 3)])
    got = video.extract(clip, 256)
    assert [f.time_s for f in got.frames][:2] == [0.0, 3.0] and len(got.frames) <= video.MIN_FRAMES
    assert (got.info.width, got.info.height) == (320, 240) and got.info.duration_s == pytest.approx(6.0, abs=0.2)
    assert got.info.created == pytest.approx(1717245000.0)
    data = clip.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(DecodeError, match="truncated"):
        video.extract(tmp_path / "cut.mp4")
    with pytest.raises(DecodeError, match="no video stream"):
        video.extract(write_audio_only(tmp_path / "voice.mp4"))


def test_a_recording_without_a_duration_is_still_sampled(tmp_path: Path) -> None:
    clip = write_video(tmp_path / "rec.mkv", [(scene((200, 30, 30)), 3), (scene((30, 30, 200)), 3)], live=True)
    got = video.extract(clip, 128)
    assert got.info.duration_s is None and [f.time_s for f in got.frames] == [0.0, 3.0]


def test_a_two_hour_clip_keeps_a_bounded_number_of_frames_in_bounded_time(tmp_path: Path) -> None:
    colours = [(250, 20, 20), (20, 250, 20), (20, 20, 250), (250, 250, 20), (20, 250, 250), (250, 20, 250)]
    scenes = [(scene(colours[i % 6], f"S{i}"), 600) for i in range(12)]
    clip = write_video(tmp_path / "long.mkv", scenes, fps=Fraction(1, 10))
    t0 = time.monotonic()
    got = video.extract(clip, 256)
    assert got.info.duration_s == pytest.approx(7200, rel=0.01)
    assert 12 <= len(got.frames) <= video.MAX_FRAMES and got.candidates <= video.MAX_CANDIDATES
    assert time.monotonic() - t0 < video.TIME_BUDGET_S + 5
    times = [f.time_s for f in got.frames]
    assert times == sorted(times) and all(any(abs(t - 600 * i) < 60 for t in times) for i in range(12))


def test_pairs_are_found_by_stem_in_one_folder() -> None:
    comp = companions_of(["/a/IMG_1.JPG", "/a/IMG_1.CR2", "/a/IMG_2.HEIC", "/a/IMG_2.MOV", "/b/IMG_1.CR2",
                          "/a/solo.nef"], is_clip=lambda p: True)
    assert comp == {"/a/IMG_1.JPG": ["/a/IMG_1.CR2"], "/a/IMG_2.HEIC": ["/a/IMG_2.MOV"]}
    assert companions_of(["/a/x.jpg", "/a/x.mov"], is_clip=lambda p: False) == {}  # a long clip is a video


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_a_mixed_library_is_one_item_per_photo_and_one_hit_per_video(tmp_path: Path, services: Any) -> None:
    d = tmp_path / "lib"
    d.mkdir()
    Image.new("RGB", (320, 240), (240, 200, 20)).save(d / "IMG_0001.JPG", quality=90)
    write_dng(d / "IMG_0001.DNG", colour=(240, 200, 20))
    write_dng(d / "solo.dng", preview=Image.new("RGB", (320, 240), (10, 200, 30)))
    write_dng(d / "bare.dng", colour=(220, 60, 20))
    Image.new("RGB", (320, 240), (90, 20, 160)).save(d / "IMG_0002.JPG", quality=90)
    write_video(d / "IMG_0002.MOV", [(scene((90, 20, 160)), 2)])
    clip = write_video(d / "trip.mp4", [(scene((200, 30, 30), "HELLO"), 3), (scene((30, 30, 200), "WORLD"), 3)])
    data = clip.read_bytes()
    (d / "cut.mp4").write_bytes(data[: len(data) // 3])
    write_audio_only(d / "voice.webm".replace(".webm", ".mp4"))
    before = _digest(d)
    report = services.indexer().index_paths([str(d)])
    failed = {Path(f.path).name: f.reason for f in report.failures}
    assert set(failed) == {"cut.mp4", "voice.mp4"}
    assert "truncated" in failed["cut.mp4"] and "no video stream" in failed["voice.mp4"]
    rows = {Path(r["path"]).name: r for r in services.store.query(None, [
        "path", "media", "files", "width", "height", "duration_s", "time_s", "frames", "camera", "taken_at",
        "visual"]).to_pylist()}
    assert set(rows) == {"IMG_0001.JPG", "solo.dng", "bare.dng", "IMG_0002.JPG", "trip.mp4"}
    pair = rows["IMG_0001.JPG"]
    assert pair["media"] == "raw" and json.loads(pair["files"]) == [str(d / "IMG_0001.JPG"), str(d / "IMG_0001.DNG")]
    assert rows["solo.dng"]["media"] == "raw" and rows["solo.dng"]["camera"] == "Imgrag Test DNG"
    live = rows["IMG_0002.JPG"]
    assert live["media"] == "live" and json.loads(live["files"])[1] == str(d / "IMG_0002.MOV")
    trip = rows["trip.mp4"]
    assert trip["media"] == "video" and trip["duration_s"] == pytest.approx(6.0, abs=0.2)
    assert (trip["width"], trip["height"]) == (320, 240) and trip["frames"] == 2 and trip["visual"] is not None
    assert report.extra["videos"]["frames"] == 2  # type: ignore[attr-defined]
    # the video is one hit, at the moment whose frame matches (the blue scene, at 3 s)
    blue = scene((30, 30, 200), "WORLD")
    hits = services.searcher.similar(blue, k=10, min_score="off")
    assert [h.path for h in hits].count(str(clip)) == 1
    vid = next(h for h in hits if h.path == str(clip))
    assert vid.time_s == pytest.approx(3.0, abs=0.2) and vid.to_json()["media"] == "video"
    red = services.searcher.similar(scene((200, 30, 30), "HELLO"), k=10, min_score="off")
    assert next(h for h in red if h.path == str(clip)).time_s == pytest.approx(0.0, abs=0.2)
    hits = services.searcher.search("IMG_0001", k=5, mode="keyword", min_score="off")
    assert hits[0].path == str(d / "IMG_0001.JPG") and hits[0].to_json()["files"][1].endswith("IMG_0001.DNG")
    media = set(services.store.query(Filters(media="video").where(), ["path"]).column("path").to_pylist())
    assert media == {str(clip)}
    # the later stages (places, OCR, text, faces …) handle RAW and video rows
    out = run_later_stages(services)
    assert not [k for k, v in out.items() if isinstance(v, dict) and "error" in v and k not in ("captions",)], out
    # the frames' text is read: the word finds the video, at the moment that shows it
    words = services.searcher.search("WORLD", k=3, mode="keyword", min_score="off")
    assert words and words[0].path == str(clip) and words[0].time_s == pytest.approx(3.0, abs=0.2)
    # the RAW of a pair removed: the JPEG is a plain photo again; nothing of the user's was written
    (d / "IMG_0001.DNG").unlink()
    del before["IMG_0001.DNG"]
    services.indexer().index_paths([str(d)])
    row = services.store.rows([str(d / "IMG_0001.JPG")], ["path", "media", "files"])[str(d / "IMG_0001.JPG")]
    assert row["media"] == "photo" and row["files"] is None
    assert _digest(d) == before


def test_a_motion_photo_is_one_live_item(tmp_path: Path) -> None:
    from imgrag_desktop.indexing.media import is_motion_photo, media_of

    clip = write_video(tmp_path / "c.mp4", [(scene((10, 10, 200)), 1)])
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           b'<rdf:Description xmlns:GCamera="http://ns.google.com/photos/1.0/camera/" GCamera:MotionPhoto="1"/>'
           b'</rdf:RDF></x:xmpmeta>')
    still = tmp_path / "PXL_0001.MP.jpg"
    Image.new("RGB", (64, 48), (10, 10, 200)).save(still, xmp=xmp)
    still.write_bytes(still.read_bytes() + clip.read_bytes())  # the MP4 after the JPEG, as phones write it
    plain = tmp_path / "plain.jpg"
    Image.new("RGB", (64, 48), (10, 10, 200)).save(plain)
    assert is_motion_photo(str(still)) and media_of(str(still), []) == "live"
    assert media_of(str(plain), []) == "photo" and imaging.decode_path(still, 64)[0].width == 64


def test_the_watchers_path_pairs_a_raw_that_arrives_after_its_jpeg(tmp_path: Path, services: Any) -> None:
    d = tmp_path / "w"
    d.mkdir()
    jpg = d / "DSC_7.jpg"
    Image.new("RGB", (320, 240), (240, 200, 20)).save(jpg, quality=90)
    ix = services.indexer()
    ix.index_files([str(jpg)])
    raw = write_dng(d / "DSC_7.NEF".replace(".NEF", ".dng"))
    report = ix.index_files([str(raw)])
    assert report.failed == 0
    rows = services.store.query(None, ["path", "media", "files"]).to_pylist()
    assert [(r["path"], r["media"]) for r in rows] == [(str(jpg), "raw")]
    assert json.loads(rows[0]["files"]) == [str(jpg), str(raw)]
    raw.unlink()
    ix.remove_paths([str(raw)])  # what the watcher does on a delete event
    row = services.store.rows([str(jpg)], ["path", "media", "files"])[str(jpg)]
    assert (row["media"], row["files"]) == ("photo", None)
    clip = write_video(d / "walk.mp4", [(scene((30, 30, 200)), 2)])
    report = ix.index_files([str(clip)])
    assert report.added == 1 and services.store.rows([str(clip)], ["path", "media"])[str(clip)]["media"] == "video"


def test_a_live_photo_renamed_apart_is_paired_by_its_content_identifier(tmp_path: Path) -> None:
    from imgrag_desktop.indexing.media import still_content_id
    from tests.support.videos import write_live_pair

    write_live_pair(tmp_path / "IMG_0003.JPG", tmp_path / "IMG_0003 (2).MOV", "AB12-CD34")
    write_live_pair(tmp_path / "beach.jpg", tmp_path / "other.mov", "EF56")
    write_live_pair(tmp_path / "lonely.jpg", tmp_path / "lonely-clip.mov", "X1")
    (tmp_path / "lonely-clip.mov").unlink()
    assert still_content_id(str(tmp_path / "IMG_0003.JPG")) == "AB12-CD34"
    assert video.content_identifier(tmp_path / "IMG_0003 (2).MOV") == "AB12-CD34"
    comp = companions_of([str(p) for p in sorted(tmp_path.iterdir())])
    assert comp == {str(tmp_path / "IMG_0003.JPG"): [str(tmp_path / "IMG_0003 (2).MOV")],
                    str(tmp_path / "beach.jpg"): [str(tmp_path / "other.mov")]}


def test_a_moved_pair_keeps_its_files_together() -> None:
    from imgrag_desktop.indexing.media import moved_files

    files = json.dumps(["/a/IMG_1.JPG", "/a/IMG_1.CR2"])
    assert json.loads(moved_files(files, "/a/IMG_1.JPG", "/b/IMG_1.JPG", {}) or "") == ["/b/IMG_1.JPG", "/b/IMG_1.CR2"]
    moves = {"/a/IMG_1.CR2": "/c/raw/IMG_1.CR2"}
    assert json.loads(moved_files(files, "/a/IMG_1.JPG", "/b/x.jpg", moves) or "") == ["/b/x.jpg", "/c/raw/IMG_1.CR2"]
