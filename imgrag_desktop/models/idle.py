"""Models leave memory when nobody used them for a while, and load again on the next use.

A window or `imgrag watch` runs for days; between bursts of new pictures and searches it
needs neither CLIP (~350 MB for ViT-B-32) nor the text model in RAM. `IdleUnloader` checks
every few seconds and calls each model's `unload_if_idle(seconds)`, which unloads under the
model's own lock only if no encode used it meanwhile (so one in flight is never disturbed);
the next encode loads it again (a second or two). The local VLM has its own timer
(`vlm_idle_unload_s`, models/vlm.py).
"""

from __future__ import annotations

import gc
import logging
import threading
from typing import Any, Callable, Iterable

log = logging.getLogger(__name__)


def trim_heap() -> None:
    """Give freed memory back to the system (glibc keeps freed heap pages mapped: after an
    unload of ViT-B-32 the resident size fell by ~0.1 GB without this)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


class IdleUnloader:
    def __init__(self, models: Callable[[], Iterable[Any]], idle_s: float, check_s: float | None = None) -> None:
        self.models = models  # asked each time: models built after the start are watched too
        self.idle_s = float(idle_s)
        self.check_s = check_s if check_s is not None else max(0.5, min(30.0, self.idle_s / 4))
        self.unloaded = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep(self) -> int:
        """Unload every idle model now; how many were unloaded."""
        n = 0
        for m in self.models():
            if m is None or not getattr(m, "loaded", False):
                continue
            try:
                if m.unload_if_idle(self.idle_s):
                    n += 1
                    log.info("unloaded %s after %.0f s without use", type(m).__name__, self.idle_s)
            except Exception as exc:  # a model that cannot say: leave it loaded
                log.warning("could not unload %s: %s", type(m).__name__, exc)
        if n:
            gc.collect()  # the weights' tensors go now, not at some later collection
            trim_heap()
            self.unloaded += n
        return n

    def start(self) -> "IdleUnloader":
        if self.idle_s > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="imgrag-idle-unload", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.check_s):
            self.sweep()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
