"""`imgrag people …` and a person's name in `imgrag search`, through the real command line, on
real face photos (the CLI contract: people list --json gives id, name, count)."""

from __future__ import annotations

import json
import shutil

from tests.conftest import run_cli
from tests.support.data import faces_dir

PHOTOS = {"img1.jpg": "A", "img2.jpg": "A", "img4.jpg": "A", "img13.jpg": "B", "img14.jpg": "B", "img15.jpg": "B",
          "img16.jpg": "D", "img17.jpg": "D"}


def _json(*args, data_dir):
    return json.loads(run_cli(*args, "--json", data_dir=data_dir).stdout)


def test_people_from_index_to_search(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for n in PHOTOS:
        shutil.copy2(faces_dir() / n, photos / n)
    data = tmp_path / "data"
    out = _json("index", str(photos), data_dir=data)
    assert out["faces"]["scanned"] == len(PHOTOS) and out["faces"]["people"]["new_people"] == 3
    people = _json("people", "list", data_dir=data)
    assert [(p["name"], p["count"]) for p in people] == [("", 3), ("", 3), ("", 2)]
    assert all(isinstance(p["id"], int) for p in people)
    by_label = {}
    for p in people:
        hits = _json("people", "show", str(p["id"]), data_dir=data)
        labels = {PHOTOS[h["path"].rsplit("/", 1)[1]] for h in hits}
        assert len(labels) == 1 and len(hits) == p["count"] and all(h["path"].startswith(str(photos)) for h in hits)
        by_label[labels.pop()] = p["id"]
    run_cli("people", "name", str(by_label["A"]), "Alice", data_dir=data)
    run_cli("people", "name", str(by_label["B"]), "Bob", data_dir=data)
    bad = run_cli("people", "name", str(by_label["D"]), "alice", data_dir=data, check=False)
    assert bad.returncode != 0 and "already called" in bad.stderr
    # a name in the query is a person filter; unknown words stay text
    proc = run_cli("search", "Alice", "--json", data_dir=data)
    assert {h["path"].rsplit("/", 1)[1] for h in json.loads(proc.stdout)} == {"img1.jpg", "img2.jpg", "img4.jpg"}
    assert "understood" in proc.stderr and "Alice" in proc.stderr
    assert _json("search", "Alice and Bob", data_dir=data) == []
    hits = _json("search", "face -Alice", "--min-score", "off", "-k", "20", data_dir=data)
    assert hits and not {h["path"].rsplit("/", 1)[1] for h in hits} & {"img1.jpg", "img2.jpg", "img4.jpg"}
    # a question about someone is answered from their photos (the test profile's tiny VLM)
    answer = _json("ask", "when did I last see Bob?", data_dir=data)
    cited = {p.rsplit("/", 1)[1] for p in answer["citations"]} | {s["path"].rsplit("/", 1)[1] for s in answer["sources"]}
    assert cited and cited <= {"img13.jpg", "img14.jpg", "img15.jpg"}
    # merge (by name and id), hide
    merged = _json("people", "merge", "bob", str(by_label["D"]), data_dir=data)
    assert merged["name"] == "Bob"
    run_cli("people", "hide", "Alice", data_dir=data)
    assert [(p["name"], p["count"]) for p in _json("people", "list", data_dir=data)] == [("Bob", 5)]
    missing = run_cli("people", "show", "Zed", data_dir=data, check=False)
    assert missing.returncode == 1 and "no person" in missing.stderr and "Traceback" not in missing.stderr
    # privacy: faces off deletes every descriptor and name at once
    run_cli("settings", "set", "faces_enabled", "false", data_dir=data)
    assert not list((data / "index.lancedb").glob("faces.lance")) and not list((data / "index.lancedb").glob("people.lance"))
    off = run_cli("people", "list", data_dir=data, check=False)
    assert off.returncode == 1 and "switched off" in off.stderr
    assert {p.name for p in photos.iterdir()} == set(PHOTOS)  # the photos themselves untouched
