"""Switching CLIP models re-embeds in the background while the old vectors serve (indexing/reembed.py).

Two real tiny CLIP checkpoints (the same architecture, two seeds, so two different models with
two different ids) stand for the old and the new model of a user who picked another one.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from imgrag_desktop.config import AppConfig
from imgrag_desktop.indexing import reembed
from imgrag_desktop.indexing.stages import STAGES, run_later_stages
from imgrag_desktop.library import library_stats
from imgrag_desktop.models.clip import ClipEncoder, write_tiny_checkpoint
from imgrag_desktop.services import Services

N = 12
SENTINEL = "text read once by OCR"
ONLY_REEMBED = [s for s in STAGES if s.name == "reembed"]
# Query vectors made on the ONNX export (fp32) or on torch (bf16 on this CPU) differ by up
# to ~1.5e-3 in score; another model differs by far more.
SCORE_TOL = 3e-3


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("two-clips")
    return write_tiny_checkpoint(d / "old.pt", seed=1), write_tiny_checkpoint(d / "new.pt", seed=2)


def _photos(folder: Path, n: int = N, first: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(first, first + n):
        rng = np.random.default_rng(i)
        base = rng.integers(0, 255, 3)
        arr = np.clip(base + rng.integers(-40, 40, (48, 48, 3)), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "PNG")
        p = folder / f"photo_{i:03d}.png"
        p.write_bytes(buf.getvalue())
        out.append(p)
    return out


def _services(data: Path, ckpt: Path) -> Services:
    cfg = AppConfig.load(data, "default")
    s = cfg.settings
    s.clip_model, s.clip_pretrained, s.clip_checkpoint = "imgrag-tiny", "", str(ckpt)
    s.ocr_enabled = s.captions_enabled = s.faces_enabled = False
    s.device = "cpu"
    cfg.save()
    return Services(cfg)


def _indexed(tmp_path: Path, old: Path) -> tuple[Path, Path, Services]:
    data, photos = tmp_path / "data", tmp_path / "photos"
    _photos(photos)
    svc = _services(data, old)
    svc.indexer().index_paths([str(photos)])
    # What OCR read once: a switch must keep it (re-reading would replace it).
    rows = svc.store.query(None, ["path"]).column("path").to_pylist()
    svc.store.update_rows({p: {"ocr_text": SENTINEL, "ocr_status": "done"} for p in rows})
    return data, photos, svc


def _visual_scores(svc: Services, text: str) -> dict[str, float]:
    hits = svc.searcher.search(text, k=50, mode="visual", min_score="off", collapse=False)
    return {h.path: round(h.score, 5) for h in hits}


def _expected_scores(ckpt: Path, store: Any, text: str) -> dict[str, float]:
    """Cosines computed here, outside the index, with the named model."""
    enc = ClipEncoder("imgrag-tiny", "", str(ckpt), device="cpu").load()
    paths = sorted(store.query(None, ["path"]).column("path").to_pylist())
    img = enc.encode_images([Image.open(p).convert("RGB") for p in paths])
    q = enc.encode_texts([text])[0]
    return {p: float(s) for p, s in zip(paths, img @ q)}


def _switch_settings(data: Path, new: Path) -> Services:
    cfg = AppConfig.load(data, "default")
    cfg.settings.clip_checkpoint = str(new)
    cfg.save()
    return Services(cfg)


def test_old_vectors_serve_until_the_new_ones_are_complete(tmp_path: Path, checkpoints: tuple[Path, Path]) -> None:
    old, new = checkpoints
    data, photos, svc = _indexed(tmp_path, old)
    old_id = svc.clip.model_id
    before = _visual_scores(svc, "a red square")
    indexed_at = dict(zip(*[svc.store.query(None, ["path", "indexed_at"]).column(c).to_pylist()
                            for c in ("path", "indexed_at")]))

    svc = _switch_settings(data, new)  # `imgrag models use` / the Models page / Settings
    new_id = ClipEncoder("imgrag-tiny", "", str(new)).model_id
    assert new_id != old_id
    assert svc.clip.model_id == old_id and svc.clip_next is not None and svc.clip_next.model_id == new_id
    st = library_stats(svc)
    assert (st["visual_model"], st["visual_model_next"], st["reembed_remaining"]) == (old_id, new_id, N)

    # Interrupted after the first batch (a quit, a kill): searches still read the old vectors.
    cancel = threading.Event()
    out = reembed.reembed(svc.store, svc.clip_next, cancel, lambda p: cancel.set(), batch=5)
    assert out["embedded"] == 5 and out["remaining"] == N - 5
    during = _visual_scores(svc, "a red square")  # the old vectors; the query may be encoded on onnxruntime
    assert set(during) == set(before) and max(abs(during[p] - before[p]) for p in before) < SCORE_TOL
    assert library_stats(svc)["reembed_remaining"] == N - 5

    # A later run (a fresh process: `imgrag index`, `imgrag watch`, the window) resumes and switches.
    svc = Services(AppConfig.load(data, "default"))
    assert svc.clip.model_id == old_id
    progress: list[Any] = []
    watcher_indexer = svc.indexer()  # a watcher holds its indexer for its whole run
    report = watcher_indexer.index_paths([str(photos)])
    assert report.unchanged == N and report.added == report.updated == report.embedded == 0  # nothing is read again for the switch
    res = run_later_stages(svc, threading.Event(), progress.append, stages=ONLY_REEMBED)["reembed"]
    assert res["embedded"] == N - 5 and res["switched"] is True
    assert [p.done for p in progress if p.stage == "reembed"][-1] == N - 5

    assert svc.clip.model_id == new_id and svc.clip_next is None  # the searcher reloaded the new model
    assert watcher_indexer.encoder.model_id == new_id  # new files now get the new model's vectors
    after = _visual_scores(svc, "a red square")
    expected = _expected_scores(new, svc.store, "a red square")
    assert set(after) == set(expected)
    assert max(abs(after[p] - expected[p]) for p in after) < SCORE_TOL
    assert after != before
    rows = svc.store.query(None, ["path", "clip_model", "ocr_text", "ocr_status", "indexed_at"]).to_pylist()
    assert {r["clip_model"] for r in rows} == {new_id}
    assert all(r["ocr_text"] == SENTINEL and r["ocr_status"] == "done" for r in rows)  # OCR not re-read
    assert all(r["indexed_at"] == indexed_at[r["path"]] for r in rows)
    assert not {"visual_next", "clip_model_next", "visual_prev", "clip_model_prev"} & set(svc.store.images.schema.names)
    st = library_stats(svc)
    assert (st["visual_model"], st["visual_model_next"], st["reembed_remaining"]) == (new_id, None, 0)
    # The next process serves the new model from the start and has nothing left to do.
    svc = Services(AppConfig.load(data, "default"))
    assert svc.clip.model_id == new_id and svc.clip_next is None
    assert svc.indexer().index_paths([str(photos)]).unchanged == N


def test_files_added_during_a_switch_are_searchable_at_once_and_switched_too(
        tmp_path: Path, checkpoints: tuple[Path, Path]) -> None:
    old, new = checkpoints
    data, photos, svc = _indexed(tmp_path, old)
    old_id = svc.clip.model_id
    svc = _switch_settings(data, new)
    cancel = threading.Event()
    reembed.reembed(svc.store, svc.clip_next, cancel, lambda p: cancel.set(), batch=4)
    added = _photos(photos, 3, first=100)
    svc.indexer().index_paths([str(photos)])
    # The new files got the serving (old) model's vectors, so a search finds them now.
    assert {str(p) for p in added} <= set(_visual_scores(svc, "a photo"))
    assert svc.store.count(f"clip_model = '{old_id}'") == N + 3
    res = run_later_stages(svc, threading.Event(), stages=ONLY_REEMBED)["reembed"]
    assert res["switched"] and res["embedded"] == N + 3 - 4
    assert set(_visual_scores(svc, "a photo")) == set(svc.store.query(None, ["path"]).column("path").to_pylist())


def test_going_back_to_the_serving_model_abandons_the_switch(tmp_path: Path, checkpoints: tuple[Path, Path]) -> None:
    old, new = checkpoints
    data, photos, svc = _indexed(tmp_path, old)
    old_id = svc.clip.model_id
    svc = _switch_settings(data, new)
    cancel = threading.Event()
    reembed.reembed(svc.store, svc.clip_next, cancel, lambda p: cancel.set(), batch=4)
    assert "visual_next" in svc.store.images.schema.names
    svc = _switch_settings(data, old)
    assert svc.clip.model_id == old_id and svc.clip_next is None
    assert run_later_stages(svc, threading.Event(), stages=ONLY_REEMBED) == {"reembed": {"abandoned": True}}
    assert "visual_next" not in svc.store.images.schema.names
    assert {r["clip_model"] for r in svc.store.query(None, ["clip_model"]).to_pylist()} == {old_id}
