"""Faces in a picture: where they are, how good they are, and a descriptor to tell people apart.

One interface (`FaceEngine.faces(image) -> list[Face]`) in front of the engine, so a better
detector or descriptor can replace dlib's without touching the stage or the clustering. The
engine here is dlib's: the HOG detector (or the CNN one when dlib was built with CUDA and a
GPU is there), the 5-point aligner and the 128-d ResNet descriptor, with the weights that the
`face-recognition-models` package ships. That package's `__init__` imports `pkg_resources`
(gone from recent setuptools), so its folder is found without importing it.

The app runs it in a child process (models/faces_child.py: `ChildFaces`, what
`engine_from_settings` there builds): the window's process never loads dlib. `DlibFaces` here
is the in-process engine that child runs.

Two descriptors of the same person are usually closer than 0.6 (Euclidean), of different
people farther; `search/people.py` clusters them.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from imgrag_desktop.types import ModelUnavailable

DESCRIPTOR_DIM = 128
# Faces narrower than this (in the image as decoded for detection) cannot be told apart well.
MIN_GOOD_SIZE = 40
GOOD_SIZE = 90
# The variance of the Laplacian of the aligned 150 px chip below which a face is blurred.
BLUR_LOW = 40.0
BLUR_GOOD = 200.0


@dataclass(frozen=True)
class Face:
    box: tuple[int, int, int, int]  # left, top, right, bottom in the image's own pixels (oriented)
    confidence: float  # the detector's score (HOG: SVM margin, ~0 at its threshold; CNN: its confidence)
    descriptor: np.ndarray  # float32, DESCRIPTOR_DIM
    size: int  # the box's shorter side, in the image's own pixels
    blur: float  # variance of the Laplacian of the aligned chip (higher is sharper)
    pose: float  # 0 facing the camera … 1 in profile (from the 5 landmarks)
    quality: float  # 0 … 1: size, sharpness and pose together; below ~0.3 a face forms no person

    def to_json(self) -> dict[str, Any]:
        return {"box": list(self.box), "confidence": round(self.confidence, 4), "size": self.size,
                "blur": round(self.blur, 1), "pose": round(self.pose, 3), "quality": round(self.quality, 3)}


@dataclass(frozen=True)
class FileFaces:
    """The faces of one file: its size (oriented, before any scaling), the size of the copy the
    faces were looked for in, and the faces in that copy's pixels."""

    width: int
    height: int
    seen: tuple[int, int]
    faces: list[Face]


class FaceEngine(Protocol):
    model_id: str  # changes when detector or descriptor change (faces are then found again)

    def faces(self, image: Image.Image) -> list[Face]: ...

    def faces_of_file(self, path: str, max_side: int) -> FileFaces: ...


def faces_of_file(engine: Any, path: str, max_side: int) -> FileFaces:
    """Decode `path` (a video: its contact sheet) to `max_side` and find its faces, here."""
    from imgrag_desktop.imaging import decode_path

    dec, _ = decode_path(path, max_side=int(max_side))
    return FileFaces(dec.width, dec.height, dec.image.size, engine.faces(dec.image))


def models_dir() -> Path:
    """The folder of dlib's weights in `face-recognition-models` (found, not imported)."""
    spec = importlib.util.find_spec("face_recognition_models")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for loc in locations:
        folder = Path(loc) / "models"
        if (folder / "dlib_face_recognition_resnet_model_v1.dat").is_file():
            return folder
    raise ModelUnavailable("the face models are not installed: pip install face-recognition-models dlib-bin")


def gpu_for_dlib() -> bool:
    try:
        import dlib

        return bool(dlib.DLIB_USE_CUDA) and int(dlib.cuda.get_num_devices()) > 0
    except Exception:
        return False


def quality_of(size: int, blur: float, pose: float) -> float:
    """One figure for "can this face be recognised": the weakest of size, sharpness and pose."""
    s = np.clip((size - MIN_GOOD_SIZE * 0.5) / (GOOD_SIZE - MIN_GOOD_SIZE * 0.5), 0.0, 1.0)
    b = np.clip((blur - BLUR_LOW * 0.5) / (BLUR_GOOD - BLUR_LOW * 0.5), 0.0, 1.0)
    p = np.clip(1.0 - pose, 0.0, 1.0)
    return float(min(s, b, p))


def _laplacian_variance(chip: np.ndarray) -> float:
    g = chip.astype(np.float32).mean(axis=2) if chip.ndim == 3 else chip.astype(np.float32)
    lap = -4 * g[1:-1, 1:-1] + g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:]
    return float(lap.var())


def _pose(points: list[tuple[float, float]]) -> float:
    """How far the nose sits from the middle of the eyes, relative to the eyes' distance (5-point
    model: 0-1 one eye's corners, 2-3 the other's, 4 under the nose)."""
    a = np.mean(points[0:2], axis=0)
    b = np.mean(points[2:4], axis=0)
    nose = np.asarray(points[4])
    eyes = float(np.linalg.norm(a - b)) or 1.0
    mid = (a + b) / 2
    axis = (b - a) / eyes
    offset = abs(float(np.dot(nose - mid, axis))) / eyes  # ~0 frontal, ~0.5+ in profile
    return float(np.clip(offset / 0.6, 0.0, 1.0))


class DlibFaces:
    """dlib's detector + 5-point aligner + ResNet descriptor. Thread-safe (one lock: dlib's
    objects are not re-entrant). `detector`: "hog", "cnn" or "auto" (CNN only with a GPU)."""

    def __init__(self, detector: str = "auto", max_side: int = 1024, upsample: int = 1,
                 folder: str | Path | None = None) -> None:
        if detector not in ("auto", "hog", "cnn"):
            raise ValueError(f"unknown face detector {detector!r}: auto, hog or cnn")
        self.kind = ("cnn" if gpu_for_dlib() else "hog") if detector == "auto" else detector
        self.max_side = int(max_side)
        self.upsample = int(upsample)
        self._folder = Path(folder) if folder else None
        self._parts: tuple[Any, Any, Any] | None = None
        self._lock = threading.Lock()
        self.model_id = f"dlib-{self.kind}-resnet-v1"

    def _load(self) -> tuple[Any, Any, Any]:
        if self._parts is None:
            try:
                import dlib
            except ImportError as exc:
                raise ModelUnavailable("dlib is not installed: pip install dlib-bin") from exc
            folder = self._folder or models_dir()
            if self.kind == "cnn":
                det = dlib.cnn_face_detection_model_v1(str(folder / "mmod_human_face_detector.dat"))
            else:
                det = dlib.get_frontal_face_detector()
            sp = dlib.shape_predictor(str(folder / "shape_predictor_5_face_landmarks.dat"))
            rec = dlib.face_recognition_model_v1(str(folder / "dlib_face_recognition_resnet_model_v1.dat"))
            self._parts = (det, sp, rec)
        return self._parts

    def load(self) -> "DlibFaces":
        with self._lock:
            self._load()
        return self

    def faces_of_file(self, path: str, max_side: int) -> FileFaces:
        return faces_of_file(self, path, max_side)

    def faces(self, image: Image.Image) -> list[Face]:
        import dlib

        rgb = image.convert("RGB") if image.mode != "RGB" else image
        w0, h0 = rgb.size
        scale = min(1.0, self.max_side / max(w0, h0, 1))
        small = rgb.resize((max(1, round(w0 * scale)), max(1, round(h0 * scale))), Image.Resampling.BILINEAR) \
            if scale < 1.0 else rgb
        arr = np.ascontiguousarray(np.asarray(small, dtype=np.uint8))
        out: list[Face] = []
        with self._lock:
            det, sp, rec = self._load()
            if self.kind == "cnn":
                found = [(d.rect, float(d.confidence)) for d in det(arr, self.upsample)]
            else:
                rects, scores, _ = det.run(arr, self.upsample, 0.0)
                found = list(zip(rects, (float(s) for s in scores)))
            for rect, conf in found:
                shape = sp(arr, rect)
                chip = dlib.get_face_chip(arr, shape, size=150, padding=0.25)
                desc = np.asarray(rec.compute_face_descriptor(chip), dtype=np.float32)
                points = [(shape.part(i).x, shape.part(i).y) for i in range(shape.num_parts)]
                inner = chip[19:131, 19:131]  # the face without the padding
                blur = _laplacian_variance(inner)
                pose = _pose(points)
                size_small = int(min(rect.width(), rect.height()))
                box = (max(0, round(rect.left() / scale)), max(0, round(rect.top() / scale)),
                       min(w0, round(rect.right() / scale)), min(h0, round(rect.bottom() / scale)))
                out.append(Face(box, conf, desc, int(round(size_small / scale)), blur, pose,
                                quality_of(size_small, blur, pose)))
        return out
