"""A local vision-language model: a language GGUF plus its vision projector, via llama-cpp-python.

The model is loaded lazily under a lock, used by one generation at a time, and unloaded after
it has been idle for a while (it can take gigabytes that CLIP or other programs need).
Unfamiliar model files are first loaded in a short-lived subprocess: llama.cpp kills the whole
process on some malformed files (a projector with a missing tensor segfaults), and the app must
survive a bad download with a clear message instead.

Chat handlers: LLaVA 1.5 / 1.6 formats for the classic LLaVA files, which carry no chat
template, and the generic MTMD handler (the model file's own chat template) for newer families
such as Qwen2.5-VL, Gemma 3 and SmolVLM. A language model without a projector is text-only: it
answers from the OCR text and captions it is given.
"""

from __future__ import annotations

import base64
import collections
import ctypes
import io
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from imgrag_desktop.models.gguf_info import GgufInfo, check_pair, read_gguf
from imgrag_desktop.types import ImgragError, ModelUnavailable

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

HANDLERS = ("auto", "llava15", "llava16", "mtmd", "qwen25vl", "text")
DEFAULT_N_CTX = 4096
PROBE_TIMEOUT_S = 600.0


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


@dataclass(frozen=True)
class VlmSpec:
    """Which files to load and how. Two equal specs mean the same model in memory."""

    model_path: str
    mmproj_path: str = ""
    handler: str = "auto"
    n_ctx: int = DEFAULT_N_CTX
    n_threads: int = 0  # 0: default_threads()
    n_gpu_layers: int | None = None  # None: every layer when a GPU build is present, else 0
    device: str = "auto"  # "cpu" keeps everything on the CPU
    logit_bias: tuple[tuple[int, float], ...] = ()
    verify: bool = True  # load unfamiliar files in a subprocess first
    name: str = ""

    @property
    def has_vision(self) -> bool:
        return bool(self.mmproj_path)

    @property
    def display_name(self) -> str:
        return self.name or Path(self.model_path).stem


@dataclass
class GenStats:
    prompt_tokens: int = 0
    tokens: int = 0
    seconds: float = 0.0
    first_token_s: float = 0.0
    images: int = 0
    cancelled: bool = False

    @property
    def tokens_per_s(self) -> float:
        gen = self.seconds - self.first_token_s
        return (self.tokens - 1) / gen if self.tokens > 1 and gen > 0 else 0.0


def image_data_uri(image: "Image.Image", max_side: int = 672) -> str:
    """A PNG data URI of `image` reduced to `max_side`: what the chat handlers accept as an image.

    PNG, not JPEG: screenshots carry small text that JPEG artefacts blur.
    """
    from PIL import Image as PILImage

    img = image if image.mode == "RGB" else image.convert("RGB")
    if max(img.size) > max_side:
        img = img.copy()
        img.thumbnail((max_side, max_side), PILImage.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=False, compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def pick_handler(spec: VlmSpec, model: GgufInfo, projector: GgufInfo | None) -> str:
    """The chat handler for a pair: an explicit choice wins; otherwise the model's own template
    (MTMD) when it has one, else the LLaVA format its projector implies."""
    choice = (spec.handler or "auto").lower()
    if choice not in HANDLERS:
        raise ImgragError(f"unknown vlm_handler {spec.handler!r}: use one of {', '.join(HANDLERS)}")
    if projector is None:
        if choice not in ("auto", "text"):
            raise ModelUnavailable(
                f"vlm_handler {choice!r} needs a vision projector: set vlm_mmproj to the model's mmproj-*.gguf file"
            )
        return "text"
    if choice == "text":
        return "text"
    if choice != "auto":
        return choice
    if model.has_chat_template:
        return "mtmd"
    if projector.metadata.get("clip.vision.image_grid_pinpoints"):
        return "llava16"
    return "llava15"


def _file_key(path: str) -> list[Any]:
    st = os.stat(path)
    return [os.path.abspath(path), st.st_size, st.st_mtime_ns]


class VerifiedCache:
    """Remembers which (model, projector) files loaded fine in a probe, keyed by path, size and
    mtime, so the subprocess check runs once per file version, not on every start."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _key(self, spec: VlmSpec, handler: str) -> str:
        import llama_cpp

        parts = [_file_key(spec.model_path), _file_key(spec.mmproj_path) if spec.mmproj_path else None,
                 handler, getattr(llama_cpp, "__version__", "")]
        return json.dumps(parts, sort_keys=True)

    def _load(self) -> dict[str, Any]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            return json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            return {}

    def known(self, spec: VlmSpec, handler: str) -> bool:
        return self._key(spec, handler) in self._load()

    def remember(self, spec: VlmSpec, handler: str) -> None:
        if self.path is None:
            return
        with self._lock:
            data = self._load()
            data[self._key(spec, handler)] = time.time()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, indent=1), "utf-8")
            os.replace(tmp, self.path)


def probe_in_subprocess(spec: VlmSpec, handler: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Load the pair and run one tiny image through it in a child process.

    A crash there (signal) becomes a ModelUnavailable here; this process never touches the
    files until they have passed.
    """
    cmd = [sys.executable, "-m", "imgrag_desktop.models.vlm", "probe", spec.model_path, spec.mmproj_path or "",
           handler, str(min(spec.n_ctx, 2048))]
    env = dict(os.environ)
    pkg_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired as exc:
        raise ModelUnavailable(
            f"checking {Path(spec.model_path).name} took over {timeout_s:.0f} s; the model is too large for this computer"
        ) from exc
    name = Path(spec.mmproj_path or spec.model_path).name
    if proc.returncode < 0:
        import signal

        try:
            sig = signal.Signals(-proc.returncode).name
        except ValueError:
            sig = f"signal {-proc.returncode}"
        which = f"{Path(spec.model_path).name} with {Path(spec.mmproj_path).name}" if spec.mmproj_path else name
        raise ModelUnavailable(
            f"llama.cpp crashed ({sig}) loading {which}: the files are damaged, not a pair, or a model family "
            "this llama-cpp-python does not support; pick another model"
        )
    if proc.returncode != 0:
        reason = ""
        for line in reversed(proc.stdout.strip().splitlines()):
            try:
                reason = json.loads(line).get("error", "")
                break
            except ValueError:
                continue
        reason = reason or (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise ModelUnavailable(f"cannot load {name}: {reason}")


class LocalVLM:
    """One llama.cpp model (with or without vision), loaded on first use."""

    def __init__(self, spec: VlmSpec, *, verified: VerifiedCache | None = None, idle_unload_s: float = 300.0) -> None:
        self.spec = spec
        self.verified = verified or VerifiedCache(None)
        self.idle_unload_s = idle_unload_s
        self._lock = threading.RLock()  # held while loading and while generating
        self._llm: Any = None
        self._timer: threading.Timer | None = None
        self._model_info: GgufInfo | None = None
        self._proj_info: GgufInfo | None = None
        self.handler_name = ""
        self.last_used = 0.0
        self.last_stats = GenStats()
        self.load_seconds = 0.0

    # Identity ------------------------------------------------------------------------------
    @property
    def has_vision(self) -> bool:
        return self.spec.has_vision and self.handler_name != "text"

    @property
    def model_id(self) -> str:
        """What captions record as their maker (file names of the pair)."""
        name = Path(self.spec.model_path).name
        return f"{name}+{Path(self.spec.mmproj_path).name}" if self.spec.mmproj_path else name

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    @property
    def n_ctx(self) -> int:
        if self._llm is not None:
            return int(self._llm.n_ctx())
        return self.spec.n_ctx

    def image_tokens(self) -> int:
        self.inspect()
        return self._proj_info.image_tokens() if self._proj_info is not None else 0

    # Loading -------------------------------------------------------------------------------
    def inspect(self) -> tuple[GgufInfo, GgufInfo | None]:
        """Read and cross-check the headers (cheap); raises ModelUnavailable with the reason."""
        if self._model_info is None:
            model = read_gguf(self.spec.model_path)
            proj = read_gguf(self.spec.mmproj_path) if self.spec.mmproj_path else None
            check_pair(model, proj)
            self.handler_name = pick_handler(self.spec, model, proj)
            self._model_info, self._proj_info = model, proj
        assert self._model_info is not None
        return self._model_info, self._proj_info

    def load(self) -> "LocalVLM":
        with self._lock:
            if self._llm is not None:
                return self
            t0 = time.perf_counter()
            try:
                import llama_cpp  # noqa: F401
            except ImportError as exc:  # pragma: no cover - declared dependency
                raise ModelUnavailable("llama-cpp-python is not installed: pip install llama-cpp-python") from exc
            model, proj = self.inspect()
            if self.spec.verify and not self.verified.known(self.spec, self.handler_name):
                probe_in_subprocess(self.spec, self.handler_name)
                self.verified.remember(self.spec, self.handler_name)
            self._llm = self._construct(model)
            self.load_seconds = time.perf_counter() - t0
            self.last_used = time.monotonic()
            return self

    def _construct(self, model: GgufInfo) -> Any:
        from llama_cpp import Llama

        NATIVE_LOG.install()
        spec = self.spec
        threads = spec.n_threads or default_threads()
        gpu = gpu_offload_available() and spec.device != "cpu"
        layers = spec.n_gpu_layers if spec.n_gpu_layers is not None else (-1 if gpu else 0)
        n_ctx = spec.n_ctx
        if model.context_length:
            n_ctx = min(n_ctx, model.context_length)
        handler = make_handler(self.handler_name, spec.mmproj_path, use_gpu=gpu)
        try:
            llm = Llama(
                model_path=spec.model_path,
                chat_handler=handler,
                n_ctx=n_ctx,
                n_batch=min(512, n_ctx),
                n_threads=threads,
                n_threads_batch=threads,
                n_gpu_layers=layers,
                verbose=False,
            )
        except MemoryError as exc:
            raise ModelUnavailable(self._memory_message()) from exc
        except (ValueError, RuntimeError) as exc:
            reason = NATIVE_LOG.reason()
            if _looks_like_oom(f"{exc} {reason}"):
                raise ModelUnavailable(self._memory_message(reason)) from exc
            raise ModelUnavailable(f"llama.cpp cannot load {Path(spec.model_path).name}: {reason or exc}") from exc
        # The projector is otherwise loaded on the first image; load it now so that a bad
        # projector fails here, with the model, and not in the middle of an answer.
        init = getattr(handler, "_init_mtmd_context", None)
        if init is not None:
            try:
                init(llm)
            except (ValueError, RuntimeError) as exc:
                reason = NATIVE_LOG.reason()
                llm.close()
                if _looks_like_oom(f"{exc} {reason}"):
                    raise ModelUnavailable(self._memory_message(reason)) from exc
                raise ModelUnavailable(
                    f"llama.cpp cannot load the projector {Path(spec.mmproj_path).name}: {reason or exc}") from exc
        return llm

    def _memory_message(self, reason: str = "") -> str:
        extra = f" ({reason})" if reason else ""
        return (f"not enough memory to load {Path(self.spec.model_path).name} with a {self.spec.n_ctx}-token context"
                f"{extra}: close other programs, or pick a smaller model in Settings")

    def unload(self) -> None:
        """Free the weights now (the next use loads them again)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            llm, self._llm = self._llm, None
            if llm is not None:
                try:
                    llm.close()
                except Exception:  # pragma: no cover - best effort
                    pass

    close = unload

    def _arm_idle_timer(self) -> None:
        if self.idle_unload_s <= 0:
            return
        if self._timer is not None:
            self._timer.cancel()
        timer = threading.Timer(self.idle_unload_s, self._unload_if_idle)
        timer.daemon = True
        timer.start()
        self._timer = timer

    def _unload_if_idle(self) -> None:
        # Non-blocking: a generation in progress holds the lock and re-arms the timer itself.
        if not self._lock.acquire(blocking=False):
            return
        try:
            if self._llm is not None and time.monotonic() - self.last_used >= self.idle_unload_s * 0.99:
                self.unload()
        finally:
            self._lock.release()

    # Tokens --------------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        self.load()
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    # Generation ----------------------------------------------------------------------------
    def stream(self, messages: Sequence[dict[str, Any]], *, max_tokens: int = 256, temperature: float = 0.2,
               cancel: threading.Event | None = None, stop: Sequence[str] = (), seed: int | None = 0,
               repeat_penalty: float = 1.0) -> Iterator[str]:
        """Yield the answer's text as it is generated. Images in `messages` are OpenAI-style
        `image_url` parts holding data URIs; a text-only model must not be given any.

        Stops early (without error) when `cancel` is set; `last_stats.cancelled` says so.
        No repeat penalty by default: answers copy addresses, numbers and names from the
        sources, and a penalty of 1.1 took Gemma 3 270M from 6/10 to 4/10 on the OCR questions.
        Consume the iterator on the thread that started it (it holds the model's lock).
        """
        with self._lock:
            self.load()
            stats = GenStats(images=sum(1 for m in messages for p in _parts(m) if p.get("type") == "image_url"))
            if stats.images and not self.has_vision:
                raise ImgragError(f"{self.spec.display_name} is a text-only model and cannot look at images")
            self.last_stats = stats
            bias = {str(k): float(v) for k, v in self.spec.logit_bias} or None
            t0 = time.perf_counter()
            try:
                chunks = self._start(messages, max_tokens=max_tokens, temperature=temperature, stop=list(stop),
                                     logit_bias=bias, seed=seed, repeat_penalty=repeat_penalty)
                for piece in chunks:
                    if cancel is not None and cancel.is_set():
                        stats.cancelled = True
                        break
                    if not piece:
                        continue
                    if stats.tokens == 0:
                        stats.first_token_s = time.perf_counter() - t0
                        stats.prompt_tokens = int(getattr(self._llm, "n_tokens", 0) or 0)
                    stats.tokens += 1
                    yield piece
                    if cancel is not None and cancel.is_set():
                        stats.cancelled = True
                        break
                if hasattr(chunks, "close"):
                    chunks.close()
            except (ValueError, RuntimeError) as exc:  # llama-cpp-python raises both for decode failures
                raise self._generation_error(exc) from exc
            except MemoryError as exc:
                raise ModelUnavailable(self._memory_message()) from exc
            finally:
                stats.seconds = time.perf_counter() - t0
                self.last_used = time.monotonic()
                self._arm_idle_timer()

    def _generation_error(self, exc: Exception) -> ImgragError:
        msg = str(exc)
        if "exceed" in msg.lower() and ("context" in msg.lower() or "n_ctx" in msg.lower()):
            return ImgragError(f"the prompt does not fit the model's {self.n_ctx}-token context ({msg}); "
                               "ask with fewer images (-k) or raise vlm_n_ctx")
        reason = NATIVE_LOG.reason()
        return ImgragError(f"the model failed: {msg}{' (' + reason + ')' if reason and reason not in msg else ''}")

    def _start(self, messages: Sequence[dict[str, Any]], **kw: Any) -> Iterator[str]:
        llm = self._llm
        model, _ = self.inspect()
        if self.handler_name == "text" and not model.has_chat_template:
            # No template in the file: a plain prompt suits base models and avoids a wrong format.
            prompt = render_plain(messages)
            stop = kw.pop("stop") + ["\nQuestion:", "\n\n"]  # base models ramble on after a blank line
            out = llm.create_completion(prompt, stream=True, stop=stop, **kw)
            return (c["choices"][0].get("text") or "" for c in out)
        out = llm.create_chat_completion(messages=list(messages), stream=True, **kw)
        return ((c["choices"][0].get("delta") or {}).get("content") or "" for c in out)

    def generate(self, messages: Sequence[dict[str, Any]], **kw: Any) -> str:
        return "".join(self.stream(messages, **kw))

    def describe(self, image: "Image.Image", prompt: str, *, max_tokens: int = 96, max_side: int = 672,
                 cancel: threading.Event | None = None) -> str:
        """One image, one instruction: the caption path."""
        self.inspect()
        if not self.has_vision:
            raise ModelUnavailable(
                f"{self.spec.display_name} has no vision projector, so it cannot caption images: "
                "set vlm_mmproj (or pick a vision model with `imgrag models list`)"
            )
        messages = [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": image_data_uri(image, max_side)}},
            {"type": "text", "text": prompt},
        ]}]
        return self.generate(messages, max_tokens=max_tokens, temperature=0.1, cancel=cancel)


def _looks_like_oom(text: str) -> bool:
    t = text.lower()
    return any(k in t for k in ("out of memory", "failed to allocate", "cannot allocate", "alloc failed", "oom"))


def _parts(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    return [p for p in content if isinstance(p, dict)] if isinstance(content, list) else []


def render_plain(messages: Sequence[dict[str, Any]]) -> str:
    """Messages as one plain-text prompt ending with "Answer:" (for models without a template)."""
    out: list[str] = []
    for m in messages:
        content = m.get("content")
        text = content if isinstance(content, str) else "".join(
            p.get("text", "") for p in _parts(m) if p.get("type") == "text")
        if text.strip():
            out.append(text.strip())
    return "\n\n".join(out) + "\nAnswer:"


def make_handler(name: str, mmproj: str, use_gpu: bool = False) -> Any:
    if name == "text" or not mmproj:
        return None
    from llama_cpp import llama_chat_format as fmt

    if name == "mtmd":
        return fmt.MTMDChatHandler(clip_model_path=mmproj, verbose=False, use_gpu=use_gpu)
    cls = {"llava15": fmt.Llava15ChatHandler, "llava16": fmt.Llava16ChatHandler,
           "qwen25vl": fmt.Qwen25VLChatHandler}[name]
    return cls(clip_model_path=mmproj, verbose=False)


# The subprocess side of probe_in_subprocess --------------------------------------------------
def _probe_main(argv: list[str]) -> int:
    model_path, mmproj, handler, n_ctx = argv[0], argv[1], argv[2], int(argv[3])
    try:
        from PIL import Image

        spec = VlmSpec(model_path=model_path, mmproj_path=mmproj, handler=handler, n_ctx=n_ctx, verify=False,
                       n_threads=default_threads())
        vlm = LocalVLM(spec, idle_unload_s=0)
        vlm.load()
        if vlm.has_vision:
            img = Image.new("RGB", (64, 64), (90, 120, 200))
            messages = [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": image_data_uri(img, 64)}},
                {"type": "text", "text": "Hi"}]}]
        else:
            messages = [{"role": "user", "content": "Hi"}]
        vlm.generate(messages, max_tokens=1)
        vlm.unload()
    except ImgragError as exc:
        print(json.dumps({"error": str(exc)}))
        return 2
    except Exception as exc:  # noqa: BLE001 - reported to the parent as text
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 3
    print(json.dumps({"ok": True}))
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through probe_in_subprocess
    if len(sys.argv) >= 6 and sys.argv[1] == "probe":
        sys.exit(_probe_main(sys.argv[2:]))
    print("usage: python -m imgrag_desktop.models.vlm probe MODEL MMPROJ HANDLER N_CTX", file=sys.stderr)
    sys.exit(64)
