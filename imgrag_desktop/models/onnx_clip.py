"""CLIP's towers exported to ONNX once, then run by onnxruntime: queries without torch.

Importing torch + open_clip costs ~6 s and ~0.7 GB before a terminal's first query; onnxruntime
loads in ~0.2 s and ~45 MB. So when a process has loaded the torch model anyway (an index run,
the window's first encode), `export_clip` writes the towers to
`<data dir>/models/onnx/<model id>/` (text.onnx, image.onnx, the BPE vocabulary, manifest.json),
and a later process that only searches opens them with `OnnxClip.open` and never imports torch.

- Written whole or not at all: the export is built in a temporary folder beside its place and
  renamed into it; manifest.json is written last (atomic.write_json), so a folder without one is
  an export that did not finish.
- Checked twice. After the export, onnxruntime must give cosine >= 0.9999 to torch on a few
  texts (several lengths) and images, else the export is dropped (torch keeps serving; the log
  says why). The manifest keeps each file's size and a hash of its first and last MiB, and the
  check texts' vectors: `open` refuses a folder whose files differ (damaged, truncated,
  replaced) or whose sessions do not reproduce the check vectors, so a damaged file is never a
  wrong vector: it is ignored, and exported again the next time torch is loaded.
- The text tower is exported on a variable number of tokens (cut after the last end-of-text
  token, as ClipEncoder does in torch); the image tower on a variable batch.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np

from imgrag_desktop.atomic import write_json

if TYPE_CHECKING:  # pragma: no cover
    import torch

log = logging.getLogger(__name__)
FORMAT = 1
OPSET = 17
MIN_COSINE = 0.9999
CHECK_TEXTS = ("a photo of a dog", "", "A receipt from the supermarket, 12.50 EUR, paid by card on Tuesday!",
               "screenshot of a terminal window with an error message in red")
MANIFEST = "manifest.json"
VOCAB = "bpe_simple_vocab_16e6.txt.gz"


def safe_name(model_id: str) -> str:
    """A folder name for a model id ("ViT-B-32/laion2b_s34b_b79k" → "ViT-B-32__laion2b_s34b_b79k")."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model_id.replace("/", "__")).strip("._") or "model"


def export_dir(root: str | os.PathLike[str], model_id: str) -> Path:
    return Path(root) / safe_name(model_id)


def file_stamp(path: Path) -> dict[str, Any]:
    """Size and a hash of the first and last MiB: cheap enough to check on every open."""
    size = path.stat().st_size
    h = hashlib.blake2b(digest_size=8)
    with path.open("rb") as fh:
        h.update(fh.read(1 << 20))
        if size > 2 << 20:
            fh.seek(-(1 << 20), os.SEEK_END)
            h.update(fh.read())
    return {"size": size, "hash": h.hexdigest()}


def full_hash(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


VERIFIED = "verified.json"


def files_intact(folder: Path, files: dict[str, Any]) -> bool:
    """Whether each file is the one the manifest describes: size and ends on every open, the
    whole file's hash when it is first opened or its size or mtime changed since (recorded in
    verified.json; ~0.5 s for ViT-B-32's towers, once), so a file damaged anywhere is refused."""
    try:
        seen = json.loads((folder / VERIFIED).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        seen = {}
    fresh: dict[str, Any] = {}
    for name, stamp in files.items():
        path = folder / name
        try:
            st = path.stat()
            quick = {k: stamp.get(k) for k in ("size", "hash")}
            if file_stamp(path) != quick:
                return False
            key = [st.st_size, st.st_mtime_ns]
            if not (isinstance(seen, dict) and seen.get(name) == key):
                if stamp.get("full") and full_hash(path) != stamp["full"]:
                    return False
            fresh[name] = key
        except OSError:
            return False
    if fresh != seen:
        try:
            write_json(folder / VERIFIED, fresh)
        except OSError:  # a read-only data dir: the check is simply done again next time
            pass
    return True


def ort_threads() -> int:
    """onnxruntime's threads: the machine's cores, within OMP_THREAD_LIMIT / OMP_NUM_THREADS."""
    n = os.cpu_count() or 1
    for var in ("OMP_THREAD_LIMIT", "OMP_NUM_THREADS"):
        try:
            v = int(os.environ.get(var, "0") or 0)
        except ValueError:
            continue
        if v > 0:
            n = min(n, v)
    return max(1, n)


def session(path: Path) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = ort_threads()
    opts.inter_op_num_threads = 1
    opts.enable_cpu_mem_arena = True  # buffers kept between runs: the next query allocates nothing
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    # No busy-waiting between runs: onnxruntime's pool otherwise spins its threads after each
    # query, taking a 2-core desktop's CPU from the window (a text query here: 42 -> 13-18 ms of
    # CPU with the same latency) and from the rest of the query (1M rows at load ~10: text query
    # p50 210 -> 104 ms; docs/performance.md, "1M rows").
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(os.fspath(path), sess_options=opts, providers=["CPUExecutionProvider"])


def normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.min(np.sum(normalize(a) * normalize(b), axis=-1)))


def read_manifest(folder: Path) -> Any:
    """The manifest of the export in `folder`, as written (OSError or ValueError when it is
    missing or not JSON; the caller checks its fields)."""
    return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))


def export_present(root: str | os.PathLike[str], model_id: str, folder: Path | None = None,
                   need: Sequence[str] = ()) -> bool:
    """Whether a whole export of `model_id` is there (its files as the manifest says; no session opened)."""
    folder = folder or export_dir(root, model_id)
    try:
        manifest = read_manifest(folder)
        files = manifest.get("files") or {}
        return (manifest.get("format") == FORMAT and manifest.get("model_id") == model_id
                and all(n in files for n in need) and files_intact(folder, files))
    except (OSError, ValueError, AttributeError):
        return False


class OnnxClip:
    """The exported towers of one model on onnxruntime (CPU). Either tower may be absent."""

    def __init__(self, folder: Path, manifest: dict[str, Any], text: Any, image: Any = None) -> None:
        self.folder = folder
        self.manifest = manifest
        self.text_session = text
        self._image_session = image
        # The image tower is opened on its first use: a search process rarely needs it, and
        # it costs ~350 MB and seconds to open (ViT-B-32).
        self.has_image = image is not None or "image.onnx" in (manifest.get("files") or {})
        self.dim = int(manifest["dim"])
        self.image_size = int(manifest.get("image_size") or 224)
        self.context_length = int(manifest.get("context_length") or 77)
        self.preprocess_cfg: dict[str, Any] = manifest.get("preprocess") or {}
        self._tokenizer: Any = None
        self._lock = threading.Lock()
        self.pixels: PixelTransform | None = PixelTransform(**self.preprocess_cfg) if self.preprocess_cfg else None

    @classmethod
    def open(cls, root: str | os.PathLike[str], model_id: str) -> "OnnxClip | None":
        """The valid export of `model_id` under `root`, or None (absent, damaged, another version:
        the caller uses torch, which exports again)."""
        folder = export_dir(root, model_id)
        man_path = folder / MANIFEST
        if not man_path.is_file():
            return None
        try:
            manifest = read_manifest(folder)
            if manifest.get("format") != FORMAT or manifest.get("model_id") != model_id:
                return None
            if not files_intact(folder, manifest.get("files") or {}):
                log.warning("ONNX export %s is damaged or changed; it is ignored (torch serves, and exports it "
                            "again)", folder)
                return None
            files = manifest.get("files") or {}
            text = session(folder / "text.onnx") if "text.onnx" in files else None
            enc = cls(folder, manifest, text)
            if text is not None:
                got = enc.encode_texts(list(manifest["check"]["texts"]))
                if min_cosine(got, np.asarray(manifest["check"]["vectors"], np.float32)) < MIN_COSINE:
                    log.warning("ONNX export %s does not reproduce its check vectors: ignored", folder)
                    return None
            return enc
        except Exception as exc:  # unreadable manifest, a file onnxruntime refuses: not an export
            log.warning("ONNX export %s cannot be used (%s): ignored", folder, str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
            return None

    @property
    def tokenizer(self) -> Any:
        with self._lock:
            if self._tokenizer is None:
                from imgrag_desktop.models.clip_tokenizer import ClipTokenizer

                self._tokenizer = ClipTokenizer(self.folder / VOCAB, self.context_length)
            return self._tokenizer

    def encode_tokens(self, tokens: np.ndarray) -> np.ndarray:
        assert self.text_session is not None
        tokens = np.asarray(tokens, np.int64)
        if self.manifest.get("text_trimmed"):
            length = int(tokens.argmax(axis=-1).max()) + 1
            tokens = tokens[:, :length]
        out = self.text_session.run(None, {"tokens": tokens})[0]
        return normalize(out)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return self.encode_tokens(self.tokenizer(list(texts)))

    @property
    def image_session(self) -> Any:
        with self._lock:
            if self._image_session is None and self.has_image:
                self._image_session = session(self.folder / "image.onnx")
            return self._image_session

    def encode_pixels(self, pixels: np.ndarray) -> np.ndarray:
        assert self.image_session is not None
        if len(pixels) == 0:
            return np.zeros((0, self.dim), np.float32)
        out = self.image_session.run(None, {"pixels": np.ascontiguousarray(pixels, dtype=np.float32)})[0]
        return normalize(out)


class PixelTransform:
    """open_clip's image transform for resize mode "shortest" (Resize of the short side, centre
    crop, RGB, scale, normalise) in Pillow + NumPy: pixels for the ONNX image tower without
    torchvision. Same Pillow resize as torchvision's on a PIL image; checked at export time."""

    def __init__(self, size: int, mean: Sequence[float], std: Sequence[float], interpolation: str = "bicubic") -> None:
        self.size = int(size)
        self.mean = np.asarray(mean, np.float32).reshape(3, 1, 1)
        self.std = np.asarray(std, np.float32).reshape(3, 1, 1)
        self.interpolation = interpolation

    def __call__(self, image: Any) -> np.ndarray:
        from PIL import Image

        w, h = image.size
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = self.size, int(self.size * long / short)
        new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
        resample = Image.Resampling.BILINEAR if self.interpolation == "bilinear" else Image.Resampling.BICUBIC
        if (new_w, new_h) != (w, h):
            image = image.resize((new_w, new_h), resample)
        top, left = int(round((new_h - self.size) / 2.0)), int(round((new_w - self.size) / 2.0))
        if top or left or new_w != self.size or new_h != self.size:
            image = image.crop((left, top, left + self.size, top + self.size))
        arr = np.asarray(image.convert("RGB"), dtype=np.float32).transpose(2, 0, 1) / np.float32(255.0)
        return (arr - self.mean) / self.std


def pixel_transform(preprocess: Any, size: int) -> tuple[PixelTransform | None, dict[str, Any]]:
    """The NumPy twin of an open_clip torchvision transform, when it is the standard one."""
    steps = getattr(preprocess, "transforms", [])
    names = [type(t).__name__ for t in steps]
    if names[:2] != ["Resize", "CenterCrop"] or names[-1] != "Normalize" or not any("ToTensor" in n for n in names):
        return None, {}
    resize, norm = steps[0], steps[-1]
    if not isinstance(getattr(resize, "size", None), int) and len(getattr(resize, "size", []) or []) != 1:
        return None, {}
    interp = str(getattr(resize, "interpolation", "bicubic")).lower()
    if "bicubic" not in interp and "bilinear" not in interp:
        return None, {}
    cfg: dict[str, Any] = {"size": int(size), "mean": [float(v) for v in norm.mean], "std": [float(v) for v in norm.std],
           "interpolation": "bilinear" if "bilinear" in interp else "bicubic"}
    return PixelTransform(**cfg), cfg


def _pixels_agree(ours: PixelTransform, preprocess: Any) -> bool:
    from PIL import Image

    rng = np.random.default_rng(3)
    for shape in ((301, 457, 3), (640, 480, 3), (50, 37, 3)):
        im = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8))
        if float(np.abs(ours(im) - preprocess(im).numpy()).max()) > 1e-4:
            return False
    return True


# torch.onnx.export is not re-entrant (one global "in export" flag): CLIP's and the text
# model's exports in one process take turns.
EXPORT_LOCK = threading.Lock()

# The export threads of this process, with what each exports ("CLIP ViT-B-32"): a command
# line that would wait for them silently says why (`wait_for_exports`), the window shows them.
_RUNNING: dict[threading.Thread, str] = {}
_RUNNING_LOCK = threading.Lock()


def start_export(target: Callable[[], Any], label: str, name: str) -> threading.Thread:
    """Run `target` (an export) in a thread of its own, known to `exports_running` from before it
    starts until it ends. Not a daemon: a process that is ending lets the export finish."""
    def run() -> None:
        try:
            target()
        finally:
            with _RUNNING_LOCK:
                _RUNNING.pop(threading.current_thread(), None)

    thread = threading.Thread(target=run, name=name, daemon=False)
    with _RUNNING_LOCK:
        _RUNNING[thread] = label
    try:
        thread.start()
    except BaseException:
        with _RUNNING_LOCK:
            _RUNNING.pop(thread, None)
        raise
    return thread


def exports_running() -> list[str]:
    """What this process is exporting now ("CLIP ViT-B-32", …), in the order they began."""
    with _RUNNING_LOCK:
        return list(dict.fromkeys(_RUNNING.values()))


def wait_for_exports(say: Callable[[str], None] | None = None) -> bool:
    """Wait for this process's exports to end; `say(what)` is told first ("CLIP ViT-B-32 and
    all-MiniLM-L6-v2"). Whether there were any."""
    with _RUNNING_LOCK:
        threads = [t for t in _RUNNING if t is not threading.current_thread()]
    if not threads:
        return False
    if say is not None:
        names = exports_running()
        say(" and ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else names[0] if names else "a model")
    for t in threads:
        t.join()
    return True


@contextlib.contextmanager
def plain_attention() -> Iterator[None]:
    """nn.MultiheadAttention's fused inference path (aten::_native_multi_head_attention) has no
    ONNX form: off while exporting (a process-wide flag, so the export holds EXPORT_LOCK)."""
    import torch

    mha = getattr(torch.backends, "mha", None)
    was = mha.get_fastpath_enabled() if mha is not None else None
    if mha is not None:
        mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        if mha is not None:
            mha.set_fastpath_enabled(bool(was))


def quiet_tracer() -> None:
    """The exporter's trace warnings ("might cause the trace to be incorrect": the export is
    checked against torch instead) are not for the user's terminal: ignored in this process."""
    import warnings

    import torch

    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    warnings.filterwarnings("ignore", message=r".*(trace|traced|tracing)", category=UserWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx.*")


# Export (torch loaded) ------------------------------------------------------------------------
def _attention(mha: Any, x: "torch.Tensor", mask: "torch.Tensor") -> "torch.Tensor":
    """nn.MultiheadAttention (batch first, self-attention) written out with -1 for the length:
    the TorchScript exporter bakes the traced length into MultiheadAttention's reshapes."""
    import torch

    batch = x.shape[0]
    heads, head_dim = int(mha.num_heads), int(mha.head_dim)
    q, k, v = torch.nn.functional.linear(x, mha.in_proj_weight, mha.in_proj_bias).chunk(3, dim=-1)
    q, k, v = (t.reshape(batch, -1, heads, head_dim).transpose(1, 2) for t in (q, k, v))
    scores = (q @ k.transpose(-2, -1)) * (head_dim ** -0.5) + mask
    out = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(batch, -1, heads * head_dim)
    return mha.out_proj(out)


def _text_module(model: Any, trimmed: bool) -> Any:
    import torch

    class TextTower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = model

        def forward(self, tokens: "torch.Tensor") -> "torch.Tensor":
            if not trimmed:
                return self.m.encode_text(tokens)
            m = self.m
            length = tokens.shape[1]
            eot = tokens.argmax(dim=-1)
            x = m.token_embedding(tokens)
            x = x + m.positional_embedding[:length]
            mask = m.attn_mask[:length, :length]
            for blk in m.transformer.resblocks:
                x = x + blk.ls_1(_attention(blk.attn, blk.ln_1(x), mask))
                x = x + blk.ls_2(blk.mlp(blk.ln_2(x)))
            x = m.ln_final(x)
            x = x[torch.arange(x.shape[0]), eot]
            proj = m.text_projection
            if proj is not None:
                x = proj(x) if isinstance(proj, torch.nn.Linear) else x @ proj
            return x

    return TextTower().eval()


def _image_module(model: Any) -> Any:
    import torch

    class ImageTower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = model

        def forward(self, pixels: "torch.Tensor") -> "torch.Tensor":
            return self.m.encode_image(pixels)

    return ImageTower().eval()


def can_trim(model: Any) -> bool:
    """The standard causal text tower with end-of-text pooling (ClipEncoder._encode_text_trimmed's test)."""
    needed = ("token_embedding", "positional_embedding", "transformer", "ln_final", "attn_mask")
    if not all(hasattr(model, n) for n in needed) or getattr(model, "text_pool_type", "argmax") != "argmax":
        return False
    if getattr(model, "attn_mask", None) is None or getattr(model.transformer, "batch_first", True) is not True:
        return False
    blocks = getattr(model.transformer, "resblocks", None) or []
    return bool(blocks) and all(type(b).__name__ == "ResidualAttentionBlock" and not hasattr(b, "ln_1_kv")
                                and type(b.attn).__name__ == "MultiheadAttention" for b in blocks)


def tokenizer_supported(tokenizer: Any) -> bool:
    """Whether open_clip's tokenizer is the default one clip_tokenizer rebuilds without torch."""
    return (type(tokenizer).__name__ == "SimpleTokenizer" and getattr(tokenizer, "reduction_fn", None) is None
            and getattr(getattr(tokenizer, "clean_fn", None), "__name__", "") == "_clean_lower"
            and len(getattr(tokenizer, "all_special_ids", ())) == 2)


def export_clip(root: str | os.PathLike[str], model_id: str, model: Any, tokenizer: Any, image_size: int,
                preprocess: Any = None, source: dict[str, Any] | None = None) -> Path | None:
    """Export an fp32 CPU open_clip `model`'s towers for `model_id`; the folder, or None when the
    export failed its check (then nothing is left behind and torch keeps serving)."""
    with EXPORT_LOCK:
        return _export_clip(root, model_id, model, tokenizer, image_size, preprocess, source)


def _export_clip(root: str | os.PathLike[str], model_id: str, model: Any, tokenizer: Any, image_size: int,
                 preprocess: Any, source: dict[str, Any] | None) -> Path | None:
    import onnxruntime
    import torch

    quiet_tracer()
    with staged(export_dir(root, model_id)) as stage:
        tmp = stage.tmp
        context = int(getattr(tokenizer, "context_length", 0) or 77)
        files: list[str] = []
        manifest: dict[str, Any] = {"format": FORMAT, "model_id": model_id, "source": source or {}, "opset": OPSET,
                                    "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
                                    "image_size": int(image_size), "context_length": context}
        ours, pre_cfg = pixel_transform(preprocess, image_size) if preprocess is not None else (None, {})
        manifest["preprocess"] = pre_cfg if ours is not None and _pixels_agree(ours, preprocess) else {}
        trimmed = can_trim(model)
        text_ok = tokenizer_supported(tokenizer)
        with torch.no_grad(), plain_attention():
            if text_ok:
                from imgrag_desktop.models.clip_tokenizer import open_clip_vocab

                vocab = open_clip_vocab()
                if vocab is None:
                    text_ok = False
                else:
                    shutil.copyfile(vocab, tmp / VOCAB)
            if text_ok:
                sample = tokenizer(["a photo of a dog"])
                sample = sample[:, :int(sample.argmax(-1).max()) + 1] if trimmed else sample
                torch.onnx.export(_text_module(model, trimmed), (sample,), os.fspath(tmp / "text.onnx"),
                                  input_names=["tokens"], output_names=["features"], opset_version=OPSET,
                                  dynamic_axes={"tokens": {0: "batch", 1: "length"} if trimmed else {0: "batch"},
                                                "features": {0: "batch"}}, dynamo=False)
                files += ["text.onnx", VOCAB]
            pixels = torch.zeros(1, 3, image_size, image_size)
            torch.onnx.export(_image_module(model), (pixels,), os.fspath(tmp / "image.onnx"),
                              input_names=["pixels"], output_names=["features"], opset_version=OPSET,
                              dynamic_axes={"pixels": {0: "batch"}, "features": {0: "batch"}}, dynamo=False)
            files.append("image.onnx")
            # Check against torch: texts of several lengths, batch sizes 1 and 3 of images.
            text_ref = model.encode_text(tokenizer(list(CHECK_TEXTS))).float().numpy() if text_ok else None
            gen = torch.Generator().manual_seed(7)
            imgs = torch.randn(3, 3, image_size, image_size, generator=gen)
            img_ref = model.encode_image(imgs).float().numpy()
            dim = int(img_ref.shape[-1])
        manifest.update(dim=dim, text_trimmed=bool(trimmed and text_ok))
        manifest["files"] = {name: {**file_stamp(tmp / name), "full": full_hash(tmp / name)} for name in files}
        probe = OnnxClip(tmp, manifest, session(tmp / "text.onnx") if text_ok else None, session(tmp / "image.onnx"))
        worst = {"image": min(min_cosine(probe.encode_pixels(imgs.numpy()), img_ref),
                              min_cosine(probe.encode_pixels(imgs[:1].numpy()), img_ref[:1]))}
        if text_ok and text_ref is not None:
            got = probe.encode_texts(list(CHECK_TEXTS))
            worst["text"] = min_cosine(got, text_ref)
            manifest["check"] = {"texts": list(CHECK_TEXTS), "vectors": normalize(text_ref).round(7).tolist()}
            if worst["text"] >= MIN_COSINE:  # the torch-free tokenizer must agree too
                ids_ok = bool(np.array_equal(probe.tokenizer(list(CHECK_TEXTS)), tokenizer(list(CHECK_TEXTS)).numpy()))
                worst["text"] = worst["text"] if ids_ok else -1.0
        manifest["cosine"] = worst
        del probe
        return stage.keep(manifest, worst, model_id, "torch")


class Staged:
    """An export being built in `tmp`, a temporary folder beside its place `final`."""

    def __init__(self, final: Path) -> None:
        self.final = final
        final.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
        self.kept = False

    def keep(self, manifest: dict[str, Any], cosine: dict[str, float], what: str, reference: str) -> Path | None:
        """The export's last step: refused (None, logged) when its worst cosine to `reference`
        is under MIN_COSINE, else the manifest is written last and the folder swapped into place."""
        worst = min(cosine.values())
        if worst < MIN_COSINE:
            log.warning("ONNX export of %s differs from %s (cosine %s < %s): not used, %s keeps serving",
                        what, reference, {k: round(v, 6) for k, v in cosine.items()}, MIN_COSINE, reference)
            return None
        write_json(self.tmp / MANIFEST, manifest)
        swap_in(self.tmp, self.final)
        self.kept = True
        log.info("exported %s to ONNX at %s (cosine to %s %s)", what, self.final, reference, cosine)
        return self.final


@contextlib.contextmanager
def staged(final: Path) -> Iterator[Staged]:
    """A temporary folder for an export of `final`; whatever `Staged.keep` did not put in place
    (a refused check, an exception) is removed on the way out, so nothing half-made is left."""
    stage = Staged(final)
    try:
        yield stage
    finally:
        if not stage.kept and stage.tmp.exists():
            shutil.rmtree(stage.tmp, ignore_errors=True)


def swap_in(tmp: Path, final: Path) -> None:
    """Put the finished folder in place; an old or damaged one is moved aside first, then removed."""
    if final.exists():
        old = final.with_name(f".{final.name}-old-{os.getpid()}-{threading.get_ident()}")
        try:
            os.replace(final, old)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # another process is swapping: its export wins
            return
        shutil.rmtree(old, ignore_errors=True)
    try:
        os.replace(tmp, final)
    except OSError:  # another process put its (equal) export there first
        shutil.rmtree(tmp, ignore_errors=True)
