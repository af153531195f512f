"""When the relevance calibration runs, and what it may take from the pass: a new model is
calibrated, the same model on a slightly changed library is not, a library that doubled is
again (with the model's probe reused), and the pass's own decodes give the very calibration
that decoding the files again gives."""

import shutil
from dataclasses import asdict

from imgrag_desktop.search.calibration import (
    CalibrationBook,
    CalibrationSample,
    calibrate_library,
    ensure_calibrated,
    sample_rows,
)
from tests.support.data import coco_images


def test_sample_is_the_smallest_distinct_hashes():
    hashes = ["c", "a", "", "b", "a", "d"]
    assert sample_rows(hashes, 2) == [1, 3]  # "a" once, at its first row
    assert sample_rows(hashes, 10) == [1, 3, 0, 5, 2]  # a row without a hash only fills up
    keep = CalibrationSample(k=2)
    for h in ("d", "b", "c", "a", "b", ""):
        keep.offer(h, h.upper())
    assert keep.images() == {"a": "A", "b": "B"}


def _copy(dest, photos):
    dest.mkdir(exist_ok=True)
    for p in photos:
        shutil.copy2(p, dest / p.name)


def test_when_calibration_runs(services, tmp_path):
    photos = coco_images()[:20]
    lib = tmp_path / "lib"
    _copy(lib, photos[:8])
    book = CalibrationBook(services.cfg.data_dir)
    services.indexer().index_paths([str(lib)])
    first = book.get(services.clip.model_id)
    assert first is not None and first.images == 8  # a new model is calibrated
    assert first.stats["sample_decodes_reused"] == 8 and not first.stats.get("probe_reused")

    # The pass's decodes give the same calibration as reading the files again.
    again = calibrate_library(services.store, services.clip)
    assert again is not None and again.stats["sample_decodes_reused"] == 0
    a, b = asdict(first), asdict(again)
    for d in (a, b):
        d.pop("at"), d["stats"].pop("sample_decodes_reused")
    assert a == b

    _copy(lib, photos[8:11])  # 11 of 8: the same model, a small change: kept
    services.indexer().index_paths([str(lib)])
    assert book.get(services.clip.model_id).at == first.at

    _copy(lib, photos[11:20])  # 20 of 8: calibrated again; the model's probe is reused
    services.indexer().index_paths([str(lib)])
    grown = book.get(services.clip.model_id)
    assert grown.images == 20 and grown.at > first.at
    assert grown.stats["probe_reused"] and grown.text_probe_accuracy == first.text_probe_accuracy


def test_a_new_model_is_calibrated_on_its_own(services, tmp_path, tiny_ckpt):
    from imgrag_desktop.models.clip import ClipEncoder, write_tiny_checkpoint

    lib = tmp_path / "lib"
    _copy(lib, coco_images()[:6])
    services.indexer().index_paths([str(lib)])
    book = CalibrationBook(services.cfg.data_dir)
    old = book.get(services.clip.model_id)
    other = ClipEncoder("imgrag-tiny", checkpoint=str(write_tiny_checkpoint(tmp_path / "b.pt", seed=99)), device="cpu")
    other.load()
    assert other.model_id != services.clip.model_id
    assert ensure_calibrated(book, services.store, other) is None  # none of its vectors yet: nothing to measure
    from imgrag_desktop.indexing.pipeline import Indexer

    Indexer(services.cfg, services.store, other).index_paths([str(lib)])
    new = book.get(other.model_id)
    assert new is not None and new.images == 6 and not new.stats.get("probe_reused")
    assert book.get(services.clip.model_id).at == old.at  # the first model's entry is its own
