"""RAW+JPEG pairs, videos and sidecar tags through the `imgrag` command (test profile), as the
CLI contract describes them: one hit per item with `files`, a video hit with `time_s`, the
`--rating` and `--tag` filters, and `status --json` counts per media kind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import run_cli
from tests.support.raw_files import write_dng
from tests.support.videos import scene, write_video
from tests.unit.indexing.test_sidecars import xmp


def _hits(out: str) -> list[dict]:
    data = json.loads(out)
    return data["hits"] if isinstance(data, dict) else data


@pytest.mark.slow  # five `imgrag` processes
def test_pairs_videos_and_tags_through_the_cli(tmp_path: Path) -> None:
    d = tmp_path / "lib"
    d.mkdir()
    Image.new("RGB", (320, 240), (240, 200, 20)).save(d / "IMG_0001.JPG", quality=90)
    write_dng(d / "IMG_0001.DNG", colour=(240, 200, 20))
    (d / "IMG_0001.xmp").write_text(xmp("quokka", rating=5))  # Lightroom names the RAW's sidecar so
    Image.new("RGB", (320, 240), (20, 120, 20)).save(d / "other.jpg", quality=90)
    clip = write_video(d / "trip.mp4", [(scene((200, 30, 30)), 3), (scene((30, 30, 200)), 3)])
    (d / "notes.txt").write_text("not a picture")
    data = tmp_path / "data"
    report = json.loads(run_cli("index", str(d), "--json", data_dir=data).stdout)
    assert report["added"] == 3 and report["failed"] == 0
    status = json.loads(run_cli("status", "--json", data_dir=data).stdout)
    assert status["images"] == 3 and status["media"] == {"photos": 1, "raw": 1, "videos": 1, "live": 0}
    assert status["skipped_types"] == {".txt": 1}
    hits = _hits(run_cli("search", "quokka", "--json", "--min-score", "off", data_dir=data).stdout)
    assert hits[0]["path"] == str(d / "IMG_0001.JPG") and hits[0]["files"] == [str(d / "IMG_0001.JPG"),
                                                                               str(d / "IMG_0001.DNG")]
    assert "quokka" in hits[0]["tags"] and hits[0]["rating"] == 5
    assert [h["path"] for h in hits].count(str(d / "IMG_0001.JPG")) == 1
    rated = _hits(run_cli("search", "photo", "--rating", "4", "--tag", "Portugal", "--json", "--min-score", "off",
                          data_dir=data).stdout)
    assert [h["path"] for h in rated] == [str(d / "IMG_0001.JPG")]
    videos = _hits(run_cli("search", "a red scene", "--media", "video", "--json", "--min-score", "off",
                           data_dir=data).stdout)
    assert [h["path"] for h in videos] == [str(clip)] and videos[0]["time_s"] in (0.0, 3.0)
    # what the owner wrote is evidence for a question (the test profile's tiny VLM answers)
    asked = json.loads(run_cli("ask", "what is the title of the quokka photo?", "--json", data_dir=data).stdout)
    assert any(e["source"] == "metadata" and e["path"] == str(d / "IMG_0001.JPG") and "Tram up the hill" in e["text"]
               for e in asked["evidence"]), asked["evidence"]
