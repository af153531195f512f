"""The power features through the `imgrag` command, as a user runs it (subprocesses, test profile)."""

import json
import shutil

from PIL import Image

from tests.conftest import coco_images, run_cli


def test_cli_duplicates_combined_queries_and_eval(tmp_path, coco_dir):
    data = tmp_path / "data"
    photos = tmp_path / "photos"
    photos.mkdir()
    src = coco_images()[:16]
    for p in src:
        shutil.copy2(p, photos / p.name)
    with Image.open(src[0]) as im:
        im.convert("RGB").resize((im.width // 2, im.height // 2)).save(photos / "copy.jpg", quality=60)
    report = json.loads(run_cli("index", str(photos), "--json", data_dir=data).stdout)
    assert report["added"] == 17 and "tiles" in report and "calibration" in report

    out = json.loads(run_cli("duplicates", "--json", data_dir=data).stdout)
    assert out["groups"] == [[str(photos / src[0].name), str(photos / "copy.jpg")]]

    hits = json.loads(run_cli("similar", str(photos / src[0].name), "-k", "5", "--json", data_dir=data).stdout)
    assert hits[0]["path"] == str(photos / src[0].name) and hits[0]["group_size"] == 2
    assert all(h["path"] != str(photos / "copy.jpg") for h in hits) and len(hits) == 5

    hits = json.loads(run_cli("search", "street -car", "--like", str(photos / src[3].name), "-k", "4",
                              "--min-score", "off", "--mode", "visual", "--json", data_dir=data).stdout)["hits"]
    assert len(hits) == 4 and all(h["reasons"] == ["combined"] for h in hits)

    labelled = tmp_path / "labelled"
    for i, p in enumerate(src[4:7]):
        (labelled / f"thing{i}").mkdir(parents=True)
        with Image.open(p) as im:
            img = im.convert("RGB")
        for j, f in enumerate((1.0, 0.7, 0.5)):
            img.resize((int(img.width * f), int(img.height * f))).save(labelled / f"thing{i}" / f"{j}.jpg")
    hist = tmp_path / "hist.png"
    ev = json.loads(run_cli("eval", "--labelled", str(labelled), "-k", "2", "--histogram", str(hist), "--json",
                            data_dir=data).stdout)
    assert ev["images"] == 9 and ev["labels"] == 3 and hist.exists()
    assert ev["modes"]["image"]["precision_at_k"] == 1.0 and 0 <= ev["modes"]["text"]["recall_at_k"] <= 1

    bad = run_cli("search", "--", "-people", data_dir=data, check=False)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "only says what to avoid" in bad.stderr
