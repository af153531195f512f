"""`imgrag eval --labelled`: precision/recall per mode, pair-score histograms and the labelled
calibration, on folders whose right answers are known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgrag_desktop import imaging
from imgrag_desktop.cli import main as cli_main
from imgrag_desktop.evaluation.labelled import auc, best_threshold, evaluate, label_query, read_labels
from imgrag_desktop.search.calibration import CalibrationBook
from imgrag_desktop.types import ImgragError
from tests.conftest import coco_images

SCALES = (1.0, 0.8, 0.6, 0.5)


@pytest.fixture(scope="module")
def labelled(tmp_path_factory, coco_dir):
    """Four labels; each holds four resized/recompressed copies of one COCO photo, so the right
    answer of every image query is known: the other three copies."""
    root = tmp_path_factory.mktemp("labelled") / "set"
    for li, src in enumerate(coco_images()[:4]):
        d = root / f"label_{li}"
        d.mkdir(parents=True)
        with Image.open(src) as im:
            img = im.convert("RGB")
        for j, f in enumerate(SCALES):
            img.resize((int(img.width * f), int(img.height * f))).save(d / f"{j}.jpg", quality=90 - 10 * j)
    return root


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.services import Services

    return Services(AppConfig.load(tmp_path_factory.mktemp("evaldata") / "data", "test"))


def test_read_labels_from_folders_and_csv(labelled, tmp_path):
    by_folder = read_labels(labelled)
    assert len(by_folder) == 16 and {x for s in by_folder.values() for x in s} == {f"label_{i}" for i in range(4)}
    csv = tmp_path / "labels.csv"
    csv.write_text("path,label\n" + "".join(f"{Path(p).relative_to(labelled)},{next(iter(s))};any\n"
                                            for p, s in sorted(by_folder.items())), "utf-8")
    by_csv = read_labels(labelled, csv)
    assert by_csv == {p: s | {"any"} for p, s in by_folder.items()}
    bad = tmp_path / "bad.csv"
    bad.write_text("label_0/0.jpg\n", "utf-8")
    with pytest.raises(ImgragError, match="expected 'path,label'"):
        read_labels(labelled, bad)
    bad.write_text("nope.jpg,x\n", "utf-8")
    with pytest.raises(ImgragError, match="do not exist"):
        read_labels(labelled, bad)
    one = tmp_path / "one.csv"
    one.write_text("label_0/0.jpg,a\nlabel_0/1.jpg,a\n", "utf-8")
    with pytest.raises(ImgragError, match="at least two labels"):
        read_labels(labelled, one)
    with pytest.raises(ImgragError, match="no such folder"):
        read_labels(tmp_path / "missing")


def test_pair_statistics():
    assert auc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1.0
    assert auc(np.array([1.0]), np.array([1.0])) == 0.5
    assert auc(np.array([1.0, 2.0]), np.array([3.0])) == 0.0
    t, f1 = best_threshold(np.array([0.8, 0.9]), np.array([0.1, 0.2, 0.85]))
    assert t == pytest.approx(0.5) and f1 == pytest.approx(0.8)  # keep both positives, cut in the gap
    t, f1 = best_threshold(np.array([0.7, 0.9]), np.array([0.1, 0.3]))
    assert t == pytest.approx(0.5) and f1 == 1.0


def test_eval_measures_known_answers(labelled, svc, tmp_path):
    hist = tmp_path / "out" / "hist.png"
    report = evaluate(svc, labelled, k=3, histogram=hist)
    data = report.to_json()
    assert data["images"] == 16 and data["labels"] == 4 and data["failed"] == 0
    image = data["modes"]["image"]
    # Copies are each other's nearest images even for the random test model: perfect scores.
    assert image["queries"] == 16 and image["precision_at_3"] == 1.0 and image["recall_at_3"] == 1.0
    assert image["positive_pairs"] == 4 * 6 and image["negative_pairs"] == 120 - 24 and image["auc"] == 1.0
    text = data["modes"]["text"]
    assert text["queries"] == 4 and text["positive_pairs"] == 16 and text["negative_pairs"] == 48
    # Text mode against an independent computation over the same pictures.
    clip = svc.clip
    paths = sorted(read_labels(labelled))
    side = max(clip.image_size * 2, imaging.THUMB_SIZE)
    mat = clip.encode_images([imaging.decode_path(p, max_side=side)[0].image for p in paths])
    precisions, recalls = [], []
    for li in range(4):
        q = clip.encode_texts([label_query(f"label_{li}")])[0]
        top = [paths[i] for i in np.argsort(-(mat @ q), kind="stable")[:3]]
        got = sum(1 for p in top if f"label_{li}" in p)
        precisions.append(got / 3)
        recalls.append(got / 4)
    assert text["precision_at_3"] == pytest.approx(np.mean(precisions), abs=1e-3)
    assert text["recall_at_3"] == pytest.approx(np.mean(recalls), abs=1e-3)
    # The histogram: one panel per mode, both pair colours drawn.
    with Image.open(hist) as im:
        assert im.format == "PNG" and im.size == (960, 40 + 300 * 2)
        colours = {c for _, c in im.convert("RGB").getcolors(1 << 20)}
    assert (46, 139, 87) in colours and (205, 92, 92) in colours
    assert svc.store.count() == 0  # the user's index is untouched


def test_eval_cli_and_labelled_calibration(labelled, svc, tmp_path, capsys):
    base = ["--data-dir", str(svc.cfg.data_dir), "--profile", "test"]
    hist = tmp_path / "h.png"
    assert cli_main([*base, "eval", "--labelled", str(labelled), "-k", "3", "--histogram", str(hist),
                     "--calibrate", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["calibrated"] and data["histogram"] == str(hist) and hist.exists()
    assert data["modes"]["image"]["precision_at_k"] == 1.0
    cal = CalibrationBook(svc.cfg.data_dir).get(svc.clip.model_id)
    assert cal.source == "labelled" and cal.image_informative and cal.image_threshold == pytest.approx(data["modes"]["image"]["best_threshold"], abs=1e-4)
    assert not cal.text_informative  # the random text tower separates nothing (AUC ≈ 0.5)
    # The labelled cut-off now hides whatever is less alike than the copies were.
    svc.indexer().index_paths([str(labelled)])
    first = str(labelled / "label_2" / "0.jpg")
    hits = svc.searcher.similar(first, k=10)
    assert [h.path for h in hits] == [first] and hits[0].group_size == 4
    assert len(svc.searcher.similar(first, k=10, min_score="off", collapse=False)) == 10
    assert cli_main([*base, "eval", "--labelled", str(tmp_path / "nowhere")]) == 1
    assert "no such folder" in capsys.readouterr().err
