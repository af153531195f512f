"""The real face engine (dlib HOG + 5-point aligner + ResNet descriptor) on the shared faces."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageFilter, ImageOps

from imgrag_desktop.models.faces import DESCRIPTOR_DIM, DlibFaces, models_dir, quality_of
from tests.support.data import faces_dir


@pytest.fixture(scope="module")
def engine() -> DlibFaces:
    return DlibFaces("hog").load()


def _open(name: str) -> Image.Image:
    return ImageOps.exif_transpose(Image.open(faces_dir() / name)).convert("RGB")


def test_the_weights_are_found_without_importing_their_package():
    assert (models_dir() / "shape_predictor_5_face_landmarks.dat").is_file()


def test_one_face_per_portrait_with_box_quality_and_a_descriptor(engine):
    img = _open("img1.jpg")
    faces = engine.faces(img)
    assert len(faces) == 1
    f = faces[0]
    left, top, right, bottom = f.box
    assert 0 <= left < right <= img.width and 0 <= top < bottom <= img.height
    assert f.size > 200 and f.confidence > 0.5 and f.quality > 0.7 and f.pose < 0.3
    assert f.descriptor.shape == (DESCRIPTOR_DIM,) and f.descriptor.dtype == np.float32


def test_same_person_is_closer_than_different_people(engine):
    labels = json.loads((faces_dir() / "labels.json").read_text())["people"]
    d = {n: engine.faces(_open(n))[0].descriptor for n in ("img1.jpg", "img2.jpg", "img13.jpg", "img14.jpg")}
    assert labels["img1.jpg"] == labels["img2.jpg"] and labels["img13.jpg"] == labels["img14.jpg"]
    assert labels["img1.jpg"] != labels["img13.jpg"]
    same = [np.linalg.norm(d["img1.jpg"] - d["img2.jpg"]), np.linalg.norm(d["img13.jpg"] - d["img14.jpg"])]
    other = [np.linalg.norm(d[a] - d[b]) for a in ("img1.jpg", "img2.jpg") for b in ("img13.jpg", "img14.jpg")]
    assert max(same) < 0.6 < min(other)


def test_a_group_photo_has_several_faces(engine):
    assert len(engine.faces(_open("selfie-many-people.jpg"))) >= 3


def test_tiny_and_blurred_faces_score_low(engine):
    img = _open("img1.jpg")
    sharp = engine.faces(img)[0]
    blurred = engine.faces(img.filter(ImageFilter.GaussianBlur(6)))
    assert not blurred or blurred[0].blur < sharp.blur / 3
    small = img.resize((img.width // 12, img.height // 12))
    tiny = engine.faces(small)
    assert not tiny or tiny[0].quality < 0.5
    assert quality_of(20, 500, 0.0) == 0.0 and quality_of(120, 500, 0.0) == 1.0 and quality_of(120, 5, 0.0) == 0.0


def test_a_picture_without_faces_has_none(engine):
    assert engine.faces(Image.new("RGB", (400, 300), (120, 160, 200))) == []
