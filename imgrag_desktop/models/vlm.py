"""A local vision-language model: a language GGUF plus its vision projector, via llama-cpp-python.

The model is loaded lazily under a lock, used by one generation at a time, and unloaded after
it has been idle for a while (it can take gigabytes that CLIP or other programs need).
Unfamiliar model files are first loaded in a short-lived subprocess (`vlm_probe`): llama.cpp
kills the whole process on some malformed files, and the app must survive a bad download.

Chat handlers: LLaVA 1.5 / 1.6 formats for the classic LLaVA files, which carry no chat
template, and the generic MTMD handler (the model file's own chat template) for newer families
such as Qwen2.5-VL, Gemma 3 and SmolVLM. A language model without a projector is text-only: it
answers from the OCR text and captions it is given.
"""

from __future__ import annotations

import base64
import io
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from imgrag_desktop.models.gguf_info import GgufInfo, check_pair, read_gguf
from imgrag_desktop.models.llama_native import (
    NATIVE_LOG,
    default_threads,
    gpu_offload_available,
    looks_like_oom,
    make_handler,
)
from imgrag_desktop.models.vlm_probe import VerifiedCache, probe_in_subprocess
from imgrag_desktop.types import ImgragError, ModelUnavailable

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

HANDLERS = ("auto", "llava15", "llava16", "mtmd", "qwen25vl", "text")
DEFAULT_N_CTX = 4096


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
            if looks_like_oom(f"{exc} {reason}"):
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
                if looks_like_oom(f"{exc} {reason}"):
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


