"""models/catalogue.py: one list of CLIP and VLM models, installing and choosing them."""

from __future__ import annotations

import threading

import pytest

from imgrag_desktop.config import AppConfig
from imgrag_desktop.models import catalogue
from imgrag_desktop.models.downloads import DownloadCancelled, HubDownloader
from imgrag_desktop.types import ImgragError
from tests.support.hub_server import LoopbackHub

TINY = "imgrag-tiny/hf-hub:imgrag/imgrag-tiny"


@pytest.fixture
def cfg(tmp_path):
    c = AppConfig.load(tmp_path / "d", "default")
    c.settings.clip_model, c.settings.clip_pretrained = "imgrag-tiny", "hf-hub:imgrag/imgrag-tiny"
    c.save()
    return c


def test_rows_cover_both_kinds_with_the_figures_the_page_shows(cfg):
    rows = catalogue.rows(cfg)
    kinds = {r["kind"] for r in rows}
    assert kinds == {"clip", "vlm"}
    for r in rows:
        assert {"name", "kind", "installed", "in_use", "size_mb", "partial_bytes"} <= set(r)
    default = next(r for r in rows if r["name"] == "vit-b-32-256")
    assert default["coco_image_r5"] and default["languages"] and "img/s" in default["speed"]
    assert {r["name"] for r in rows if r["in_use"] and r["kind"] == "clip"} == {TINY}  # the model in settings
    assert catalogue.missing(cfg)[0]["name"] == TINY


def test_find_use_and_unknown_names(cfg):
    assert catalogue.find("vit-b-16")[0] == "clip" and catalogue.find("smolvlm-256m")[0] == "vlm"
    with pytest.raises(ImgragError, match="vit-b-32-256"):
        catalogue.find("nonesuch")
    with pytest.raises(ImgragError, match="not downloaded"):
        catalogue.use(cfg, "vit-b-16")


def test_install_pause_resume_use_and_discard(cfg, tiny_ckpt):
    with LoopbackHub() as hub:
        hub.add("imgrag/imgrag-tiny", tiny_ckpt, "open_clip_pytorch_model.bin")
        hub.state.delay_s = 0.003
        dl = HubDownloader(endpoint=hub.endpoint, chunk_size=1 << 16)
        cancel = threading.Event()
        with pytest.raises(DownloadCancelled):
            catalogue.install(cfg, TINY, progress=lambda e: e.done > 1 << 20 and cancel.set(), cancel=cancel, downloader=dl)
        choice = catalogue.find(TINY)[1]
        assert catalogue.clip_partial(cfg, choice) > 1 << 20 and not catalogue.clip_installed(cfg, choice)
        row = next(r for r in catalogue.rows(cfg, "clip") if r["name"] == TINY)
        assert row["partial_bytes"] > 0 and not row["installed"]
        hub.state.delay_s = 0.0
        files = catalogue.install(cfg, TINY, downloader=dl)
        assert files[0].read_bytes() == tiny_ckpt.read_bytes() and catalogue.clip_installed(cfg, choice)
        assert hub.gets()[-1][2].startswith("bytes=")  # resumed
    # Installed: no network needed any more (the hub is gone).
    assert catalogue.install(cfg, TINY) == files
    cfg.settings.clip_model, cfg.settings.clip_pretrained = "ViT-B-32", "laion2b_s34b_b79k"
    assert catalogue.use(cfg, TINY) == "clip"
    again = AppConfig.load(cfg.data_dir, "default")
    assert (again.settings.clip_model, again.settings.clip_pretrained) == ("imgrag-tiny", "hf-hub:imgrag/imgrag-tiny")
    from imgrag_desktop.models.clip import encoder_from_config

    enc = encoder_from_config(again)
    enc.load()
    assert enc.dim == 128 and enc.model_id == "imgrag-tiny/hf-hub:imgrag/imgrag-tiny"


def test_discard_partial_removes_what_a_cancel_left(cfg, tiny_ckpt):
    with LoopbackHub() as hub:
        hub.add("imgrag/imgrag-tiny", tiny_ckpt, "open_clip_pytorch_model.bin")
        hub.state.delay_s = 0.003
        cancel = threading.Event()
        with pytest.raises(DownloadCancelled):
            catalogue.install(cfg, TINY, progress=lambda e: e.done > 1 << 20 and cancel.set(), cancel=cancel,
                              downloader=HubDownloader(endpoint=hub.endpoint, chunk_size=1 << 16))
    catalogue.discard_partial(cfg, TINY)
    assert catalogue.clip_partial(cfg, catalogue.find(TINY)[1]) == 0
    assert not [p for p in (cfg.models_dir / "hub").rglob("*.part*")]
