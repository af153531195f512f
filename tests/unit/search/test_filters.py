"""Filters on known data (folder, date from EXIF else file time, kind, camera, orientation,
minimum size), through every search path: text, similar, combined, duplicates, and the CLI."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image

from imgrag_desktop.cli import main as cli_main
from imgrag_desktop.search import build_filter
from imgrag_desktop.search.duplicates import finder_for
from tests.conftest import SCREENSHOTS, coco_images


def _size(p: str | Path) -> tuple[int, int]:
    with Image.open(p) as im:
        return im.size


def _ts(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d").timestamp()


def _with_exif(src: Path, dest: Path, make: str, model: str, taken: str) -> Path:
    with Image.open(src) as im:
        img = im.convert("RGB")
    exif = Image.Exif()
    exif[0x010F] = make
    exif[0x0110] = model
    exif.get_ifd(0x8769)[0x9003] = taken
    img.save(dest, "JPEG", quality=92, exif=exif)
    return dest


@pytest.fixture(scope="module")
def lib(tmp_path_factory, coco_dir):
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.services import Services

    root = tmp_path_factory.mktemp("filters")
    photos = [p for p in coco_images() if _size(p)[0] > _size(p)[1]][:12]
    d = {name: root / name for name in ("a", "a2", "b", "c", "it's")}
    for p in d.values():
        p.mkdir()
    files: dict[str, Path] = {}
    for i, p in enumerate(photos[:4]):
        files[f"a{i}"] = Path(shutil.copy2(p, d["a"] / p.name))
    files["canon"] = _with_exif(photos[4], d["a"] / "canon.jpg", "Canon", "Canon EOS 80D", "2019:06:01 12:00:00")
    files["nikon"] = _with_exif(photos[5], d["a"] / "nikon.jpg", "NIKON CORPORATION", "NIKON D750", "2015:02:03 08:00:00")
    for i, p in enumerate(photos[6:8]):
        files[f"a2_{i}"] = Path(shutil.copy2(p, d["a2"] / p.name))
    with Image.open(photos[8]) as im:
        big = im.convert("RGB")
    big.crop((0, 0, 300, 420)).save(d["b"] / "portrait.jpg", quality=90)
    big.crop((0, 0, 400, 400)).save(d["b"] / "square.jpg", quality=90)
    files["portrait"], files["square"] = d["b"] / "portrait.jpg", d["b"] / "square.jpg"
    shots = sorted(SCREENSHOTS.glob("*.png"))[:2]
    for s in shots:
        files[f"shot_{s.stem}"] = Path(shutil.copy2(s, d["c"] / s.name))
    files["quote"] = Path(shutil.copy2(photos[9], d["it's"] / "q.jpg"))
    for key, f in files.items():  # file times: 2021-03-04 for all, 2023-05-05 for one
        t = _ts("2023-05-05" if key == "a0" else "2021-03-04") + 3600
        os.utime(f, (t, t))
    svc = Services(AppConfig.load(root / "data", "test"))
    rep = svc.indexer().index_paths([str(root)])
    assert rep.failed == 0 and rep.added == len(files)
    return svc, root, {k: str(v) for k, v in files.items()}


def paths_for(svc, where, mode="text"):
    s = svc.searcher
    if mode == "text":
        hits = s.search("a photo", k=100, where=where, min_score="off", collapse=False)
    elif mode == "similar":
        any_row = s.visual().paths[0]
        hits = s.similar(any_row, k=100, where=where, min_score="off", collapse=False)
    else:
        hits = s.search("a photo -people", k=100, where=where, min_score="off", collapse=False)
    return {h.path for h in hits}


MODES = ("text", "similar", "combined")


@pytest.mark.parametrize("mode", MODES)
def test_folder_filter_stops_at_the_folder(lib, mode):
    svc, root, f = lib
    got = paths_for(svc, build_filter(folder=str(root / "a")), mode)
    assert got == {f[k] for k in ("a0", "a1", "a2", "a3", "canon", "nikon")}  # not a2/, a sibling
    assert paths_for(svc, build_filter(folder=str(root / "it's")), mode) == {f["quote"]}


@pytest.mark.parametrize("mode", MODES)
def test_date_filter_uses_exif_then_file_time(lib, mode):
    svc, _, f = lib
    assert paths_for(svc, build_filter(date_from=_ts("2019-05-31"), date_to=_ts("2019-06-02")), mode) == {f["canon"]}
    assert paths_for(svc, build_filter(date_to=_ts("2020-01-01")), mode) == {f["canon"], f["nikon"]}
    assert paths_for(svc, build_filter(date_from=_ts("2023-01-01")), mode) == {f["a0"]}
    got = paths_for(svc, build_filter(date_from=_ts("2021-03-01"), date_to=_ts("2021-03-10")), mode)
    assert got == set(f.values()) - {f["canon"], f["nikon"], f["a0"]}


@pytest.mark.parametrize("mode", MODES)
def test_camera_orientation_size_and_kind(lib, mode):
    svc, _, f = lib
    assert paths_for(svc, build_filter(camera="canon"), mode) == {f["canon"]}
    assert paths_for(svc, build_filter(camera="D750"), mode) == {f["nikon"]}
    assert paths_for(svc, build_filter(orientation="portrait"), mode) == {f["portrait"]} | {
        p for k, p in f.items() if k.startswith("shot_") and _size(p)[1] > _size(p)[0]}
    assert paths_for(svc, build_filter(orientation="square"), mode) == {f["square"]} | {
        p for k, p in f.items() if k.startswith("shot_") and _size(p)[1] == _size(p)[0]}
    sizes = {p: _size(p) for p in f.values()}
    assert paths_for(svc, build_filter(min_width=500, min_height=400), mode) == {
        p for p, (w, h) in sizes.items() if w >= 500 and h >= 400}
    shots = {p for k, p in f.items() if k.startswith("shot_")}
    kinds = svc.store.rows(list(f.values()), ["kind"])
    assert {kinds[p]["kind"] for p in shots} <= {"screenshot", "document"}
    for kind in ("photo", "screenshot,document"):
        assert paths_for(svc, build_filter(kind=kind), mode) == {p for p in f.values() if kinds[p]["kind"] in kind}
    assert shots <= paths_for(svc, build_filter(kind="screenshot,document"), mode)
    assert paths_for(svc, build_filter(kind="photo", folder=str(lib[1] / "b")), mode) == {f["portrait"], f["square"]}


def test_nothing_passes_is_an_empty_answer(lib):
    svc, _, _ = lib
    assert paths_for(svc, build_filter(camera="leica")) == set()
    assert svc.searcher.similar(svc.searcher.visual().paths[0], where=build_filter(min_width=10**6)) == []


def test_duplicates_honour_filters(lib):
    svc, root, f = lib
    # b/ holds two crops of one photo's corner (95 % of the portrait lies inside the square):
    # copies by the definition, and the only group anywhere.
    every = [set(g.paths) for g in finder_for(svc).groups()]
    assert every == [{f["portrait"], f["square"]}]
    assert [set(g.paths) for g in finder_for(svc).groups(build_filter(folder=str(root / "b")))] == every
    assert finder_for(svc).groups(build_filter(folder=str(root / "a"))) == []
    assert finder_for(svc).groups(build_filter(orientation="portrait")) == []  # the square is filtered out


def test_cli_filters(lib, capsys):
    svc, root, f = lib
    base = ["--data-dir", str(svc.cfg.data_dir), "--profile", "test"]
    assert cli_main([*base, "search", "a photo", "-k", "50", "--after", "2019-05-31", "--before", "2019-06-02",
                     "--min-score", "off", "--json"]) == 0
    assert {h["path"] for h in json.loads(capsys.readouterr().out)["hits"]} == {f["canon"]}
    assert cli_main([*base, "similar", f["a1"], "-k", "50", "--folder", str(root / "a2"), "--min-score", "off",
                     "--json"]) == 0
    assert {h["path"] for h in json.loads(capsys.readouterr().out)} == {f["a2_0"], f["a2_1"]}
    assert cli_main([*base, "search", "x", "--after", "last tuesday"]) == 1
    assert "cannot read the date" in capsys.readouterr().err
