"""Tiles of large images: geometry, policy, a small planted photo found in a large canvas (with
the region that matched), and tiles kept right through moves and deletions."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image, ImageDraw

from imgrag_desktop.config import AppConfig
from imgrag_desktop.search.tiles import MAX_TILES, TileTable, tile_boxes, tile_indexer_for, wants_tiles
from imgrag_desktop.services import Services
from tests.conftest import coco_images

CANVAS = 2400
OBJ_BOX = (920, 1290, 1480, 1710)  # inside the level-2 tile (900, 1200, 1500, 1800)


@pytest.mark.parametrize("w,h,s", [(3000, 2200, 64), (2400, 2400, 224), (1920, 1080, 224), (8000, 600, 224),
                                   (20000, 20000, 224), (1200, 1100, 64), (1100, 5000, 64)])
def test_tile_geometry_covers_the_image_within_budget(w, h, s):
    boxes = tile_boxes(w, h, s)
    assert 0 < len(boxes) <= MAX_TILES
    cover = np.zeros(((h - 1) // 10 + 1, (w - 1) // 10 + 1), bool)
    for x0, y0, x1, y1 in boxes:
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        assert min(x1 - x0, y1 - y0) >= min(2 * s, min(w, h))
        cover[y0 // 10:(y1 - 1) // 10 + 1, x0 // 10:(x1 - 1) // 10 + 1] = True
    assert cover.all()
    # Any object up to half the finest tile lies whole inside some tile.
    finest = min(min(b[2] - b[0], b[3] - b[1]) for b in boxes)
    rng = np.random.default_rng(0)
    for _ in range(200):
        size = finest // 2
        ox, oy = int(rng.integers(0, w - size + 1)), int(rng.integers(0, h - size + 1))
        assert any(b[0] <= ox and b[1] <= oy and ox + size <= b[2] and oy + size <= b[3] for b in boxes)


def test_policy():
    assert wants_tiles(3000, 2000, "", 224)  # a large diagram or screenshot
    assert not wants_tiles(4000, 3000, "Canon EOS 80D", 224)  # an ordinary camera photo
    assert wants_tiles(4000, 3000, "Canon EOS 80D", 224, "all")
    assert wants_tiles(12000, 2000, "Pixel 7", 224)  # a panorama
    assert not wants_tiles(640, 480, "", 64)  # small: the whole image is enough
    assert not wants_tiles(3000, 2000, "", 224, "off")


def diagram(seed: int) -> Image.Image:
    """A plan-like canvas: grid lines and boxes on white."""
    img = Image.new("RGB", (CANVAS, CANVAS), "white")
    d = ImageDraw.Draw(img)
    for v in range(0, CANVAS, 120):
        d.line([(v, 0), (v, CANVAS)], fill=(200, 200, 230), width=2)
        d.line([(0, v), (CANVAS, v)], fill=(200, 200, 230), width=2)
    rng = np.random.default_rng(seed)
    for _ in range(60):
        x, y = (int(v) for v in rng.integers(0, CANVAS - 300, 2))
        d.rectangle([x, y, x + int(rng.integers(80, 300)), y + int(rng.integers(60, 200))], outline=(30, 30, 30), width=4)
    return img


def iou(a, b) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.fixture
def planted(tmp_path, coco_dir):
    lib = tmp_path / "lib"
    lib.mkdir()
    photos = coco_images()
    for p in photos[:20]:
        shutil.copy2(p, lib / p.name)
    query = tmp_path / "query.jpg"  # not indexed: found only inside the canvas
    target = Image.open(photos[100]).convert("RGB")
    target.save(query, quality=95)
    canvas = diagram(1)
    canvas.paste(target.resize((OBJ_BOX[2] - OBJ_BOX[0], OBJ_BOX[3] - OBJ_BOX[1])), OBJ_BOX[:2])
    canvas.save(lib / "plan_with_photo.png")
    diagram(2).save(lib / "plan_without.png")
    svc = Services(AppConfig.load(tmp_path / "data", "test"))
    report = svc.indexer().index_paths([str(lib)])
    return svc, lib, query, report


def test_small_planted_photo_is_found_in_a_large_canvas(planted):
    svc, lib, query, report = planted
    assert report.extra["tiled_images"] == 2 and report.extra["tiles"] == 2 * 58  # type: ignore[attr-defined]
    hits = svc.searcher.similar(str(query), k=5, min_score="off")
    top = hits[0]
    assert top.path == str(lib / "plan_with_photo.png")
    assert "tile" in top.reasons and top.region is not None
    assert iou(top.region, OBJ_BOX) >= 0.5
    # The tile made the difference: the whole canvas alone scores far lower.
    row = svc.searcher.visual().row_of[top.path]
    whole = float(svc.searcher.visual().index.matrix[row] @ svc.searcher.image_vector(str(query)))
    assert top.score > whole + 0.05
    ranks = [h.path for h in svc.searcher.similar(str(query), k=30, min_score="off")]
    assert ranks.index(str(lib / "plan_with_photo.png")) < ranks.index(str(lib / "plan_without.png"))
    without = svc.searcher.similar(str(query), k=30, min_score="off", collapse=False)
    assert without[0].path == top.path  # not an artefact of folding


def test_tiles_follow_moves_and_deletions(planted):
    svc, lib, query, _ = planted
    tiles = TileTable(svc.cfg.db_dir)
    model = svc.clip.model_id
    assert tiles.count(model) == 2 * 58
    moved = lib / "archive" / "renamed_plan.png"
    moved.parent.mkdir()
    shutil.move(lib / "plan_with_photo.png", moved)
    rep = svc.indexer().index_paths([str(lib)])
    assert rep.reused == 1 and rep.extra["tiles"] == 0 and tiles.count(model) == 2 * 58  # type: ignore[attr-defined]
    top = svc.searcher.similar(str(query), k=3, min_score="off")[0]
    assert top.path == str(moved) and iou(top.region, OBJ_BOX) >= 0.5
    assert tile_indexer_for(svc).pending() == []
    moved.unlink()
    rep = svc.indexer().index_paths([str(lib)])
    assert rep.extra["tiles_pruned"] == 1 and tiles.count(model) == 58  # type: ignore[attr-defined]
    assert all(h.path != str(moved) for h in svc.searcher.similar(str(query), k=30, min_score="off"))


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="needs FIFOs")
def test_unreadable_large_image_gets_a_marker_not_a_retry_loop(tmp_path):
    import os

    lib = tmp_path / "lib"
    lib.mkdir()
    big = lib / "big.png"
    diagram(3).save(big)
    svc = Services(AppConfig.load(tmp_path / "data", "test"))
    svc.indexer().index_paths([str(lib)])
    tiles = TileTable(svc.cfg.db_dir)
    model = svc.clip.model_id
    assert tiles.count(model) == 58
    tiles.side.delete_where("true")  # as if tiling had not happened yet, and then the file became unreadable
    big.unlink()
    os.mkfifo(big)  # never opened for reading: it would block
    report = tile_indexer_for(svc).run()
    assert report.failed == 1 and report.tiles == 0
    assert tiles.count(model) == 0 and tiles.count(model, with_vectors=False) == 1
    assert "not a regular file" in tiles.side.query(None, ["error"]).column("error")[0].as_py()
    assert tile_indexer_for(svc).pending() == []  # not retried on every run
