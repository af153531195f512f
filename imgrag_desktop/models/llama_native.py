"""What llama.cpp needs from this process: a thread count, whether a GPU build is present, its
native log routed into Python, and the chat handler for a model family.

Kept apart from `vlm` so that the process-wide pieces (one C log callback for the whole
process) are set up once, whichever model uses them.
"""

from __future__ import annotations

import collections
import ctypes
import os
import sys
import threading
from typing import Any


def default_threads() -> int:
    """Threads for llama.cpp: about the physical cores (half the logical ones), at most 8.

    llama.cpp's threads spin while they wait for each other; on an oversubscribed CPU (indexing
    running beside an answer, other programs) a waiting thread burns the time slice its partner
    needs. Measured on 2 shared cores with Gemma 3 270M: 1 thread gave 20-32 tokens/s, 2 threads
    0.8-3 tokens/s. So small machines get one thread.
    """
    n = os.cpu_count() or 2
    return 1 if n <= 3 else max(2, min(8, n // 2))


def gpu_offload_available() -> bool:
    """True when this llama-cpp-python was built with CUDA, Metal, Vulkan or another GPU backend."""
    try:
        import llama_cpp

        return bool(llama_cpp.llama_supports_gpu_offload())
    except Exception:  # pragma: no cover - broken install
        return False


# llama.cpp and libmtmd log through process-wide C callbacks; by default they print to stderr,
# which would drown the CLI's output. They are routed here instead, and the last lines explain
# load failures whose Python exception only says "failed to load".
class NativeLog:
    def __init__(self, keep: int = 400) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=keep)
        self._callback: Any = None
        self._lock = threading.Lock()
        self._partial = ""

    def install(self) -> None:
        with self._lock:
            if self._callback is not None:
                return
            import llama_cpp
            import llama_cpp.mtmd_cpp as mtmd_cpp

            echo = bool(os.environ.get("IMGRAG_LLAMA_LOG"))

            @llama_cpp.llama_log_callback
            def _cb(level: int, text: bytes, user_data: Any) -> None:
                msg = text.decode("utf-8", errors="replace") if text else ""
                if echo:
                    sys.stderr.write(msg)
                self._partial += msg
                while "\n" in self._partial:
                    line, self._partial = self._partial.split("\n", 1)
                    if line.strip():
                        self.lines.append(line.strip())

            self._callback = _cb  # keep a reference: C holds only a raw pointer
            llama_cpp.llama_log_set(_cb, ctypes.c_void_p(0))
            for setter in ("mtmd_log_set", "mtmd_helper_log_set"):
                fn = getattr(mtmd_cpp, setter, None)
                if fn is not None:
                    try:
                        fn(_cb, ctypes.c_void_p(0))
                    except Exception:  # pragma: no cover - older libmtmd
                        pass

    def mark(self) -> int:
        return len(self.lines)

    def reason(self) -> str:
        """The most telling recent line (an error, else a failure, else the last one)."""
        lines = list(self.lines)[-60:]
        for needle in ("error", "failed", "unsupported", "unknown", "invalid", "missing"):
            for line in reversed(lines):
                if needle in line.lower():
                    return line[:300]
        return lines[-1][:300] if lines else ""


NATIVE_LOG = NativeLog()


def looks_like_oom(text: str) -> bool:
    t = text.lower()
    return any(k in t for k in ("out of memory", "failed to allocate", "cannot allocate", "alloc failed", "oom"))


def make_handler(name: str, mmproj: str, use_gpu: bool = False) -> Any:
    if name == "text" or not mmproj:
        return None
    from llama_cpp import llama_chat_format as fmt

    if name == "mtmd":
        return fmt.MTMDChatHandler(clip_model_path=mmproj, verbose=False, use_gpu=use_gpu)
    cls = {"llava15": fmt.Llava15ChatHandler, "llava16": fmt.Llava16ChatHandler,
           "qwen25vl": fmt.Qwen25VLChatHandler}[name]
    return cls(clip_model_path=mmproj, verbose=False)
