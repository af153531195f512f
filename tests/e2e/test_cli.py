"""The `imgrag` command end to end, as a subprocess, on real COCO photos (test profile)."""

import json

from tests.conftest import run_cli


def test_cli_index_search_similar_status(tmp_path, photo_dir):
    data = tmp_path / "data"
    out = run_cli("index", str(photo_dir), "--json", data_dir=data)
    report = json.loads(out.stdout)
    assert report["added"] == 24 and report["images"] == 24 and report["failed"] == 0
    assert "indexing" in out.stderr  # progress goes to stderr

    status = json.loads(run_cli("status", "--json", data_dir=data).stdout)
    assert status["images"] == 24 and status["failed"] == 0
    assert status["folders"] == [str(photo_dir)]

    query = sorted(photo_dir.iterdir())[5]
    hits = json.loads(run_cli("similar", str(query), "-k", "4", "--json", data_dir=data).stdout)
    assert hits[0]["path"] == str(query) and hits[0]["score"] >= 0.99 and len(hits) == 4

    hits = json.loads(run_cli("--json", "search", "people playing tennis", "-k", "3", data_dir=data).stdout)["hits"]
    assert len(hits) == 3 and all(h["path"].startswith(str(photo_dir)) for h in hits)

    human = run_cli("search", "a red bus", "-k", "2", data_dir=data).stdout
    assert human.count(str(photo_dir)) == 2

    again = json.loads(run_cli("index", str(photo_dir), "--json", data_dir=data).stdout)
    assert again["unchanged"] == 24 and again["embedded"] == 0


def test_cli_errors_are_one_line(tmp_path):
    proc = run_cli("index", str(tmp_path / "missing"), data_dir=tmp_path / "d", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "no such file or folder" in proc.stderr
    proc = run_cli("similar", str(tmp_path / "nope.jpg"), data_dir=tmp_path / "d", check=False)
    assert proc.returncode == 1 and "no such image" in proc.stderr


def test_cli_doctor(tmp_path):
    proc = run_cli("doctor", "--json", data_dir=tmp_path / "d")
    data = json.loads(proc.stdout)
    names = {c["name"]: c for c in data["checks"]}
    assert data["ok"] and names["data dir"]["ok"] and names["torch"]["ok"]
    assert names["tesseract"]["ok"], names["tesseract"]["detail"]


def test_cli_version():
    proc = run_cli("--version")
    assert proc.stdout.startswith("imgrag ")
