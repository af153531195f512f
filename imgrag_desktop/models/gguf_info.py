"""Read a GGUF file's metadata and tensor directory without loading it.

llama.cpp crashes the whole process (not an exception) on some malformed files, for instance a
vision projector with a missing tensor, and a half-downloaded file only fails deep inside the
loader. Reading the header first turns the common mistakes (not a GGUF file, a truncated
download, the projector picked as the model or the other way round) into clear messages.
`gguf.GGUFReader` would do, but it parses every vocabulary entry into NumPy views and takes
seconds on a 262k-token vocabulary; this reader skips what it does not need.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from imgrag_desktop.types import ModelUnavailable

MAGIC = b"GGUF"
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
# Arrays longer than this are skipped, not kept (vocabularies, merges, scores).
_KEEP_ARRAY = 64


@dataclass
class GgufInfo:
    path: str
    version: int
    metadata: dict[str, Any] = field(default_factory=dict)
    tensors: dict[str, tuple[tuple[int, ...], int, int]] = field(default_factory=dict)  # name -> (dims, type, offset)
    data_start: int = 0
    file_size: int = 0

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    @property
    def name(self) -> str:
        return str(self.metadata.get("general.name", "") or Path(self.path).stem)

    @property
    def is_projector(self) -> bool:
        return self.architecture == "clip"

    @property
    def has_chat_template(self) -> bool:
        return bool(self.metadata.get("tokenizer.chat_template"))

    @property
    def context_length(self) -> int:
        return int(self.metadata.get(f"{self.architecture}.context_length", 0) or 0)

    @property
    def embedding_length(self) -> int:
        return int(self.metadata.get(f"{self.architecture}.embedding_length", 0) or 0)

    def projector_type(self) -> str:
        return str(self.metadata.get("clip.vision.projector_type") or self.metadata.get("clip.projector_type") or "")

    def image_tokens(self) -> int:
        """A rough count of the tokens one image costs in the prompt (used to budget n_ctx)."""
        size = int(self.metadata.get("clip.vision.image_size", 0) or 0)
        patch = int(self.metadata.get("clip.vision.patch_size", 0) or 0)
        if not size or not patch:
            return 576
        n = (size // patch) ** 2
        ptype = self.projector_type()
        merge = int(self.metadata.get("clip.vision.projector.scale_factor", 0) or 0)
        if merge > 1:  # idefics3 / SmolVLM pixel shuffle
            n //= merge * merge
        elif ptype in ("qwen2vl_merger", "qwen2.5vl_merger", "qwen25vl", "qwen3vl_merger"):
            n //= 4
        elif ptype == "gemma3":
            n = 256
        if self.metadata.get("clip.vision.image_grid_pinpoints"):
            n *= 5  # LLaVA 1.6: an overview plus up to four tiles
        return max(1, n)


class _Reader:
    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh

    def read(self, n: int) -> bytes:
        data = self.fh.read(n)
        if len(data) != n:
            raise EOFError
        return data

    def scalar(self, kind: int) -> Any:
        fmt = _SCALARS[kind]
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        (n,) = struct.unpack("<Q", self.read(8))
        if n > 1 << 26:
            raise ValueError("implausible string length")
        return self.read(n).decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        (n,) = struct.unpack("<Q", self.read(8))
        self.fh.seek(n, os.SEEK_CUR)

    def value(self, kind: int) -> Any:
        if kind in _SCALARS:
            return self.scalar(kind)
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            (elem, count) = struct.unpack("<IQ", self.read(12))
            if count > 1 << 32:
                raise ValueError("implausible array length")
            if count <= _KEEP_ARRAY:
                return [self.value(elem) for _ in range(count)]
            if elem in _SCALARS:
                self.fh.seek(struct.calcsize(_SCALARS[elem]) * count, os.SEEK_CUR)
            elif elem == _STRING:
                for _ in range(count):
                    self.skip_string()
            else:
                for _ in range(count):
                    self.value(elem)
            return f"<array of {count}>"
        raise ValueError(f"unknown value type {kind}")


def _tensor_nbytes(dims: tuple[int, ...], ggml_type: int) -> int | None:
    try:
        from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

        block, size = GGML_QUANT_SIZES[GGMLQuantizationType(ggml_type)]
    except Exception:
        return None
    n = 1
    for d in dims:
        n *= int(d)
    return n // block * size


def read_gguf(path: str | os.PathLike[str]) -> GgufInfo:
    """Parse the header; raises ModelUnavailable with a readable reason for a bad file."""
    p = Path(path)
    shown = p.name
    if not p.exists():
        raise ModelUnavailable(f"model file {p} does not exist")
    if not p.is_file():
        raise ModelUnavailable(f"model path {p} is not a file")
    size = p.stat().st_size
    try:
        with p.open("rb") as raw:
            fh = _Reader(raw)
            if fh.read(4) != MAGIC:
                raise ModelUnavailable(f"{shown} is not a GGUF model file (llama.cpp needs .gguf files)")
            (version,) = struct.unpack("<I", fh.read(4))
            if version < 2:
                raise ModelUnavailable(f"{shown} is an old GGUF v{version} file; get a newer conversion of the model")
            n_tensors, n_kv = struct.unpack("<QQ", fh.read(16))
            if n_tensors > 1 << 20 or n_kv > 1 << 20:
                raise ValueError("implausible header counts")
            info = GgufInfo(path=str(p), version=version, file_size=size)
            for _ in range(n_kv):
                key = fh.string()
                (kind,) = struct.unpack("<I", fh.read(4))
                info.metadata[key] = fh.value(kind)
            for _ in range(n_tensors):
                name = fh.string()
                (n_dims,) = struct.unpack("<I", fh.read(4))
                if n_dims > 8:
                    raise ValueError("implausible tensor rank")
                dims = struct.unpack(f"<{n_dims}Q", fh.read(8 * n_dims))
                ggml_type, offset = struct.unpack("<IQ", fh.read(12))
                info.tensors[name] = (tuple(int(d) for d in dims), int(ggml_type), int(offset))
            align = int(info.metadata.get("general.alignment", 32) or 32)
            pos = raw.tell()
            info.data_start = (pos + align - 1) // align * align
    except ModelUnavailable:
        raise
    except (EOFError, ValueError, struct.error, UnicodeDecodeError) as exc:
        raise ModelUnavailable(f"{shown} is damaged or incomplete (unreadable GGUF header: {exc or 'truncated'}); "
                               "download it again") from exc
    except OSError as exc:
        raise ModelUnavailable(f"cannot read {p}: {exc.strerror or exc}") from exc
    # A download cut short keeps its header but loses tensor data at the end.
    end = info.data_start
    for dims, ggml_type, offset in info.tensors.values():
        nbytes = _tensor_nbytes(dims, ggml_type)
        if nbytes is not None:
            end = max(end, info.data_start + offset + nbytes)
    if end > size:
        raise ModelUnavailable(
            f"{shown} is incomplete ({size / 1e6:.1f} MB of {end / 1e6:.1f} MB): the download was interrupted; "
            "download it again"
        )
    return info


# Tensors without which the projector loader dereferences null pointers (a crash, not an error).
_PROJECTOR_REQUIRED = {
    "mlp": ("mm.0.weight", "mm.2.weight"),
    "": ("mm.0.weight", "mm.2.weight"),
}


def check_pair(model: GgufInfo, projector: GgufInfo | None) -> None:
    """Refuse swapped files and obviously mismatched pairs before llama.cpp sees them."""
    if model.is_projector:
        raise ModelUnavailable(
            f"{Path(model.path).name} is a vision projector (mmproj), not a language model: "
            "set it as vlm_mmproj and pick the language model GGUF as vlm_model"
        )
    if not model.architecture:
        raise ModelUnavailable(f"{Path(model.path).name} has no general.architecture: not a llama.cpp language model")
    if projector is None:
        return
    if not projector.is_projector:
        raise ModelUnavailable(
            f"{Path(projector.path).name} is not a vision projector (its architecture is "
            f"{projector.architecture or 'unknown'}); vlm_mmproj must be the mmproj-*.gguf file of the model"
        )
    if projector.metadata.get("clip.has_vision_encoder") is False:
        raise ModelUnavailable(f"{Path(projector.path).name} has no vision encoder (audio-only projector?)")
    missing = [t for t in ("v.patch_embd.weight",) if t not in projector.tensors]
    missing += [t for t in _PROJECTOR_REQUIRED.get(projector.projector_type(), ()) if t not in projector.tensors]
    if missing:
        raise ModelUnavailable(
            f"{Path(projector.path).name} lacks tensor(s) {', '.join(missing)}: damaged or not a supported projector"
        )
    # The LLaVA MLP's last layer is [n_embd, hidden] (ggml order: hidden, n_embd).
    last = projector.tensors.get("mm.2.weight")
    out_dim = last[0][1] if last and len(last[0]) == 2 else 0
    if projector.projector_type() in ("mlp", "") and out_dim and model.embedding_length and out_dim != model.embedding_length:
        raise ModelUnavailable(
            f"the projector {Path(projector.path).name} makes {out_dim}-wide embeddings but the model "
            f"{Path(model.path).name} expects {model.embedding_length}: they are not a pair"
        )
