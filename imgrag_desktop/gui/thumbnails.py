"""Thumbnails and preview images, decoded in a thread pool and cached on the GUI side.

Decoding happens in QRunnables (Pillow, JPEG draft reduction, cached thumbnails in the data
dir); the result crosses to the GUI thread as a QImage, where it becomes a QPixmap. Requests
are served newest first and the queue is bounded, so scrolling fast through 10,000 results
decodes what is on screen now, not everything that flew past.
"""

from __future__ import annotations

import os
from collections import OrderedDict, deque
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot
from PySide6.QtGui import QImage, QPixmap

THUMB_SIDE = 256  # imaging.THUMB_SIZE: what the indexer caches
PREVIEW_SIDE = 1600
MAX_QUEUE = 300


def pil_to_qimage(pil: Any) -> QImage:
    rgb = pil if pil.mode == "RGB" else pil.convert("RGB")
    w, h = rgb.size
    data = rgb.tobytes("raw", "RGB")
    return QImage(data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()  # own the pixels


class _Carrier(QObject):
    """Lives in the GUI thread; a task's emit from a pool thread is queued to it."""

    done = Signal(str, str, object, str)  # kind, path, QImage or None, error


class _LoadTask(QRunnable):
    def __init__(self, carrier: _Carrier, kind: str, path: str, chash: str, max_side: int, thumbs_dir: str,
                 time_s: float | None = None) -> None:
        super().__init__()
        self.time_s = time_s  # a video: the moment to show
        self.carrier = carrier
        self.kind = kind
        self.path = path
        self.chash = chash
        self.max_side = max_side
        self.thumbs_dir = thumbs_dir

    def run(self) -> None:
        try:
            from imgrag_desktop import imaging

            if self.kind == "thumb":
                pil = imaging.load_thumbnail(self.path, self.thumbs_dir, self.chash or None)
            elif self.time_s is not None and imaging.is_video_name(self.path):
                from imgrag_desktop.video import frame_at

                pil = frame_at(self.path, self.time_s, self.max_side)
            else:
                dec, _ = imaging.decode_path(self.path, max_side=self.max_side)
                pil = dec.image
            image = pil_to_qimage(pil)
            self.carrier.done.emit(self.kind, self.path, image, "")
        except Exception as exc:  # a missing or broken file gets a placeholder, never a crash
            self.carrier.done.emit(self.kind, self.path, None, str(exc) or type(exc).__name__)


class ImageLoader(QObject):
    thumbnailReady = Signal(str)  # path: thumbnail(path) now answers
    imageReady = Signal(str, QImage)  # path, preview-sized image
    imageFailed = Signal(str, str)  # path, reason
    idle = Signal()

    def __init__(self, thumbs_dir: str | os.PathLike[str], threads: int = 2, cache_mb: int = 96,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thumbs_dir = os.fspath(thumbs_dir)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max(1, threads))
        self._preview_pool = QThreadPool(self)  # previews never wait behind a screenful of thumbnails
        self._preview_pool.setMaxThreadCount(1)
        self._carrier = _Carrier(self)
        self._carrier.done.connect(self._on_done)
        self._cache: OrderedDict[str, QPixmap] = OrderedDict()
        self._cache_cost = 0
        self._cache_limit = cache_mb * 2**20
        self._broken: dict[str, str] = {}
        self._queue: deque[tuple[str, str]] = deque()
        self._queued: set[str] = set()
        self._in_flight: set[str] = set()
        self._max_in_flight = max(1, threads)
        self.requested = 0  # thumbnail decodes started (the large-list test reads it)
        self._closed = False

    # Thumbnails -----------------------------------------------------------------------------
    def thumbnail(self, path: str) -> QPixmap | None:
        pix = self._cache.get(path)
        if pix is not None:
            self._cache.move_to_end(path)
        return pix

    def broken(self, path: str) -> str:
        """Why a thumbnail could not be made ('' when it could, or is not known yet)."""
        return self._broken.get(path, "")

    def request_thumbnail(self, path: str, chash: str = "") -> None:
        if self._closed or path in self._cache or path in self._broken or path in self._in_flight:
            return
        if path in self._queued:
            try:  # asked again: it is on screen now, serve it first
                self._queue.remove((path, chash))
                self._queue.append((path, chash))
            except ValueError:
                pass
            return
        self._queue.append((path, chash))
        self._queued.add(path)
        while len(self._queue) > MAX_QUEUE:  # scrolled past long ago: forget
            old, _ = self._queue.popleft()
            self._queued.discard(old)
        self._pump()

    def _pump(self) -> None:
        while self._queue and len(self._in_flight) < self._max_in_flight and not self._closed:
            path, chash = self._queue.pop()  # newest first
            self._queued.discard(path)
            self._in_flight.add(path)
            self.requested += 1
            self._pool.start(_LoadTask(self._carrier, "thumb", path, chash, THUMB_SIDE, self.thumbs_dir))

    def forget_queue(self) -> None:
        """New results replaced the old: their pending thumbnails are no longer wanted."""
        self._queue.clear()
        self._queued.clear()

    @property
    def busy(self) -> bool:
        return bool(self._queue or self._in_flight)

    # Previews -------------------------------------------------------------------------------
    def request_image(self, path: str, max_side: int = PREVIEW_SIDE, time_s: float | None = None) -> None:
        """The preview-sized image; of a video, the frame at `time_s` (else a sheet of its frames)."""
        if self._closed:
            return
        self._preview_pool.clear()  # only the latest selection matters
        self._preview_pool.start(_LoadTask(self._carrier, "image", path, "", max_side, self.thumbs_dir, time_s))

    # Results --------------------------------------------------------------------------------
    @Slot(str, str, object, str)
    def _on_done(self, kind: str, path: str, image: QImage | None, error: str) -> None:
        if kind == "image":
            if image is None:
                self.imageFailed.emit(path, error)
            else:
                self.imageReady.emit(path, image)
            return
        self._in_flight.discard(path)
        if image is None:
            self._broken[path] = error
        else:
            pix = QPixmap.fromImage(image)
            self._cache[path] = pix
            self._cache_cost += _cost(pix)
            while self._cache_cost > self._cache_limit and len(self._cache) > 1:
                _, old = self._cache.popitem(last=False)
                self._cache_cost -= _cost(old)
        self.thumbnailReady.emit(path)
        self._pump()
        if not self.busy:
            self.idle.emit()

    def invalidate(self, paths: list[str] | None = None) -> None:
        """Forget cached thumbnails (files changed on disk)."""
        if paths is None:
            self._cache.clear()
            self._cache_cost = 0
            self._broken.clear()
            return
        for p in paths:
            pix = self._cache.pop(p, None)
            if pix is not None:
                self._cache_cost -= _cost(pix)
            self._broken.pop(p, None)

    def shutdown(self, wait_ms: int = 5000) -> None:
        self._closed = True
        self.forget_queue()
        self._pool.clear()
        self._preview_pool.clear()
        self._pool.waitForDone(wait_ms)
        self._preview_pool.waitForDone(wait_ms)


def _cost(pix: QPixmap) -> int:
    return pix.width() * pix.height() * 4
