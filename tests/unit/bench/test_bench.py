"""`imgrag bench`: a quick run returns every documented figure with sane values.

Timings are never asserted (the machine is shared and noisy); only that each figure exists,
has the right type and range, and that the comparisons were actually made in the run.
"""

import importlib.util
import json
import math

import numpy as np
import pytest

from imgrag_desktop.bench import GOALS, SyntheticClip, run_bench
from imgrag_desktop.types import ImgragError
from tests.conftest import run_cli

TINY = "imgrag-tiny"  # the test profile's architecture, random weights: same code path, fast


def _ms(d):
    assert set(d) == {"p50", "p95", "n"} and d["n"] > 0
    assert 0 < d["p50"] <= d["p95"] < 60_000
    return d


def test_synthetic_vectors_look_like_clip():
    gen = SyntheticClip(20_000, seed=1)
    x = gen.images(20_000)
    assert x.dtype == np.float32 and np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)
    stats = SyntheticClip.describe(x, gen.texts(50))
    assert 0.35 <= stats["pair_cosine_mean"] <= 0.55  # a narrow cone, as CLIP's
    assert stats["image_top10_cosine"] > stats["pair_cosine_mean"] + 0.15  # real neighbourhoods
    assert stats["text_top1_cosine"] < stats["image_top10_cosine"]  # the modality gap
    assert 10 < stats["effective_dim"] < 200
    assert np.array_equal(gen.images(100, seed=4), gen.images(100, seed=4))  # reproducible


def test_quick_bench_all_parts(coco_dir, tmp_path):
    r = run_bench(parts=["all"], quick=True, sizes=[300, 3000], images=4, queries=6, model=TINY,
                  work_dir=tmp_path)
    assert r["machine"]["cores"] >= 1 and "cpu" in r["machine"]
    assert r["model"]["name"] == TINY and r["model"]["device"] in ("cpu", "cuda", "mps")

    s = r["search"]
    _ms(s["text_encode_ms"]), _ms(s["image_encode_ms"])
    assert [e["vectors"]["rows"] for e in s["sizes"]] == [300, 3000]
    for e in s["sizes"]:
        v, q = e["vectors"], e["searcher"]
        _ms(v["exact_ms"]), _ms(v["ivf"]["search_ms"])
        assert 1 <= v["ivf"]["nprobe"] <= v["ivf"]["nlist"]
        for name in ("text", "image"):
            assert 0.5 <= v["ivf"]["recall_at_10"][name] <= 1.0
        assert v["product_uses"] == "exact"  # far below the IVF threshold
        assert q["rows"] == v["rows"] and q["method"] == "exact"
        for key in ("text_query_ms", "image_query_ms", "vector_search_ms", "hits_ms"):
            _ms(q[key])
        assert 0 <= q["load_s"] < 600 and q["store_write_s"] > 0  # load_s is rounded to 0.01 s: 0.0 is a real reading
        assert q["first_query_after_text_write_ms"] > 0 and q["first_query_after_new_picture_ms"] > 0
        samples = q["first_query_after_new_picture_samples_ms"]
        assert len(samples) == 5 and q["first_query_after_new_picture_ms"] == round(float(np.median(samples)), 1)

    ix = r["index"]
    assert ix["batch_size"] >= 1 and ix["decode_workers"] >= 1
    assert set(ix["sets"]) == {"12mp", "640x480"}
    for st in ix["sets"].values():
        assert st["images"] >= 2 and st["mean_file_mb"] > 0
        assert st["naive_images_per_s"] > 0 and st["pipeline_images_per_s"] > 0
        assert st["speedup"] == pytest.approx(st["pipeline_images_per_s"] / st["naive_images_per_s"], rel=0.05)
        # The baseline is open_clip's default fp32; at another product precision the naive loop
        # also runs at that one, so the two gains can be told apart.
        assert ix["naive_dtype"] == "float32" and ix["dtype"] == r["model"]["dtype"]
        assert ("speedup_same_precision" in st) == (ix["dtype"] != "float32")
        # issue 19: the image tower alone on the same batches, the model-bound ceiling
        assert st["tower_images_per_s"] > 0
        assert st["pipeline_vs_tower"] == pytest.approx(st["pipeline_images_per_s"] / st["tower_images_per_s"], rel=0.05)
        # ... in CPU seconds too, and with the pass's calibration phase told apart
        assert st["tower_cpu_ms_per_image"] > 0 and st["pipeline_vs_tower_cpu"] > 0
        assert "index" in st["pipeline_phases"] and st["pipeline_calibrate_s"] > 0  # a fresh library is calibrated
        assert st["pipeline_vs_tower_without_calibration"] >= st["pipeline_vs_tower"]  # rounded to 3 places

    m = r["memory"]
    assert m["index_peak_rss_mb"] > m["doctor_peak_rss_mb"] * 0.5 > 0
    assert m["index_wall_s"] > 0
    assert isinstance(m["window_note"], str) and m["window_note"]
    if importlib.util.find_spec("imgrag_desktop.gui") is None:
        assert m["window"] is None and "not part of this build" in m["window_note"]
    else:
        assert m["window"] is not None, m["window_note"]
        assert 0 < m["window"]["process_start_to_shown_s"] < 120

    # The whole `imgrag index` and the seed's loop, each a fresh process on the same files.
    c = m["command"]["12mp"]
    assert c["images"] >= 4 and c["command_s"] > 0 and c["naive_s"] > c["naive_loop_s"] > 0
    assert c["speedup"] == pytest.approx(c["naive_s"] / c["command_s"], rel=0.05)
    assert c["command_peak_rss_mb"] > 0 and c["naive_peak_rss_mb"] > 0
    t = c["timings"]
    assert {"ocr", "text", "faces"} <= set(t["stage_seconds"]) == set(t["stage_cpu_seconds"])
    assert 0 < t["visual_pass_s"] < c["command_s"] and c["command_start_and_rest_s"] > 0

    # Goals are reported only for the sizes they name; the quick run names none of the search
    # ones, nor those of the whole command (its sets are too small to mean anything).
    assert set(r["goals"]) == {"index_speedup_12mp", "index_speedup_640x480", "index_tower_share_640x480"}
    for g in r["goals"].values():
        assert g["target"] in GOALS.values() and isinstance(g["met"], bool)
    assert not list(tmp_path.iterdir())  # the generated files are gone
    json.dumps(r)  # JSON-able as it is


def test_bench_rejects_bad_parts():
    with pytest.raises(ImgragError, match="unknown benchmark part"):
        run_bench(parts=["nope"], quick=True)


def test_cli_bench_json(tmp_path):
    out = run_cli("bench", "--quick", "--part", "search", "--sizes", "400", "--queries", "4", "--model", TINY,
                  "--work-dir", str(tmp_path), "--json", data_dir=tmp_path / "data")
    r = json.loads(out.stdout)
    assert r["parts"] == ["search"] and "index" not in r and "memory" not in r
    e = r["search"]["sizes"][0]
    assert e["vectors"]["rows"] == 400 and not math.isnan(e["vectors"]["ivf"]["recall_at_10"]["text"])
    v = e["vectors"]
    for c in (v["exact_compact"], v["ivf"]["compact"]):  # forced on beside float32 at every size
        assert c["used"] and c["kind"] in ("sq8", "ivf-sq8") and 0 < c["mb"] < v["float32_mb"] / 2
        _ms(c["search_ms"])
        assert 0.9 <= c["recall_vs_float32"] <= 1.0
        for name in ("text", "image"):
            assert 0.5 <= c["recall_at_10"][name] <= 1.0
    assert v["exact_compact"]["recall_at_10"]["text"] >= 0.95  # exact scan + exact re-rank
    q = e["searcher"]
    assert q["vectors_compact_mb"] is None and "float32" not in q  # too small for the compact copy
    assert 0.99 <= q["vector_recall_at_10"] <= 1.0
    assert q["start_first_query_s"] > 0 and q["start_first_query_normal_s"] > 0 and q["start_cache_same_hits"]
    assert "bench:" in out.stderr  # progress on stderr
    bad = run_cli("bench", "--sizes", "ten", data_dir=tmp_path / "data", check=False)
    assert bad.returncode == 1 and "cannot read --sizes" in bad.stderr


def test_generated_photos_carry_camera_exif(tmp_path):
    """Like camera files, so the tile policy treats the 12 MP set as ordinary photos."""
    from PIL import Image

    from imgrag_desktop.bench import make_jpegs
    from imgrag_desktop.imaging import decode_path
    from imgrag_desktop.search.tiles import wants_tiles

    (p,) = make_jpegs(tmp_path, 1, (4000, 3000))
    with Image.open(p) as im:
        assert im.getexif()[0x010F] == "BenchCam"
    dec, _ = decode_path(str(p), max_side=448)
    assert dec.camera and not wants_tiles(4000, 3000, dec.camera, 224)


def test_searcher_bench_reports_the_compact_scan_beside_float32(tmp_path, monkeypatch):
    """At a size where the product scans the compact copy, the same run times the same library
    scanning float32, and both recalls are measured against every row's exact score."""
    from imgrag_desktop.bench import bench_encoder
    from imgrag_desktop.bench.search import bench_searcher
    from imgrag_desktop.search import compact, startcache

    monkeypatch.setattr(compact, "COMPACT_MIN_ROWS", 500)
    monkeypatch.setattr(startcache, "MIN_ROWS", 500)
    texts = ["a dog on the beach", "a red car", "mountains at sunset", "a plate of pasta"]
    q = bench_searcher(1500, bench_encoder(TINY), tmp_path, texts, [], k=10)
    assert q["method"] == "exact+compact" and q["compact_kind"] == "sq8" and 0 < q["vectors_compact_mb"] < q["vectors_float32_mb"] / 2
    assert 0.95 <= q["vector_recall_at_10"] <= 1.0
    f = q["float32"]
    _ms(f["text_query_ms"]), _ms(f["vector_search_ms"])
    assert f["vector_recall_at_10"] == 1.0  # the exact float32 scan
    assert q["compact_speedup_text_query"] > 0 and q["compact_speedup_vector_search"] > 0
    assert q["start_cache_same_hits"] and q["new_picture_extra_ms"] is not None


def test_the_mixed_folder_libraries_share_one_onnx_folder(tmp_path, monkeypatch):
    """bench_mixed's fresh libraries share one export folder, so no measured run pays the
    models' once-only ONNX export; the user's IMGRAG_ONNX_DIR (or "off") is left as it was."""
    import threading

    from imgrag_desktop.bench.ocr import _shared_exports
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.models import onnx_clip

    monkeypatch.delenv("IMGRAG_ONNX_DIR", raising=False)
    with _shared_exports(tmp_path / "exports"):
        assert AppConfig.load(tmp_path / "a", "test").onnx_dir == AppConfig.load(tmp_path / "b", "test").onnx_dir \
            == tmp_path / "exports"
    assert AppConfig.load(tmp_path / "a", "test").onnx_dir == AppConfig.load(tmp_path / "a", "test").models_dir / "onnx"
    monkeypatch.setenv("IMGRAG_ONNX_DIR", "off")
    with _shared_exports(tmp_path / "exports"):
        assert not AppConfig.load(tmp_path / "a", "test").onnx_enabled
    done = threading.Event()
    # the comparison waits for an export the way every command does (onnx_clip.wait_for_exports)
    onnx_clip.start_export(lambda: (threading.Event().wait(0.2), done.set()), "the text model x", "imgrag-onnx-text-export")
    assert onnx_clip.wait_for_exports()
    assert done.is_set()
