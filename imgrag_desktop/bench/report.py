"""The human-readable summary `imgrag bench` prints (the JSON is the result itself)."""

from __future__ import annotations

from typing import Any


def format_report(r: dict[str, Any]) -> str:
    """The human-readable summary `imgrag bench` prints."""
    m = r["machine"]
    lines = [f"machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('ram_gb')} GiB RAM, GPU: {m.get('gpu') or 'none'}"
             f", load {m.get('load_average_at_start')}"]
    if "model" in r:
        lines.append(f"model: {r['model']['name']} ({r['model']['weights']}), {r['model']['device']} {r['model']['dtype']}")
    if "index" in r:
        ix = r["index"]
        lines.append(f"indexing (batch {ix['batch_size']}, {ix['decode_workers']} decode workers):")
        for name, s in ix["sets"].items():
            lines.append(f"  {name:8s} {s['images']:4d} JPEGs {s['width']}x{s['height']}: pipeline "
                         f"{s['pipeline_images_per_s']:.1f}/s, naive {s['naive_images_per_s']:.1f}/s, x{s['speedup']:.2f} "
                         f"(CPU per image {s['pipeline_cpu_ms_per_image']:.0f} vs {s['naive_cpu_ms_per_image']:.0f} ms, "
                         f"x{s['cpu_ratio']:.2f})"
                         + (f"; naive at {ix['dtype']} {s['naive_same_precision_images_per_s']:.1f}/s, "
                            f"x{s['speedup_same_precision']:.2f}" if "speedup_same_precision" in s else ""))
    if "search" in r:
        s = r["search"]
        lines.append(f"CLIP text encode p50 {s['text_encode_ms']['p50']:.1f} ms, image encode p50 {s['image_encode_ms']['p50']:.1f} ms")
        for e in s["sizes"]:
            v, q = e["vectors"], e["searcher"]
            lines.append(
                f"  {v['rows']:>9,} rows: exact {v['exact_ms']['p50']:.2f} ms, IVF {v['ivf']['search_ms']['p50']:.2f} ms "
                f"(nlist {v['ivf']['nlist']}, nprobe {v['ivf']['nprobe']}, recall@10 text {v['ivf']['recall_at_10']['text']:.3f} "
                f"image {v['ivf']['recall_at_10']['image']:.3f}, build {v['ivf']['build_s']:.1f} s); "
                f"product ({q['method']}): text query p50 {q['text_query_ms']['p50']:.1f} / p95 {q['text_query_ms']['p95']:.1f} ms, "
                f"image query p50 {q['image_query_ms']['p50']:.1f} / p95 {q['image_query_ms']['p95']:.1f} ms; "
                f"first query after a text write {q['first_query_after_text_write_ms']:.0f} ms, "
                f"after a new picture {q['first_query_after_new_picture_ms']:.0f} ms"
                + (f" (whole reload {q['first_query_after_new_picture_reload_ms']:.0f} ms)"
                   if "first_query_after_new_picture_reload_ms" in q else ""))
    if "memory" in r:
        mm = r["memory"]
        lines.append(f"memory: `imgrag index` of {mm['index_images']} images peak RSS {mm['index_peak_rss_mb']} MB "
                     f"({mm['index_wall_s']:.1f} s); window cold start: "
                     + (f"{mm['window']['process_start_to_shown_s']:.2f} s to shown ({mm['window_note']})"
                        if mm["window"] else mm["window_note"]))
    lines += _feature_lines(r)
    for name, g in r.get("goals", {}).items():
        lines.append(f"goal {name}: {g['value']} (target {g['target']}) {'met' if g['met'] else 'NOT met'}")
    return "\n".join(lines)


def _feature_lines(r: dict[str, Any]) -> list[str]:
    """The parts asked for by name (features, vlm, watch, gui): one or two lines each."""
    lines = []
    if "features" in r:
        f = r["features"]
        lines.append(f"features ({f['model']}, {f['images']} photos): visual pass {f['index_visual_pass_s']:.2f} s; "
                     f"calibration x{f['calibration_vs_index']} of it; a {f['canvas_tiles']}-tile canvas costs "
                     f"{f['canvas_tiles_vs_one_image']} images; search with tiles and folding "
                     f"x{f['search_ratio']} ({f['search_with_tiles_and_folding_ms']:.1f} ms); "
                     f"duplicate scan {f['duplicate_scan_s']:.2f} s")
    if "places" in r:
        p = r["places"]
        lines.append(f"places: {p['places_and_time_per_photo_ms']} ms per photo (x{p['places_vs_decode']} of its decode), "
                     f"geocoding {p['geocode_per_photo_us']} µs per photo ({p['geocode_100k_photos_s']} s for 100k); "
                     f"a query read in {p['query_p50_ms']} ms (p50), the first in {p['query_first_s']} s")
    if "ocr" in r:
        from imgrag_desktop.bench.ocr import ocr_lines

        lines += ocr_lines(r["ocr"])
    if "vlm" in r:
        v = r["vlm"]
        s = v["small_llava_captions"]
        lines.append(f"vlm: SmolVLM-256M-sized caption {s['caption_s_median']:.2f} s per picture "
                     f"(prefill {s['prefill_s_median']:.2f} s, {s['tokens_per_s_median']} tokens/s)")
        g = v.get("gemma3_270m")
        lines.append(f"vlm: Gemma 3 270M {g['threads_1']['tokens_per_s']} tokens/s on 1 thread, "
                     f"{g['threads_2']['tokens_per_s']} on 2 (x{g['tokens_per_s_ratio_2_vs_1']})"
                     if isinstance(g, dict) else f"vlm: Gemma 3 270M: {g}")
    if "watch" in r:
        w = r["watch"]
        for key, lat in w.items():
            if key.startswith("latency_"):
                lines.append(f"watch {lat['mode']} ({lat['files']} files, batch {lat['batch_max']}): write to searchable "
                             f"p50 {lat['p50_s']:.2f} s, p95 {lat['p95_s']:.2f} s")
        if "idle" in w:
            lines.append(f"watch idle: {w['idle']['cpu_percent']}% CPU, {w['idle']['rss_mib']} MiB")
        if "big_tree" in w:
            b = w["big_tree"]
            lines.append(f"watch tree of {b['files']:,} files: scan x{b['scan_vs_walk']} of os.walk, start to idle "
                         f"{b['watch_start_to_idle_s']:.1f} s, unchanged rescan {b['unchanged_rescan_s']:.2f} s")
    if "gui" in r:
        g = r["gui"]
        lines.append(f"window watching: copy to shown p50 {g['copy_to_shown_p50_s']:.2f} s; burst of {g['burst_files']} "
                     f"all shown in {g['burst_to_all_shown_s']:.1f} s, longest stall "
                     f"{g['heartbeat_burst']['max_gap_ms']:.0f} ms (x{g['stall_ratio_burst_vs_idle']} of idle); "
                     f"duplicates tab {g['duplicates_tab_s']:.2f} s")
    for e in r.get("window", {}).get("sizes", []):
        for mode, m in e.items():
            if mode != "rows":
                lines.append(f"window search {e['rows']:,} rows, {mode}: to the grid filled p50 {m['query_ms']['p50']:.0f} ms, "
                             f"p95 {m['query_ms']['p95']:.0f} ms (first query {m['first_query_ms']:.0f} ms)")
    return lines
