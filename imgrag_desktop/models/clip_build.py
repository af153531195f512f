"""Build an open_clip model from its weights file without a full fp32 copy first (issue 19).

open_clip's own path (`create_model_and_transforms(..., pretrained=FILE, precision="bf16")`)
builds the whole model in fp32 with random weights, casts it, then reads the whole file into a
second fp32 copy before copying it in: ViT-B-32 peaks ~900 MB above the imports for a model
that needs ~300 MB in bf16. Here the model is built on torch's "meta" device (shapes and dtypes,
no memory), the file is memory-mapped, and each tensor is cast to the dtype open_clip's mixed
precision gives that parameter and put in place (`load_state_dict(..., assign=True)`); a tensor's
pages of the mapped file are dropped as soon as it is cast. The values are the ones open_clip's
path gives (the same fp32 weights, rounded once to the same dtype), so vectors are identical
(tests/unit/models/test_clip_build.py).

Only native open_clip towers on the CPU are built this way; anything else (timm or Hugging
Face towers, a GPU, a file torch cannot map, a state dict that does not fit) returns None and
the caller takes open_clip's own path, which also explains a file that does not fit.
"""

from __future__ import annotations

import logging
import mmap
import os
import sys
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger(__name__)
_MADV_DONTNEED = 4  # Linux


def build_from_file(model_name: str, source: str, device: str, precision: str,
                    pre_kwargs: dict[str, Any], text: bool = True) -> tuple[Any, Callable[..., Any]] | None:
    """(model, preprocess) built from `source` as open_clip would, or None (take open_clip's path).

    `text=False` (an indexing run: image batches): the text tower stays on the meta device,
    unread (~125 MB of ViT-B-32 in bf16), until `load_text` reads it from the same file."""
    if device != "cpu" or not source or Path(source).suffix in (".npz", ".npy"):
        return None
    import open_clip

    cfg = open_clip.get_model_config(model_name) or {}
    if not cfg or "timm_model_name" in (cfg.get("vision_cfg") or {}) \
            or "hf_model_name" in (cfg.get("text_cfg") or {}) or "multimodal_cfg" in cfg:
        return None
    try:
        return _build(model_name, source, precision, pre_kwargs, text)
    except Exception as exc:  # open_clip's own path then loads it, or explains why it cannot
        log.debug("low-memory build of %s from %s not possible: %s", model_name, source, exc)
        return None


def _is_image_key(key: str) -> bool:
    return key.startswith("visual.") or key in ("logit_scale", "logit_bias")


def text_pending(model: Any) -> bool:
    """Whether `model` was built without its text tower (build_from_file(text=False))."""
    return bool(getattr(model, "_imgrag_text_from", ""))


def load_text(model: Any) -> None:
    """Read the text tower of a model built with text=False from its file, cast as open_clip
    casts it; raises when that is not possible (the caller then builds the model again)."""
    source = getattr(model, "_imgrag_text_from", "")
    if not source:
        return
    if not _load_weights(model, source, lambda k: not _is_image_key(k)):
        raise RuntimeError(f"the text tower of {source} could not be read")
    model._imgrag_text_from = ""


def _build(model_name: str, source: str, precision: str, pre_kwargs: dict[str, Any], text: bool = True
           ) -> tuple[Any, Callable[..., Any]] | None:
    import open_clip
    import torch

    root = logging.getLogger()
    was, root.disabled = root.disabled, True  # "initialized randomly": the weights come next
    try:
        with torch.device("meta"):
            model, _, preprocess = open_clip.create_model_and_transforms(
                model_name, pretrained=None, device="meta", precision=precision, **pre_kwargs)
    finally:
        root.disabled = was
    if not _load_weights(model, source, (lambda k: True) if text else _is_image_key):
        return None
    # Buffers that are not saved (the text tower's causal mask) are still "meta": made here as
    # open_clip makes them (TextTransformer.build_causal_mask).
    for mod in model.modules():
        for name, buf in list(mod._buffers.items()):
            if buf is None or not buf.is_meta:
                continue
            if name != "attn_mask" or buf.ndim != 2 or buf.shape[0] != buf.shape[1]:
                return None
            mask = torch.empty(buf.shape[0], buf.shape[1], dtype=buf.dtype)
            mask.fill_(float("-inf"))
            mask.triu_(1)
            mod._buffers[name] = mask
    left = [k for k, t in model.state_dict().items() if t.is_meta]
    if any(t.is_meta for t in model.buffers()) or (left if text else [k for k in left if _is_image_key(k)]):
        return None
    model._imgrag_text_from = "" if text or not left else source
    return model, preprocess


def _load_weights(model: Any, source: str, wanted: Callable[[str], bool]) -> bool:
    """Put the file's tensors whose keys `wanted` accepts into `model` (meta → real), each cast
    to the dtype the model's parameter has; False when the file does not fit the model."""
    from open_clip.factory import convert_state_dict
    from open_clip.model import convert_to_custom_text_state_dict, resize_pos_embed, resize_text_pos_embed

    sd, mapped = _read_state_dict(source)
    if sd is None:
        return False
    # open_clip's load_checkpoint, step by step (its own reads the whole file first)
    sd = convert_state_dict(model, sd)
    if "positional_embedding" in sd and not hasattr(model, "positional_embedding"):
        sd = convert_to_custom_text_state_dict(sd)
    for key in ("logit_scale", "logit_bias"):
        have = getattr(model, key, None)
        if key in sd and have is not None and have.ndim != sd[key].ndim:
            sd[key] = sd[key].reshape(have.shape)
    if "logit_bias" not in sd and getattr(model, "logit_bias", None) is not None:
        return False
    sd.pop("text.transformer.embeddings.position_ids", None)
    resize_pos_embed(sd, model)
    resize_text_pos_embed(sd, model)
    want = model.state_dict()
    if set(want) != set(sd):
        return False
    out = {}
    for key, target in want.items():
        t = sd.pop(key)
        if tuple(t.shape) != tuple(target.shape):
            return False
        if wanted(key):
            out[key] = t.to(dtype=target.dtype, copy=True)  # a copy of its own: the file's pages may go
            if mapped:
                _drop_pages(t)
        del t
    del sd
    res = model.load_state_dict(out, strict=False, assign=True)
    return not res.unexpected_keys and set(res.missing_keys) == {k for k in want if not wanted(k)}


def _read_state_dict(source: str) -> tuple[dict[str, Any] | None, bool]:
    """The checkpoint's state dict (keys as open_clip's load_state_dict leaves them) and whether
    its tensors are pages of the memory-mapped file."""
    import torch

    if source.endswith(".safetensors"):
        from safetensors.torch import load_file

        ckpt: Any = load_file(source, device="cpu")
        mapped = False
    else:
        ckpt = torch.load(os.fspath(source), map_location="cpu", weights_only=True, mmap=True)
        mapped = True
    if isinstance(ckpt, dict) and isinstance(ckpt.get("state_dict"), dict):
        ckpt = ckpt["state_dict"]
    if not isinstance(ckpt, dict) or not ckpt or not all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        return None, False
    if next(iter(ckpt)).startswith("module"):
        ckpt = {k[7:]: v for k, v in ckpt.items()}
    return dict(ckpt), mapped


def _drop_pages(t: Any) -> None:
    """Let the kernel drop the whole pages of the mapped file that hold `t` (read once, cast,
    never read again): without this every page read stays resident until the file is closed,
    the file's full size on top of the cast copy. The pages shared with a neighbour stay."""
    if not sys.platform.startswith("linux") or not t.is_contiguous():
        return
    try:
        import ctypes

        page = mmap.PAGESIZE
        start = t.data_ptr()
        end = start + t.numel() * t.element_size()
        a, b = -(-start // page) * page, end // page * page
        if b > a:
            ctypes.CDLL(None).madvise(ctypes.c_void_p(a), ctypes.c_size_t(b - a), _MADV_DONTNEED)
    except (OSError, AttributeError):
        pass
