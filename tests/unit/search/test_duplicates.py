"""Near-duplicate groups on real COCO photos (test profile, real LanceDB): planted copies are
found, distinct photos never grouped, groups fold in search results, and stay right through
moves and deletions."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from imgrag_desktop.cli import main as cli_main
from imgrag_desktop.config import AppConfig
from imgrag_desktop.search.duplicates import FINGERPRINTS, finder_for
from imgrag_desktop.services import Services
from tests.conftest import coco_images


def _jpeg(img: Image.Image, dest: Path, quality: int) -> Path:
    img.convert("RGB").save(dest, "JPEG", quality=quality)
    return dest


def plant_copies(src: list[Path], dest: Path) -> list[set[str]]:
    """Copies a user ends up with, each group: original + its copies (absolute paths)."""
    ims = [Image.open(p).convert("RGB") for p in src]
    groups = []
    a = ims[0]
    groups.append({_jpeg(a.resize((a.width // 2, a.height // 2), Image.Resampling.LANCZOS), dest / "small_copy.jpg", 90)})
    groups.append({_jpeg(ims[1], dest / "recompressed.jpg", 25)})
    b = ims[2]
    groups.append({_jpeg(b.crop((int(b.width * 0.06), 0, b.width, int(b.height * 0.95))), dest / "cropped.jpg", 85)})
    c = ims[3]
    crop = c.crop((int(c.width * 0.04), int(c.height * 0.04), int(c.width * 0.96), int(c.height * 0.96)))
    groups.append({_jpeg(crop.resize((crop.width * 7 // 10, crop.height * 7 // 10)), dest / "crop_resized.jpg", 70)})
    d = ims[4]
    d.save(dest / "as_png.png")
    groups.append({dest / "as_png.png", _jpeg(d.point(lambda v: min(255, int(v * 1.12 + 4))), dest / "brighter.jpg", 88)})
    sub = dest / "backup"
    sub.mkdir()
    shutil.copy2(src[5], sub / "same_bytes.jpg")
    groups.append({sub / "same_bytes.jpg"})
    return [{str(dest / src[i].name), *(str(p) for p in g)} for i, g in enumerate(groups)]


@pytest.fixture(scope="module")
def library(tmp_path_factory, coco_dir):
    """Every COCO photo of the shared set (distinct pictures) plus planted copies of six."""
    root = tmp_path_factory.mktemp("dups")
    photos = root / "photos"
    photos.mkdir()
    src = coco_images()
    for p in src:
        shutil.copy2(p, photos / p.name)
    expected = plant_copies(src[:6], photos)
    svc = Services(AppConfig.load(root / "data", "test"))
    report = svc.indexer().index_paths([str(photos)])
    assert report.failed == 0
    return svc, photos, expected, root


def test_planted_copies_are_grouped_and_distinct_photos_are_not(library):
    svc, _, expected, _ = library
    groups = finder_for(svc).groups()
    found = [set(g.paths) for g in groups]
    assert sorted(map(sorted, found)) == sorted(map(sorted, expected))
    for g in groups:  # the keeper is the largest picture
        sizes = [svc.store.rows([p])[p]["width"] * svc.store.rows([p])[p]["height"] for p in g.paths]
        assert sizes[0] == max(sizes)


def test_stricter_threshold_keeps_only_close_copies(library):
    svc, _, expected, _ = library
    strict = finder_for(svc, match_threshold=0.97).groups()
    found = [set(g.paths) for g in strict]
    assert all(g in expected for g in found)  # never a new or merged group
    assert any(p.endswith("same_bytes.jpg") for g in found for p in g)
    assert len(found) < len(expected)  # the cropped copies fall below 0.97


def test_search_results_fold_copies_into_one_hit(library):
    svc, photos, expected, _ = library
    group = next(g for g in expected if any(p.endswith("small_copy.jpg") for p in g))
    original = next(p for p in group if not p.endswith("small_copy.jpg"))
    hits = svc.searcher.similar(original, k=10, min_score="off")
    assert hits[0].path == original and hits[0].group_size == len(group)
    assert set(hits[0].group) == group - {original} and hits[0].to_json()["group"] == hits[0].group
    shown = {h.path for h in hits}
    assert not (group - {original}) & shown
    assert len(hits) == 10 and len(shown) == 10
    loose = svc.searcher.similar(original, k=10, min_score="off", collapse=False)
    assert group <= {h.path for h in loose} and all(h.group_size == 1 for h in loose)
    # text search folds the same way: no group shows up twice
    texts = svc.searcher.search("a photo", k=60, min_score="off")
    for g in expected:
        assert len(g & {h.path for h in texts}) <= 1


def test_cli_duplicates_json(library, capsys):
    svc, _, expected, root = library
    code = cli_main(["--data-dir", str(root / "data"), "--profile", "test", "duplicates", "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert sorted(map(sorted, data["groups"])) == sorted(map(sorted, expected))
    assert data["duplicates"] == sum(len(g) - 1 for g in expected)
    assert data["images"] == svc.store.count() and all(d["size"] == len(d["paths"]) for d in data["details"])
    code = cli_main(["--data-dir", str(root / "data"), "--profile", "test", "duplicates", "--threshold", "2"])
    assert code == 1 and "--threshold" in capsys.readouterr().err


def test_groups_follow_moves_deletions_and_missing_fingerprints(tmp_path, coco_dir):
    photos = tmp_path / "photos"
    photos.mkdir()
    src = coco_images()[:12]
    for p in src:
        shutil.copy2(p, photos / p.name)
    a = Image.open(src[0]).convert("RGB")
    copy = _jpeg(a.resize((a.width * 3 // 5, a.height * 3 // 5)), photos / "copy.jpg", 60)
    svc = Services(AppConfig.load(tmp_path / "data", "test"))
    idx = svc.indexer()
    idx.index_paths([str(photos)])
    assert [set(g.paths) for g in finder_for(svc).groups()] == [{str(photos / src[0].name), str(copy)}]

    moved = photos / "sub" / "renamed.jpg"
    moved.parent.mkdir()
    shutil.move(copy, moved)
    rep = idx.index_paths([str(photos)])
    assert rep.reused == 1 and rep.embedded == 0
    assert [set(g.paths) for g in finder_for(svc).groups()] == [{str(photos / src[0].name), str(moved)}]

    # Fingerprints lost (e.g. an index built before they existed) are rebuilt from thumbnails.
    fp = finder_for(svc)
    fp.fingerprints.side.delete_where("true")
    assert fp.fingerprints.count() == 0 and fp.groups() == []
    assert fp.backfill() == 13
    assert [set(g.paths) for g in fp.groups()] == [{str(photos / src[0].name), str(moved)}]

    moved.unlink()
    rep = idx.index_paths([str(photos)])
    assert rep.removed == 1 and finder_for(svc).groups() == []
    assert rep.extra["fingerprints_pruned"] == 1  # type: ignore[attr-defined]
    assert fp.fingerprints.count() == 12


def test_screenshots_need_shared_text_or_near_identity(tmp_path):
    """Two different screenshots of one layout are not copies; a recompressed one is."""
    from imgrag_desktop.fingerprint import fingerprint
    from imgrag_desktop.search.duplicates import DuplicateFinder, FingerprintTable, _Item
    from imgrag_desktop.store import Store
    from tests.conftest import SCREENSHOTS

    shots = sorted(SCREENSHOTS.glob("*.png"))
    if len(shots) < 10:
        pytest.fail("shared screenshots not found")
    finder = DuplicateFinder(Store(tmp_path / "db"), FingerprintTable(tmp_path / "db"))

    def item(img: Image.Image, words: str, name: str) -> _Item:
        from imgrag_desktop.search.duplicates import ocr_words

        return _Item(name, [name], "screenshot", ocr_words(words), fingerprint(img))

    a, b = Image.open(shots[7]).convert("RGB"), Image.open(shots[9]).convert("RGB")  # two text-paragraph pages
    buf = io.BytesIO()
    a.save(buf, "JPEG", quality=70)
    a2 = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    text_a = "the quick brown fox jumps over the lazy dog near the river bank today"
    assert finder.match(item(a, text_a, "a"), item(a2, text_a, "a2")) is not None
    assert finder.match(item(a, text_a, "a"), item(b, "lorem ipsum dolor sit amet consectetur adipiscing elit", "b")) is None
    assert finder.match(item(a, "", "a"), item(b, "", "b")) is None  # no OCR text: only near-identical ones


def test_fingerprint_table_lives_beside_images(library):
    svc, _, _, root = library
    import lancedb

    names = lancedb.connect(str(root / "data" / "index.lancedb")).table_names()
    assert FINGERPRINTS in names and "images" in names


def _fold_pairwise(finder, hits):
    """The fold as it was first written (every hit against every kept hit): the reference."""
    by_path = {p: it for it in finder._items(paths=[h.path for h in hits]) for p in it.paths}
    kept = []
    for h in hits:
        it = by_path.get(h.path)
        home = None
        if it is not None:
            for k, (_kh, kit) in enumerate(kept):
                if kit is not None and (kit is it or finder.match(kit, it) is not None):
                    home = k
                    break
        if home is None:
            kept.append((h, it))
        else:
            kept[home][0].group_size += max(1, h.group_size)
            kept[home][0].group.extend([h.path, *h.group])
    return [(h.path, h.group_size, h.group) for h, _ in kept]


def test_folding_gives_the_pairwise_reference_result(library):
    import copy

    svc, _, expected, _ = library
    finder = finder_for(svc)
    original = next(p for g in expected for p in g if p.endswith("as_png.png"))
    for hits in (svc.searcher.similar(original, k=40, min_score="off", collapse=False),
                 svc.searcher.search("a photo", k=260, min_score="off", collapse=False)):
        want = _fold_pairwise(finder, copy.deepcopy(hits))
        assert len(want) < len(hits)  # copies were folded
        for _ in range(2):  # the second time from remembered verdicts
            got = finder.collapse(copy.deepcopy(hits))
            assert [(h.path, h.group_size, h.group) for h in got] == want


def test_scan_by_cells_and_bands_finds_the_same_groups(library, monkeypatch):
    from imgrag_desktop.search import dup_candidates

    svc, _, expected, _ = library
    monkeypatch.setattr(dup_candidates, "CELL_SIZE", 16)
    finder = finder_for(svc)
    finder.exact_max = 10  # the way past 20,000 pictures, on this library
    found = [set(g.paths) for g in finder.groups()]
    assert sorted(map(sorted, found)) == sorted(map(sorted, expected))
