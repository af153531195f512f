"""A CLIP switch between models of different vector sizes (indexing/reembed.py).

The old model is the test profile's tiny CLIP (128-dimensional vectors); the new one is a
real open_clip architecture registered here with 48-dimensional vectors, random weights. The
switch goes the way `imgrag models use` / the Models page / Settings start it: the settings
name the new model, the next indexing re-embeds and switches in one commit.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from imgrag_desktop.config import AppConfig
from imgrag_desktop.indexing import reembed
from imgrag_desktop.library import check_vector_size, library_stats
from imgrag_desktop.models.clip import ClipEncoder, write_tiny_checkpoint
from imgrag_desktop.search.tiles import TileTable
from imgrag_desktop.services import Services
from imgrag_desktop.upkeep import check
from tests.unit.indexing.test_reembed import _photos, _services, _visual_scores

N = 6
WIDE = "imgrag-tiny-48"  # a second architecture: another vector size
OLD_DIM, NEW_DIM = 128, 48
# Query vectors made on the ONNX export (fp32) or on torch (bf16 on this CPU) differ by up
# to ~1.5e-3 in score; another model differs by far more.
SCORE_TOL = 3e-3


@pytest.fixture(scope="module")
def two_sizes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    import open_clip

    d = tmp_path_factory.mktemp("two-sizes")
    config = {"embed_dim": NEW_DIM,
              "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "head_width": 32, "patch_size": 8},
              "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 1, "layers": 1}}
    (d / f"{WIDE}.json").write_text(json.dumps(config))
    open_clip.add_model_config(d / f"{WIDE}.json")
    return write_tiny_checkpoint(d / "old.pt", seed=1), write_tiny_checkpoint(d / "new.pt", WIDE, seed=2)


def _expected_scores(model: str, ckpt: Path, paths: list[Path], text: str) -> dict[str, float]:
    """Cosines computed here, outside the index, with the named model."""
    from PIL import Image

    enc = ClipEncoder(model, "", str(ckpt), device="cpu").load()
    img = enc.encode_images([Image.open(p).convert("RGB") for p in paths])
    q = enc.encode_texts([text])[0]
    return {str(p): float(s) for p, s in zip(paths, img @ q)}


def _large(folder: Path) -> Path:
    """A long picture that the "tiles" stage also embeds in tiles (vectors of the model's size)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(7)
    p = folder / "long_plan.png"
    Image.fromarray(rng.integers(0, 255, (160, 1100, 3)).astype(np.uint8)).save(p)
    return p


def _index(svc: Services, photos: Path) -> dict[str, Any]:
    """What `imgrag index FOLDER` does: the pass, then every later stage."""
    from imgrag_desktop.indexing.stages import run_later_stages

    report = svc.indexer().index_paths([str(photos)])
    return {"report": report, **getattr(report, "extra", {}), **run_later_stages(svc, threading.Event())}


def _use(data: Path, model: str, ckpt: Path) -> Services:
    cfg = AppConfig.load(data, "default")
    cfg.settings.clip_model, cfg.settings.clip_checkpoint = model, str(ckpt)
    cfg.save()
    return Services(cfg)


def _assert_clean(svc: Services, model_id: str, dim: int) -> None:
    assert svc.store.visual_dim == dim
    assert svc.clip.model_id == model_id and svc.clip_next is None
    check_vector_size(svc)  # the serving model's size is the index's
    report = check(svc)
    assert report["ok"], report["problems"]
    rows = svc.store.query(None, ["clip_model"]).column("clip_model").to_pylist()
    assert rows == [model_id] * N
    assert not {reembed.NEXT_VECTOR, reembed.NEXT_MODEL, reembed.PREV_VECTOR, reembed.PREV_MODEL} \
        & set(svc.store.images.schema.names)


@pytest.mark.parametrize("direction", ["smaller", "larger"])
def test_a_switch_between_vector_sizes_serves_throughout_and_ends_clean(
        tmp_path: Path, two_sizes: tuple[Path, Path], direction: str) -> None:
    small_first = direction == "larger"
    (old_model, old), (new_model, new) = [("imgrag-tiny", two_sizes[0]), (WIDE, two_sizes[1])][::-1 if small_first else 1]
    old_dim, new_dim = (NEW_DIM, OLD_DIM) if small_first else (OLD_DIM, NEW_DIM)
    data, photos = tmp_path / "data", tmp_path / "photos"
    paths = _photos(photos, N - 1) + [_large(photos)]
    svc = _services(data, old)
    if old_model != "imgrag-tiny":
        svc = _use(data, old_model, old)
    first = _index(svc, photos)
    old_id = svc.clip.model_id
    _assert_clean(svc, old_id, old_dim)
    assert first["tiled_images"] == 1 and TileTable(svc.cfg.db_dir).count(old_id) > 0
    before = _visual_scores(svc, "a red square")
    assert len(before) == N

    svc = _use(data, new_model, new)
    new_id = ClipEncoder(new_model, "", str(new)).model_id
    assert svc.clip.model_id == old_id and svc.clip_next is not None and svc.clip_next.model_id == new_id
    check_vector_size(svc)  # the old model serves: no "the index holds N-dimensional vectors" refusal
    st = library_stats(svc)
    assert (st["visual_model"], st["visual_model_next"], st["reembed_remaining"]) == (old_id, new_id, N)

    # Cut short after one batch: the old vectors (old size) keep answering, text and image queries.
    cancel = threading.Event()
    out = reembed.reembed(svc.store, svc.clip_next, cancel, lambda p: cancel.set(), batch=2)
    assert out["remaining"] == N - 2
    assert svc.store.images.schema.field(reembed.NEXT_VECTOR).type.list_size == new_dim
    assert svc.store.visual_dim == old_dim
    during = _visual_scores(svc, "a red square")
    assert set(during) == set(before) and max(abs(during[p] - before[p]) for p in before) < SCORE_TOL
    assert svc.searcher.similar(str(paths[0]), k=N, min_score="off", collapse=False)[0].path == str(paths[0])
    assert check(svc)["ok"]

    # `imgrag index` (a fresh process) completes the switch.
    svc = Services(AppConfig.load(data, "default"))
    out = _index(svc, photos)
    assert out["report"].unchanged == N
    assert out["reembed"]["switched"] is True and out["reembed"]["embedded"] == N - 2
    # The next `imgrag index` gives the large picture its tiles of the new model (the new size).
    again = _index(svc, photos)
    assert again["tiled_images"] == 1, again
    tiles = TileTable(svc.cfg.db_dir)
    assert tiles.count(new_id) > 0 and tiles.matrix(new_id)[2].shape[1] == new_dim
    for current in (svc, Services(AppConfig.load(data, "default"))):  # this process, and the next one
        _assert_clean(current, new_id, new_dim)
        after = _visual_scores(current, "a red square")
        assert set(after) == {str(p) for p in paths}
        expected = _expected_scores(new_model, new, paths[:-1], "a red square")  # the long one scores its best tile
        assert max(abs(after[p] - expected[p]) for p in expected) < SCORE_TOL
        hits = current.searcher.similar(str(paths[3]), k=N, min_score="off", collapse=False)
        assert hits[0].path == str(paths[3]) and len(hits) == N
    # New files get the new model's vectors, of the new size.
    _photos(photos, 1, first=50)
    svc = Services(AppConfig.load(data, "default"))
    assert _index(svc, photos)["report"].added == 1
    assert svc.store.count(f"clip_model = '{new_id}'") == N + 1 and svc.store.visual_dim == new_dim


@pytest.mark.slow  # two CLI runs in subprocesses
def test_a_process_holding_the_old_model_follows_a_switch_another_process_committed(
        tmp_path: Path, two_sizes: tuple[Path, Path]) -> None:
    """A window or `imgrag watch` loaded the old model; `imgrag models use` + `imgrag index` in a
    terminal (a real second process) switch the index. The first process's next indexing run
    notices (visual_model.json) and reloads: it does not re-embed the library with the old model,
    and its searches read the new vectors with the new model."""
    from tests.e2e.test_cli_models import run_default

    old = two_sizes[0]
    new = write_tiny_checkpoint(tmp_path / "new.pt", seed=3)  # the same architecture: the CLI knows it
    data, photos = tmp_path / "data", tmp_path / "photos"
    paths = _photos(photos, N)
    svc = _services(data, old)
    watcher = svc.indexer()  # held for the whole run, like a watcher's
    watcher.index_paths([str(photos)])
    old_id = svc.clip.model_id
    assert len(_visual_scores(svc, "a red square")) == N  # the searcher is loaded with the old model
    reader = Services(AppConfig.load(data, "default"))  # another window that only searches
    assert len(_visual_scores(reader, "a red square")) == N

    for args in (("models", "use", str(new)), ("index", str(photos), "--quiet")):
        proc = run_default(*args, data_dir=data)
        assert proc.returncode == 0, proc.stderr
    new_id = ClipEncoder("imgrag-tiny", "", str(new)).model_id
    assert Services(AppConfig.load(data, "default")).store.query(None, ["clip_model"]).column(
        "clip_model").to_pylist() == [new_id] * N

    # The reader's next search reads the new vectors with the new model.
    expected = _expected_scores("imgrag-tiny", new, paths, "a red square")
    after = _visual_scores(reader, "a red square")
    assert reader.clip.model_id == new_id and set(after) == set(expected)
    assert max(abs(after[p] - expected[p]) for p in expected) < SCORE_TOL

    added = _photos(photos, 1, first=60)
    report = watcher.index_paths([str(photos)])
    assert (report.added, report.updated, report.embedded) == (1, 0, 1)  # only the new file is read
    assert watcher.encoder.model_id == new_id and svc.clip.model_id == new_id and svc.clip_next is None
    rows = dict(zip(*[svc.store.query(None, ["path", "clip_model"]).column(c).to_pylist() for c in ("path", "clip_model")]))
    assert rows == {str(p): new_id for p in [*paths, *added]}
    after = _visual_scores(svc, "a red square")
    expected = _expected_scores("imgrag-tiny", new, [*paths, *added], "a red square")
    assert set(after) == set(expected) and max(abs(after[p] - expected[p]) for p in expected) < SCORE_TOL
    assert old_id != new_id


def test_a_checkpoint_brought_from_elsewhere_names_its_own_architecture(tmp_path: Path,
                                                                         two_sizes: tuple[Path, Path]) -> None:
    """"Use files on this computer…" with a file of another architecture than the settings name:
    the file's tensor shapes pick the architecture, and the settings follow it."""
    from imgrag_desktop.models import catalogue
    from imgrag_desktop.models.clip import architectures_for
    from imgrag_desktop.types import ImgragError

    old, new = two_sizes
    assert architectures_for(new) == [WIDE] and "imgrag-tiny" in architectures_for(old)
    not_clip = tmp_path / "notes.pt"
    not_clip.write_bytes(b"not a checkpoint")
    assert architectures_for(not_clip) == []
    cfg = AppConfig.load(tmp_path / "data", "test")
    cfg.settings.clip_model = "imgrag-tiny"
    assert catalogue.use_local_file(cfg, str(new)) == "clip"
    again = AppConfig.load(tmp_path / "data", "test")
    assert (again.settings.clip_model, again.settings.clip_checkpoint) == (WIDE, str(new))
    assert catalogue.use_local_file(cfg, str(old)) == "clip" and cfg.settings.clip_model == "imgrag-tiny"
    with pytest.raises(ImgragError):  # a named architecture the file does not fit is refused, settings kept
        catalogue.use_local_file(cfg, str(new), clip_model="imgrag-tiny")
    assert AppConfig.load(tmp_path / "data", "test").settings.clip_checkpoint == str(old)
