"""dlib's face detection and descriptors in a child process (`ChildFaces`), as RapidOCR's OCR is.

dlib holds the GIL through its model load (0.3 s quiet, up to 3 s on a busy machine) and
through every detection, so in the window's process it froze the window once after the first
result, and its models stayed in the window's and the watcher's memory. Here the child owns a
`models/faces.DlibFaces`, decodes each file itself (the parent sends a path, no pixels cross
the pipe) and answers with the faces: the same detector, aligner and descriptor calls on the
same decoded picture, so the same boxes and descriptors as in-process. The parent never
imports dlib.

One picture over the time limit, or a crash of the child, is that picture's error (the child
is killed, the next picture starts a fresh one); the children end `CHILDREN_KEEP_S` after the
last picture (the processes are models/child_proc.py's, shared with OCR).
"""

from __future__ import annotations

import glob
import os
import threading
from typing import Any

import numpy as np
from PIL import Image

from imgrag_desktop.models.child_proc import Child, ChildTimeout, IdleChildren, Pool, serve
from imgrag_desktop.models.faces import Face, FileFaces
from imgrag_desktop.types import ImgragError

CHILDREN_KEEP_S = 30.0  # as OCR's: starting a child costs ~0.5-1 s of CPU (dlib and its weights)
ERRORS: dict[str, type[ImgragError]] = {"ChildTimeout": ChildTimeout}


def _face_out(f: Face) -> dict[str, Any]:
    return {"box": list(f.box), "confidence": f.confidence, "descriptor": np.asarray(f.descriptor, np.float32).tobytes(),
            "size": f.size, "blur": f.blur, "pose": f.pose, "quality": f.quality}


def _face_in(d: dict[str, Any]) -> Face:
    return Face(tuple(d["box"]), float(d["confidence"]), np.frombuffer(d["descriptor"], dtype=np.float32).copy(),
                int(d["size"]), float(d["blur"]), float(d["pose"]), float(d["quality"]))


def child_main(conn: Any, spec: dict[str, Any]) -> None:
    """The child's loop: ("file", path, max_side) or ("image", mode, size, bytes) in; ("ok",
    {...}) or ("err", kind, text) out."""
    from imgrag_desktop.models.faces import DlibFaces

    try:
        engine = DlibFaces(**spec).load()
    except ImgragError as exc:
        conn.send(("err", type(exc).__name__, str(exc)))
        return
    except Exception as exc:  # a weights file that does not load
        conn.send(("err", "ModelUnavailable", f"the face models did not load: {type(exc).__name__}: {exc}"))
        return

    def handle(msg: Any) -> dict[str, Any]:
        if msg[0] == "file":
            got = engine.faces_of_file(msg[1], int(msg[2]))
            return {"width": got.width, "height": got.height, "seen": list(got.seen),
                    "faces": [_face_out(f) for f in got.faces]}
        _, mode, size, raw = msg
        return {"faces": [_face_out(f) for f in engine.faces(Image.frombytes(mode, tuple(size), raw))]}

    serve(conn, handle, {"kind": engine.kind, "pid": os.getpid()})


def nvidia_present() -> bool:
    """Whether this machine has an NVIDIA device at all (dlib's CNN detector needs one): without
    one "auto" is HOG, known without starting dlib."""
    return os.path.exists("/dev/nvidiactl") or bool(glob.glob("/dev/nvidia[0-9]*"))


class ChildFaces:
    """The app's face engine (models/faces.FaceEngine): dlib in up to `workers` child processes.
    `detector` "auto" is HOG unless the machine has an NVIDIA GPU; then the child decides (the
    CNN detector when its dlib was built with CUDA). `timeout_s` per picture (0: none)."""

    def __init__(self, detector: str = "auto", max_side: int = 1024, upsample: int = 1,
                 timeout_s: float = 60.0, workers: int = 1, keep_s: float = CHILDREN_KEEP_S,
                 folder: str | None = None) -> None:
        if detector not in ("auto", "hog", "cnn"):
            raise ValueError(f"unknown face detector {detector!r}: auto, hog or cnn")
        self.detector = detector
        self.max_side = int(max_side)
        self.spec = {"detector": detector, "max_side": int(max_side), "upsample": int(upsample), "folder": folder}
        self.timeout_s = float(timeout_s or 0.0)
        self.workers = max(1, int(workers))
        self._kind: str | None = detector if detector != "auto" else (None if nvidia_present() else "hog")
        self._children: IdleChildren[Pool] = IdleChildren(self._pool, keep_s)
        self._lock = threading.Lock()

    def _pool(self) -> Pool:
        return Pool(lambda: Child(child_main, (self.spec,), what="face", name="imgrag-faces-child", errors=ERRORS),
                    self.workers)

    @property
    def keep_s(self) -> float:
        return self._children.keep_s

    @keep_s.setter
    def keep_s(self, value: float) -> None:
        self._children.keep_s = value

    @property
    def kind(self) -> str:
        """"hog" or "cnn" (with "auto" on a machine with an NVIDIA GPU: asked of a child)."""
        if self._kind is None:
            self.load()
        return self._kind or "hog"

    @property
    def model_id(self) -> str:
        return f"dlib-{self.kind}-resnet-v1"

    def load(self) -> "ChildFaces":
        """Start a child and let it load the models now (the first picture's limit is for it)."""
        with self._children as pool:
            info = pool.start().ready_info
        with self._lock:
            if self._kind is None:
                self._kind = str((info or {}).get("kind") or "hog")
        return self

    def _call(self, request: Any, what: str) -> dict[str, Any]:
        limit = self.timeout_s

        def late() -> ImgragError:
            return ChildTimeout(f"face detection took longer than {limit:g} s on {what} (faces_timeout_s in Settings); "
                                "the picture is tried again next run")

        with self._children as pool:
            return dict(pool.call(request, limit, late))

    def faces_of_file(self, path: str, max_side: int | None = None) -> FileFaces:
        """Decode `path` to `max_side` (default: this engine's) in a child and find its faces."""
        got = self._call(("file", str(path), int(max_side or self.max_side)), "this picture")
        return FileFaces(int(got["width"]), int(got["height"]), (int(got["seen"][0]), int(got["seen"][1])),
                         [_face_in(d) for d in got["faces"]])

    def faces(self, image: Image.Image) -> list[Face]:
        """The faces of a picture already in memory (its pixels are sent to the child)."""
        rgb = image.convert("RGB") if image.mode != "RGB" else image
        got = self._call(("image", "RGB", list(rgb.size), rgb.tobytes()), "this picture")
        return [_face_in(d) for d in got["faces"]]

    def child_pids(self) -> list[int]:
        """The process ids of the running children (none before the first picture or once idle)."""
        pool = self._children.pool
        return pool.pids() if pool is not None else []

    def close(self) -> None:
        """End the children now (they start again on the next picture)."""
        self._children.close()


def engine_from_settings(settings: Any) -> ChildFaces:
    """The app's face engine: dlib in a child process, so the window's and the watcher's process
    never load dlib and a crash or a stuck picture costs one picture."""
    return ChildFaces(detector=settings.faces_detector, max_side=settings.faces_max_side,
                      timeout_s=float(getattr(settings, "faces_timeout_s", 60.0) or 0.0))
