"""CLIP image and text encoders through open_clip.

A model is named by open_clip model name + pretrained tag (downloaded to the open_clip /
Hugging Face cache on first use), or by model name + a local checkpoint file. Vectors come out
L2-normalised as float32 NumPy arrays. The model loads on first use, under a lock, so the
window can start before torch is imported.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from imgrag_desktop.models.runtimes import TorchOrOnnx
from imgrag_desktop.types import ImgragError, ModelUnavailable

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from PIL import Image

log = logging.getLogger(__name__)
TINY_SEED = 1234
_CONFIG_LOCK = threading.Lock()
_CONFIGS_ADDED = False


def _register_bundled_configs() -> None:
    """Make the project's own model configs (the test profile's tiny CLIP) known to open_clip."""
    global _CONFIGS_ADDED
    with _CONFIG_LOCK:
        if _CONFIGS_ADDED:
            return
        import open_clip

        cfg_dir = resources.files("imgrag_desktop") / "data"
        with resources.as_file(cfg_dir) as path:
            for cfg in Path(path).glob("*.json"):
                open_clip.add_model_config(cfg)
        _CONFIGS_ADDED = True


def gpu_possible() -> bool:
    """Whether this computer may have a GPU torch could use, asked without importing torch (an
    NVIDIA driver, or an Apple-silicon Mac): when not, device "auto" is the CPU."""
    import platform
    import sys

    if sys.platform == "darwin":
        return platform.machine() == "arm64"
    return any(os.path.exists(p) for p in ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/dxg"))


def cpu_device(requested: str = "auto") -> bool:
    """Whether `requested` resolves to the CPU, decided without importing torch where it can."""
    requested = (requested or "auto").lower()
    if requested == "cpu":
        return True
    if requested != "auto":
        return False
    return not gpu_possible() or pick_device("auto") == "cpu"


RUNTIMES = ("auto", "torch", "onnx")
# Whether clip_runtime "auto" also runs image batches (indexing, watching) on onnxruntime, not
# only queries: chosen by the figures in docs/performance.md (issue 19).
AUTO_IMAGES_ON_ONNX = False


def pick_device(requested: str = "auto") -> str:
    """CUDA, then Apple MPS, then CPU; an explicit request is honoured or refused clearly."""
    import torch

    requested = (requested or "auto").lower()
    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ImgragError("device 'cuda' was requested but no CUDA GPU is usable; set device to 'auto' or 'cpu'")
    if requested == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ImgragError("device 'mps' was requested but Apple MPS is not available; set device to 'auto' or 'cpu'")
    if requested not in ("cpu", "mps") and not requested.startswith("cuda"):
        raise ImgragError(f"unknown device {requested!r}: use auto, cpu, cuda or mps")
    return requested


PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_BF16_FLAGS = {"avx512_bf16", "amx_bf16"}


def cpu_has_native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this x86 CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX): there, bf16
    matrix products run ~3x faster than fp32; elsewhere they are emulated and slower."""
    try:
        with open(cpuinfo, encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return bool(_BF16_FLAGS & set(line.split(":", 1)[-1].split()))
    except OSError:
        pass
    return False


def pick_precision(device: str, requested: str = "auto") -> str:
    """The weights' precision: fp16 on CUDA, bf16 on a CPU with native bf16, else fp32.

    Low precision changes a vector by ~1e-4 in cosine (vectors made at different precisions
    stay comparable: the model id does not include it).
    """
    requested = (requested or "auto").lower()
    if requested not in PRECISIONS:
        raise ImgragError(f"unknown precision {requested!r}: use {', '.join(PRECISIONS)}")
    if requested != "auto":
        if requested == "fp16" and not (device.startswith("cuda") or device == "mps"):
            raise ImgragError("precision fp16 needs a GPU (CUDA or Apple MPS): use auto, bf16 or fp32")
        return requested
    if device.startswith("cuda"):
        return "fp16"
    if device == "cpu" and cpu_has_native_bf16():
        return "bf16"
    return "fp32"


def _respect_omp_thread_limit() -> None:
    """OMP_THREAD_LIMIT below torch's thread count makes its CPU bf16 kernels leave part of
    their output unwritten (NaN vectors; torch 2.15, oneDNN): run that many threads."""
    import torch

    try:
        limit = int(os.environ.get("OMP_THREAD_LIMIT", "0") or 0)
    except ValueError:
        return
    if 0 < limit < torch.get_num_threads():
        torch.set_num_threads(limit)


_CHECKPOINT_IDS: dict[tuple[str, int, int], str] = {}


def checkpoint_id(path: str | os.PathLike[str]) -> str:
    """A short, stable id for a checkpoint file: hash of its size and first and last MiB.

    Asked on every query (vectors are matched to the model that made them), so it is cached by
    the file's path, size and mtime."""
    st = os.stat(path)
    key = (os.fspath(path), st.st_size, st.st_mtime_ns)
    cached = _CHECKPOINT_IDS.get(key)
    if cached is None:
        cached = _CHECKPOINT_IDS[key] = _hash_checkpoint(path)
    return cached


def _hash_checkpoint(path: str | os.PathLike[str]) -> str:
    p = Path(path)
    h = hashlib.blake2b(digest_size=6)
    size = p.stat().st_size
    h.update(str(size).encode())
    with p.open("rb") as fh:
        h.update(fh.read(1 << 20))
        if size > 2 << 20:
            fh.seek(-(1 << 20), os.SEEK_END)
            h.update(fh.read())
    return h.hexdigest()


def architectures_for(checkpoint: str | os.PathLike[str]) -> list[str]:
    """The open_clip architectures a checkpoint file fits, read from its tensors' shapes (vector
    size, image tower width, patch and image size, depth, text width): a file someone brings
    can be used without knowing its architecture's name. Empty when the file is no ViT CLIP
    state dict (then loading it explains why)."""
    import re

    import open_clip
    import torch

    _register_bundled_configs()
    try:
        sd: Any = torch.load(os.fspath(checkpoint), map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # not a zip checkpoint torch can map, or not torch at all
        try:
            sd = torch.load(os.fspath(checkpoint), map_location="cpu", weights_only=True)
        except Exception:
            return []
    if isinstance(sd, dict) and isinstance(sd.get("state_dict"), dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        return []
    sd = {k.removeprefix("module."): v for k, v in sd.items()}
    proj, conv, pos = sd.get("text_projection"), sd.get("visual.conv1.weight"), sd.get("visual.positional_embedding")
    if proj is None or conv is None or pos is None or proj.ndim != 2 or conv.ndim != 4:
        return []
    patch = int(conv.shape[-1])
    grid = round(max(int(pos.shape[0]) - 1, 0) ** 0.5)
    depth = len({m.group(1) for k in sd if (m := re.match(r"visual\.transformer\.resblocks\.(\d+)\.", k))})
    want = (int(proj.shape[1]), int(proj.shape[0]), int(conv.shape[0]), patch, grid * patch, depth)
    fits = []
    for name in open_clip.list_models():
        cfg = open_clip.get_model_config(name) or {}
        v, t = cfg.get("vision_cfg") or {}, cfg.get("text_cfg") or {}
        size = v.get("image_size")
        got = (cfg.get("embed_dim"), t.get("width", 512), v.get("width"), v.get("patch_size"),
               size[0] if isinstance(size, (list, tuple)) else size, v.get("layers"))
        if got == want:
            fits.append(name)
    return fits


def write_tiny_checkpoint(path: str | os.PathLike[str], model_name: str = "imgrag-tiny", seed: int = TINY_SEED) -> Path:
    """Build the test profile's CLIP (real architecture, random weights, fixed seed) and save it.

    Written atomically, so two processes racing to create it both end with a whole file.
    """
    import open_clip
    import torch

    _register_bundled_configs()
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    logging.getLogger().disabled, was = True, logging.getLogger().disabled  # "initialized randomly" is the point
    try:
        model = open_clip.create_model(model_name, pretrained=None, device="cpu")
    finally:
        logging.getLogger().disabled = was
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    # Through a file object: torch names the archive's records after a path it is given, so the
    # temp name (with its PID) would make every data dir's copy, and its model id, different.
    with open(tmp, "wb") as fh:
        torch.save({"state_dict": model.state_dict()}, fh)
    os.replace(tmp, dest)
    return dest


_WEIGHT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


def _hub_location(model_name: str, pretrained: str) -> tuple[str, list[str]] | None:
    """(repo id, candidate file names) of a pretrained tag on the Hugging Face hub.

    Besides open_clip's own tags, `hf-hub:ORG/REPO` (or `hf-hub:ORG/REPO/FILE`) names the
    open_clip weights in any hub repository (a mirror, a fine-tune)."""
    if pretrained.startswith("hf-hub:"):
        hub = pretrained[len("hf-hub:"):].strip("/")
        parts = hub.split("/")
        if len(parts) < 2:
            return None
        if len(parts) > 2:
            return "/".join(parts[:2]), ["/".join(parts[2:])]
        return hub, list(_WEIGHT_FILES)
    import open_clip

    cfg = open_clip.get_pretrained_cfg(model_name, pretrained)
    hub = (cfg or {}).get("hf_hub", "")
    if not hub:
        return None
    repo, filename = os.path.split(hub.rstrip("/")) if not hub.endswith("/") else (hub.rstrip("/"), "")
    names = [filename] if filename else list(_WEIGHT_FILES)
    if filename.endswith(".bin"):
        names.insert(0, filename[:-4] + ".safetensors")
    return repo, names


def cached_weights(model_name: str, pretrained: str, cache_dirs: Sequence[str | os.PathLike[str] | None] = (None,)) -> str | None:
    """The local file of a pretrained tag when it is already downloaded; never touches the network.

    Looks in each hub cache given (the data dir's first, then huggingface_hub's default, None),
    where only complete files are: a download in progress is a `.part` file beside them."""
    loc = _hub_location(model_name, pretrained)
    if loc is None:
        return None
    from huggingface_hub import try_to_load_from_cache

    repo, names = loc
    for cache in cache_dirs:
        for name in names:
            found = try_to_load_from_cache(repo, name, cache_dir=None if cache is None else str(cache))
            if isinstance(found, str) and os.path.exists(found):
                return found
    return None


def download_weights(model_name: str, pretrained: str, cache_dir: str | os.PathLike[str] | None = None,
                     progress: Any = None, cancel: threading.Event | None = None, downloader: Any = None,
                     keep_partial: bool = True) -> str:
    """Download a pretrained tag's weights into a hub cache (an explicit user action: the only
    place CLIP weights touch the network), resumable and checked against the hub's checksum.
    `progress` gets `downloads.DownloadEvent`s."""
    from imgrag_desktop.models.downloads import DownloadFailed, HubDownloader, RemoteFile

    loc = _hub_location(model_name, pretrained)
    if loc is None:
        raise ModelUnavailable(f"no download is known for {model_name}/{pretrained}: pick a local checkpoint instead")
    if cache_dir is None:
        import huggingface_hub.constants as hc

        cache_dir = hc.HF_HUB_CACHE
    dl = downloader or HubDownloader()
    repo, names = loc
    last: DownloadFailed | None = None
    for name in names:
        try:
            return str(dl.fetch_cached(RemoteFile(repo, name), Path(cache_dir), progress, cancel, keep_partial))
        except DownloadFailed as exc:  # the next file name when this one is absent (404), else explain
            last = exc
            if "(404 " not in str(exc):
                raise
    assert last is not None
    raise last


def _is_offline_error(exc: BaseException) -> bool:
    text = f"{type(exc).__name__}: {exc}".lower()
    keys = ("connection", "offline", "resolve", "network", "timed out", "timeout", "localentrynotfound",
            "cannot find the requested files", "max retries", "name or service", "hub")
    return any(k in text for k in keys)


class ClipEncoder(TorchOrOnnx):
    """Lazily loaded open_clip model with batched, normalised image and text encoding.

    Two ways to get it ready: `load_for_queries` (also called `load`) for encoding texts, which
    counts a valid ONNX export as ready and never imports torch then, and `load_for_images`
    for indexing, which needs what image batches run on (the weights, or the export's image
    tower when it serves them)."""

    def __init__(self, model_name: str, pretrained: str = "", checkpoint: str = "", device: str = "auto",
                 create_missing_tiny: bool = False, precision: str = "auto",
                 cache_dirs: Sequence[str | os.PathLike[str] | None] = (None,), runtime: str = "auto",
                 onnx_root: str | os.PathLike[str] | None = None) -> None:
        self.model_name = model_name
        # onnxruntime instead of torch on the CPU (models/onnx_clip.py): "auto" uses a valid
        # export when torch is not loaded in this process; "torch" never; "onnx" whenever valid.
        self.runtime = (runtime or "auto").lower()
        if self.runtime not in RUNTIMES:
            raise ImgragError(f"unknown clip_runtime {runtime!r}: use {', '.join(RUNTIMES)}")
        self.onnx_root = os.fspath(onnx_root) if onnx_root else ""
        self._ort: Any = None  # onnx_clip.OnnxClip, when opened
        self._ort_tried = False
        self._export: threading.Thread | None = None
        self._source: str | None = None
        self.cache_dirs = tuple(cache_dirs)
        self.pretrained = pretrained
        self.checkpoint = checkpoint
        self.requested_device = device
        self.requested_precision = precision
        self.precision = ""
        self.fallbacks: list[str] = []  # precisions given up at run time (see _low_precision_failed)
        self.create_missing_tiny = create_missing_tiny
        self._lock = threading.RLock()
        self._model: Any = None
        self._preprocess: Callable[..., Any] | None = None
        self._tokenizer: Callable[..., Any] | None = None
        self.device = "cpu"
        self.dtype: Any = None
        self.image_size = 224
        self.dim = 0
        self.last_used = 0.0

    # Identity -------------------------------------------------------------------------------
    @property
    def model_id(self) -> str:
        """Which weights made a vector; vectors of different ids are never compared."""
        if self.checkpoint:
            if not Path(self.checkpoint).exists():
                if self.create_missing_tiny:
                    write_tiny_checkpoint(self.checkpoint, self.model_name)
                else:
                    raise ModelUnavailable(
                        f"CLIP checkpoint {self.checkpoint} does not exist: pick an existing file in Settings "
                        "(clip_checkpoint) or clear it to use a named model"
                    )
            return f"{self.model_name}/ckpt-{checkpoint_id(self.checkpoint)}"
        return f"{self.model_name}/{self.pretrained}"

    def _export_present(self) -> bool:
        from imgrag_desktop.models.onnx_clip import export_present

        try:
            return export_present(self.onnx_root, self.model_id, need=("text.onnx",))
        except ModelUnavailable:
            return False

    def _ort_wanted(self) -> bool:
        return self.runtime != "torch" and bool(self.onnx_root) and cpu_device(self.requested_device)

    def _open_ort(self) -> Any:
        """The valid ONNX export of this model (opened once), or None."""
        with self._lock:
            if self._ort is None and not self._ort_tried and self._ort_wanted():
                self._ort_tried = True
                try:
                    model_id = self.model_id
                except ModelUnavailable:
                    return None
                from imgrag_desktop.models.onnx_clip import OnnxClip

                ort = OnnxClip.open(self.onnx_root, model_id)
                if ort is not None and ort.text_session is not None:
                    self._ort = ort
                    if self._model is None:
                        self.dim, self.image_size, self.device = ort.dim, ort.image_size, "cpu"
            return self._ort

    def _text_on_ort(self) -> Any:
        """The ORT towers when queries should run there (see `runtime`), else None."""
        return self._open_ort() if self._ort_may_serve() else None

    def expected_dim(self) -> int | None:
        """The vector size from the architecture's config (no weights needed), or None."""
        if self.dim:
            return self.dim
        if self._open_ort() is not None:
            return int(self.dim)
        import open_clip

        _register_bundled_configs()
        cfg = open_clip.get_model_config(self.model_name) or {}
        dim = cfg.get("embed_dim")
        return int(dim) if dim else None

    # Loading --------------------------------------------------------------------------------
    def load_for_queries(self) -> "ClipEncoder":
        """Ready to encode queries: the ONNX towers when a valid export serves (no torch
        import), else the torch model. An export counts as ready even with the weights gone:
        for image batches use `load_for_images`."""
        with self._lock:
            if self._model is None and self._text_on_ort() is not None:
                self.last_used = time.monotonic()
                return self
            return self._load_torch()

    load = load_for_queries  # the older name, used widely

    def load_for_images(self) -> "ClipEncoder":
        """Ready to encode image batches (indexing): the ONNX image tower when it serves them,
        else the torch model. Unlike `load`, an export serving queries does not count: with
        the weights missing, this raises ModelUnavailable and the rows wait for their vector.
        With an export serving queries, torch itself still loads only at the first batch (a
        watcher with nothing new to index never imports it)."""
        with self._lock:
            if self._model is not None or self._images_on_ort() is not None:
                self.last_used = time.monotonic()
                return self
            # Asked without opening the export: its text tower (~250 MB for ViT-B-32) would stay
            # open beside torch for nothing, as torch serves texts once it is loaded.
            if not self.serves_on_onnx():
                return self._load_torch(text=False)
            if not self._weights_present():
                raise ModelUnavailable(self._missing_message())
            if not self.dim:  # the vector size callers ask for, from the export's manifest
                self._shape_from_export()
            return self

    def _shape_from_export(self) -> None:
        from imgrag_desktop.models.onnx_clip import export_dir, read_manifest

        try:
            manifest = read_manifest(export_dir(self.onnx_root, self.model_id))
            self.dim, self.image_size = int(manifest["dim"]), int(manifest.get("image_size") or 224)
        except (OSError, ValueError, KeyError, TypeError, ModelUnavailable):
            pass

    def _weights_present(self) -> bool:
        """Whether the torch model could load its weights (checked without loading them)."""
        if self.checkpoint:
            return Path(self.checkpoint).is_file()
        return not self.pretrained or cached_weights(self.model_name, self.pretrained, self.cache_dirs) is not None

    def _load_torch(self, text: bool = True) -> "ClipEncoder":
        """The torch model; `text=False` (image batches) may leave its text tower unread until
        the first text is encoded (`_text_ready`; models/clip_build.py)."""
        with self._lock:
            if self._model is not None:
                self.last_used = time.monotonic()  # an encode follows: not idle (unload_if_idle)
                return self
            import open_clip
            import torch

            from imgrag_desktop.models.clip_build import build_from_file
            from imgrag_desktop.models.idle import trim_heap

            _register_bundled_configs()
            device = pick_device(self.requested_device)
            if self.model_name not in open_clip.list_models():
                raise ModelUnavailable(
                    f"unknown CLIP model {self.model_name!r}: pick one of `open_clip.list_models()` in Settings"
                )
            if self.checkpoint:
                _ = self.model_id  # creates the tiny checkpoint when allowed, else explains what is missing
                source: str | None = self.checkpoint
            elif self.pretrained:
                # Local files only: indexing and search never open a network connection.
                source = cached_weights(self.model_name, self.pretrained, self.cache_dirs)
                if source is None:
                    raise ModelUnavailable(self._missing_message())
            else:
                source = None
            # Linear and convolution weights in low precision, layer norms in fp32 (open_clip's
            # mixed "fp16"/"bf16" modes).
            precision = pick_precision(device, self.requested_precision)
            if device == "cpu":
                _respect_omp_thread_limit()
            # Loading a tag's file by path loses the tag's preprocessing settings: pass them on.
            pre_cfg = (open_clip.get_pretrained_cfg(self.model_name, self.pretrained)
                       if self.pretrained and not self.checkpoint and not self.pretrained.startswith("hf-hub:") else {})
            pre_kwargs = {k: pre_cfg[src] for k, src in (("image_mean", "mean"), ("image_std", "std"),
                          ("image_interpolation", "interpolation"), ("image_resize_mode", "resize_mode")) if src in (pre_cfg or {})}
            try:
                # From a file on the CPU: built without a full fp32 copy first (models/clip_build.py)
                built = build_from_file(self.model_name, source, device, precision, pre_kwargs,
                                        text=text) if source else None
                if built is not None:
                    model, preprocess = built
                else:
                    model, _, preprocess = open_clip.create_model_and_transforms(
                        self.model_name, pretrained=source, device=device, precision=precision, **pre_kwargs
                    )
                trim_heap()  # what the build freed goes back to the system
            except (RuntimeError, AssertionError, KeyError, ValueError) as exc:
                # A file of another architecture fails in load_state_dict (RuntimeError) or in
                # open_clip's own checks before it (an AssertionError on the text width, a KeyError).
                if self.checkpoint:
                    reason = (str(exc).splitlines() or [type(exc).__name__])[0] or type(exc).__name__
                    raise ModelUnavailable(
                        f"checkpoint {self.checkpoint} does not fit model {self.model_name}: {reason}"
                    ) from exc
                if _is_offline_error(exc):
                    raise ModelUnavailable(self._missing_message()) from exc
                raise
            except Exception as exc:  # hub/network errors come in many types
                if not self.checkpoint and _is_offline_error(exc):
                    raise ModelUnavailable(self._missing_message()) from exc
                raise
            model.eval()
            self._model = model
            self._source = source
            self._preprocess = preprocess
            self._tokenizer = open_clip.get_tokenizer(self.model_name)
            self.device = device
            self.precision = precision
            self.dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision, torch.float32)
            size = getattr(model.visual, "image_size", 224)
            self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
            self.dim = int(model.text_projection.shape[1]) if getattr(model, "text_projection", None) is not None \
                else int(self._probe_dim())
            self.last_used = time.monotonic()
            return self

    def _text_ready(self) -> None:
        """Read the text tower a model built for image batches left unread; when that fails
        (the file changed meanwhile), build the whole model again."""
        from imgrag_desktop.models import clip_build

        with self._lock:
            if self._model is None or not clip_build.text_pending(self._model):
                return
            try:
                clip_build.load_text(self._model)
            except Exception as exc:
                log.warning("CLIP text tower not read from %s (%s): loading the whole model again", self._source, exc)
                self._model = None
                self._load_torch()

    def _probe_dim(self) -> int:
        import torch

        with torch.no_grad():
            x = torch.zeros(1, 3, self.image_size, self.image_size, device=self.device, dtype=self.dtype)
            return int(self._model.encode_image(x).shape[-1])

    def _missing_message(self) -> str:
        return (
            f"CLIP weights {self.model_name}/{self.pretrained} are not downloaded: download them in Settings → Models "
            "(or `imgrag models download`, `imgrag doctor --download`), or set a local checkpoint file (clip_checkpoint)"
        )

    def unload_if_idle(self, idle_s: float) -> bool:
        """Unload when unused for `idle_s` seconds (models/idle.py); the next encode reloads."""
        with self._lock:
            if not self.loaded or time.monotonic() - self.last_used < idle_s:
                return False
            self.unload()
            return True

    def unload(self) -> None:
        """Free the weights (and GPU memory) so another model can use the device."""
        with self._lock:
            self._model = None
            self._preprocess = None
            self._ort, self._ort_tried = None, False  # its sessions and arenas go too
            if self.device.startswith("cuda"):
                import torch

                torch.cuda.empty_cache()

    # Encoding -------------------------------------------------------------------------------
    def _images_on_ort(self) -> Any:
        """The ORT towers when image batches should run there, else None: with clip_runtime
        "onnx", or "auto" when AUTO_IMAGES says so (see docs/performance.md, issue 19)."""
        if self.runtime == "torch" or (self.runtime == "auto" and not AUTO_IMAGES_ON_ONNX):
            return None
        ort = self._text_on_ort()
        return ort if ort is not None and ort.has_image and ort.pixels is not None else None

    @property
    def preprocess(self) -> Callable[["Image.Image"], Any]:
        """The model's own image transform; thread-safe, so decode workers can run it. A torch
        tensor, or a NumPy array when the image tower runs on onnxruntime (the same pixels)."""
        ort = self._images_on_ort()
        if ort is not None:
            return ort.pixels  # type: ignore[no-any-return]
        self._load_torch(text=False)
        assert self._preprocess is not None
        return self._preprocess

    @staticmethod
    def stack(items: Sequence[Any]) -> Any:
        """One batch of what `preprocess` made (NumPy arrays stay NumPy: no torch import)."""
        if items and isinstance(items[0], np.ndarray):
            return np.stack(items)
        import torch

        return torch.stack(list(items))

    def encode_tensors(self, batch: Any) -> np.ndarray:
        """Vectors of a batch of preprocessed images (a torch tensor or a NumPy array)."""
        if isinstance(batch, np.ndarray):
            ort = self._images_on_ort()
            if ort is not None:
                with self._lock:
                    self.last_used = time.monotonic()
                return ort.encode_pixels(batch)  # type: ignore[no-any-return]
        import torch

        if isinstance(batch, np.ndarray):  # the ORT session went (idle unload, settings): torch serves
            batch = torch.from_numpy(batch)
        self._load_torch(text=False)
        with self._lock, torch.inference_mode():
            x = batch.to(self.device, dtype=self.dtype, non_blocking=True)
            feats = self._model.encode_image(x)
            feats = torch.nn.functional.normalize(feats.float(), dim=-1)
            self.last_used = time.monotonic()
            out = feats.cpu().numpy().astype(np.float32, copy=False)
        if self._low_precision_failed(out, batch):
            return self.encode_tensors(batch)
        self.export_onnx_later()
        return out

    def encode_images(self, images: Sequence["Image.Image"]) -> np.ndarray:
        """Vectors of a few images (a pasted or dropped one, calibration probes): on the ONNX
        export when it serves queries, without importing torch (a second's stall in the window)."""
        if not images:
            return np.zeros((0, self.dim or 0), np.float32)
        ort = self._text_on_ort()
        if ort is not None and ort.has_image and ort.pixels is not None:
            with self._lock:
                self.last_used = time.monotonic()
            return ort.encode_pixels(np.stack([ort.pixels(im) for im in images]))
        import torch

        pre = self.preprocess
        return self.encode_tensors(torch.stack([pre(im) for im in images]))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Encode queries. Causal text towers are run on the real tokens only (same output,
        a fraction of the cost of padding to the context length)."""
        ort = self._text_on_ort()
        if ort is not None:
            with self._lock:
                self.last_used = time.monotonic()
            return ort.encode_texts(list(texts))
        import torch

        self._load_torch()
        self._text_ready()
        assert self._tokenizer is not None
        tokens = self._tokenizer(list(texts))
        with self._lock, torch.inference_mode():
            tokens = tokens.to(self.device)
            feats = self._encode_text_trimmed(tokens)
            if feats is None:
                feats = self._model.encode_text(tokens)
            feats = torch.nn.functional.normalize(feats.float(), dim=-1)
            self.last_used = time.monotonic()
            out = feats.cpu().numpy().astype(np.float32, copy=False)
        if self._low_precision_failed(out):
            return self.encode_texts(texts)
        return out

    # ONNX export ---------------------------------------------------------------------------
    def export_onnx_later(self) -> threading.Thread | None:
        """Export the towers to ONNX in a background thread (at the lowest CPU priority) once,
        when this process has the torch model on the CPU and no valid export exists: the next
        search-only process then runs without torch. Called after an image batch (an index run
        or a `similar`), never on the query path."""
        with self._lock:
            if (self._export is not None or self._model is None or self.device != "cpu"
                    or not self._ort_wanted()):
                return None
            from imgrag_desktop.models.onnx_clip import export_present, start_export

            if export_present(self.onnx_root, self.model_id):
                return None
            self._export = start_export(self.export_onnx, f"CLIP {self.model_name}", "imgrag-onnx-export")
            return self._export

    def export_onnx(self) -> Path | None:
        """Export now (see export_onnx_later); the export's folder, or None (why is logged)."""
        from imgrag_desktop.models import onnx_clip

        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)  # Linux: this thread only
        except (AttributeError, OSError):
            pass
        try:
            import copy

            import open_clip

            with self._lock:
                self._load_torch()
                self._text_ready()
                model_id, source, precision = self.model_id, self._source, self.precision
                # A copy in fp32: of the loaded model when it is fp32, or has no file (random weights)
                model = copy.deepcopy(self._model).float() if precision == "fp32" or not source else None
                tokenizer, preprocess, size = self._tokenizer, self._preprocess, self.image_size
            if model is None:  # the exported towers are fp32 whatever the serving precision
                from imgrag_desktop.models.clip_build import build_from_file

                built = build_from_file(self.model_name, source, "cpu", "fp32", {}) if source else None
                model = built[0] if built is not None else open_clip.create_model(
                    self.model_name, pretrained=source, device="cpu", precision="fp32")
            model.eval()
            src = {"model": self.model_name, "pretrained": self.pretrained, "checkpoint": self.checkpoint,
                   "weights_id": checkpoint_id(source) if source else ""}
            out = onnx_clip.export_clip(self.onnx_root, model_id, model, tokenizer, size, preprocess, src)
        except Exception as exc:  # the export is an optimisation: torch keeps serving
            log.warning("could not export CLIP %s to ONNX: %s", self.model_name, str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__)
            return None
        with self._lock:
            self._ort_tried = False  # a later query may use it
        return out

    def _low_precision_failed(self, out: np.ndarray, inputs: "torch.Tensor | None" = None) -> bool:
        """A non-finite or zero vector from finite input in bf16/fp16 means the low-precision
        kernels failed on this machine (both were seen: NaN, or output left zero): reload in
        fp32 (once, with a warning) and encode again. (Such a vector would be stored as "no
        vector", or match nothing, and the picture could never be found.) `inputs` (image
        tensors) are checked only then: broken input explains broken output."""
        import torch

        if self.precision in ("", "fp32") or len(out) == 0:
            return False
        with np.errstate(invalid="ignore"):
            norms = np.linalg.norm(out, axis=1)
        if np.isfinite(out).all() and bool((np.abs(norms - 1) < 1e-3).all()):
            return False
        if inputs is not None and not bool(torch.isfinite(inputs).all()):
            return False
        with self._lock:
            if self.precision in ("", "fp32"):
                return True  # another thread already switched: encode again in fp32
            log.warning("CLIP in %s on %s gave broken vectors (not finite, or zero): using fp32 from now on",
                        self.precision, self.device)
            self.fallbacks.append(self.precision)
            self.unload()
            self.requested_precision = "fp32"
            self.load()
        return True

    def _encode_text_trimmed(self, tokens: "torch.Tensor") -> "torch.Tensor | None":
        """open_clip's CLIP.encode_text, on tokens cut after the last end-of-text token.

        Valid only for the standard causal text tower with argmax (end-of-text) pooling; any
        other tower returns None and the caller uses the model's own encode_text.
        """
        import torch

        m = self._model
        needed = ("token_embedding", "positional_embedding", "transformer", "ln_final", "attn_mask")
        if not all(hasattr(m, n) for n in needed) or getattr(m, "text_pool_type", "argmax") != "argmax":
            return None
        if getattr(m, "attn_mask", None) is None or getattr(m.transformer, "batch_first", True) is not True:
            return None
        eot = tokens.argmax(dim=-1)
        length = int(eot.max().item()) + 1
        t = tokens[:, :length]
        cast_dtype = m.transformer.get_cast_dtype() if hasattr(m.transformer, "get_cast_dtype") else self.dtype
        x = m.token_embedding(t).to(cast_dtype)
        x = x + m.positional_embedding[:length].to(cast_dtype)
        x = m.transformer(x, attn_mask=m.attn_mask[:length, :length])
        x = m.ln_final(x)
        x = x[torch.arange(x.shape[0], device=x.device), eot]
        proj = m.text_projection
        if proj is not None:
            x = proj(x) if isinstance(proj, torch.nn.Linear) else x @ proj
        return x


def encoder_from_config(cfg: Any, spec: tuple[str, str, str] | None = None) -> ClipEncoder:
    """The encoder an AppConfig asks for (the test profile builds its tiny checkpoint on demand),
    or, given `spec` (model, pretrained, checkpoint), that model on the settings' device and
    precision (the model that made the index, while a switch is under way)."""
    name, pretrained, ckpt = spec or cfg.clip_spec()
    return ClipEncoder(name, pretrained, ckpt, device=cfg.settings.device,
                       create_missing_tiny=spec is None and cfg.profile == "test",
                       precision=cfg.settings.precision, cache_dirs=hub_caches(cfg),
                       runtime=cfg.settings.clip_runtime, onnx_root=cfg.onnx_dir if cfg.onnx_enabled else None)


def hub_caches(cfg: Any) -> tuple[str | None, ...]:
    """Where downloaded weights are looked for: the data dir's hub cache, then huggingface_hub's own."""
    return (str(Path(cfg.models_dir) / "hub"), None)
