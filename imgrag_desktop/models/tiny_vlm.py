"""A tiny random LLaVA-style model pair (language GGUF + vision projector), written on demand.

No vision-language weights can be downloaded on the machines this project is tested on, yet
the vision path (image -> projector -> language model -> text) must run for real. This writes a
real llama-architecture language model and a real CLIP/LLaVA-MLP projector with random weights
(fixed seed) in the GGUF format, so llama-cpp-python loads and runs them through exactly the
same handlers as downloaded models. The text they produce is gibberish; the plumbing is real.

The test profile uses this pair for `ask` and for captions (see `registry.resolve_vlm`).
"""

from __future__ import annotations

import os
import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TINY_NAME = "imgrag-tiny-vlm"
TINY_SEED = 4321
# Bump when the layout changes, so stale files from an older version are rewritten.
TINY_VERSION = 1

# Language model dimensions: small enough to write in milliseconds, big enough to be a real
# multi-head, multi-layer transformer.
EMBED = 64
HEADS = 4
FFN = 128
BLOCKS = 2
CONTEXT = 4096
# Vision tower: 32x32 input, 8x8 patches -> 16 image tokens per picture.
V_IMAGE = 32
V_PATCH = 8
V_WIDTH = 32
V_HEADS = 2
V_FFN = 64
V_BLOCKS = 1
V_HIDDEN = 64



@dataclass(frozen=True)
class PairDims:
    """Sizes of a random pair. The defaults are the tiny test pair; `SMOLVLM_256M_DIMS` has the
    shapes of SmolVLM-256M (SigLIP-B/16 at 512 px, pixel-shuffle projector, SmolLM2-135M), whose
    random weights cost the same compute as the trained ones: what benchmarks use."""

    embed: int = EMBED
    heads: int = HEADS
    kv_heads: int = HEADS
    ffn: int = FFN
    blocks: int = BLOCKS
    context: int = CONTEXT
    extra_vocab: int = 0  # dummy pieces on top of the tiny vocabulary (a real vocabulary's output cost)
    projector: str = "mlp"  # "mlp" (LLaVA 1.5) or "idefics3" (SmolVLM pixel shuffle)
    v_image: int = V_IMAGE
    v_patch: int = V_PATCH
    v_width: int = V_WIDTH
    v_heads: int = V_HEADS
    v_ffn: int = V_FFN
    v_blocks: int = V_BLOCKS
    v_hidden: int = V_HIDDEN
    scale_factor: int = 4


TINY_DIMS = PairDims()
SMOLVLM_256M_DIMS = PairDims(embed=576, heads=9, kv_heads=3, ffn=1536, blocks=30, context=8192, extra_vocab=48800,
                             projector="idefics3", v_image=512, v_patch=16, v_width=768, v_heads=12, v_ffn=3072,
                             v_blocks=12, scale_factor=4)
# A LLaVA-1.5-style pair of the same size class: CLIP ViT-B/16 at 224 px (196 image tokens) and a
# SmolLM2-135M-shaped language model. (The idefics3 layout above loads, but llama-cpp-python
# 0.3.36 fails to decode its sliced images with random weights, so benchmarks use this one.)
SMALL_LLAVA_DIMS = PairDims(embed=576, heads=9, kv_heads=3, ffn=1536, blocks=30, context=8192, extra_vocab=48800,
                            projector="mlp", v_image=224, v_patch=16, v_width=768, v_heads=12, v_ffn=3072,
                            v_blocks=12, v_hidden=576)

# A generic chat template (llama-cpp-python's MTMD handler requires one in the model file).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

PIECES = [c for c in string.ascii_letters + string.digits + string.punctuation]


def tiny_vocab(extra: int = 0, idefics3: bool = False) -> tuple[list[str], list[int]]:
    """SentencePiece-style vocabulary: specials, the 256 byte tokens, printable ASCII pieces
    (and `extra` dummy pieces that only make the output layer realistically wide)."""
    import gguf

    tokens = ["<unk>", "<s>", "</s>"]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [gguf.TokenType.BYTE] * 256
    tokens += ["\u2581"] + PIECES
    types += [gguf.TokenType.NORMAL] * (1 + len(PIECES))
    tokens += [f"\u2581w{i:05d}" for i in range(extra)]
    types += [gguf.TokenType.NORMAL] * extra
    if idefics3:  # the image markers libmtmd writes around SmolVLM pictures
        marks = ["<fake_token_around_image>", "<global-img>", "<image>"]
        marks += [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]
        tokens += marks
        types += [gguf.TokenType.USER_DEFINED] * len(marks)
    return tokens, [int(t) for t in types]


def suppressed_tokens(extra: int = 0) -> dict[int, float]:
    """Logit biases that keep the random model on printable pieces.

    Random weights happily emit byte tokens; lone high bytes are incomplete UTF-8, and
    llama-cpp-python then keeps generating past max_tokens waiting for the sequence to
    complete. Printable ASCII exists as ordinary pieces, so every byte token can be banned.
    """
    tokens, _ = tiny_vocab(extra)
    return {i: -100.0 for i, t in enumerate(tokens) if t.startswith("<0x") or t == "<unk>"}


def _rand(rng: np.random.Generator, *shape: int, scale: float = 0.05) -> np.ndarray:
    """Random weights; big matrices in float16, as real GGUF conversions store them at least."""
    arr = (rng.standard_normal(shape, dtype=np.float32) * scale)
    return arr.astype(np.float16) if len(shape) >= 2 and arr.size >= 1 << 20 else arr


def _write_language_model(path: Path, seed: int, dims: PairDims = TINY_DIMS) -> None:
    import gguf

    rng = np.random.default_rng(seed)
    tokens, types = tiny_vocab(dims.extra_vocab, dims.projector == "idefics3")
    d, kv = dims.embed, dims.embed // dims.heads * dims.kv_heads
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name(TINY_NAME)
    w.add_uint32("llama.context_length", dims.context)
    w.add_uint32("llama.embedding_length", d)
    w.add_uint32("llama.block_count", dims.blocks)
    w.add_uint32("llama.feed_forward_length", dims.ffn)
    w.add_uint32("llama.attention.head_count", dims.heads)
    w.add_uint32("llama.attention.head_count_kv", dims.kv_heads)
    w.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-5)
    w.add_uint32("llama.rope.dimension_count", d // dims.heads)
    w.add_string("tokenizer.ggml.model", "llama")
    w.add_array("tokenizer.ggml.tokens", tokens)
    w.add_array("tokenizer.ggml.scores", [0.0] * len(tokens))
    w.add_array("tokenizer.ggml.token_type", types)
    w.add_uint32("tokenizer.ggml.unknown_token_id", 0)
    w.add_uint32("tokenizer.ggml.bos_token_id", 1)
    w.add_uint32("tokenizer.ggml.eos_token_id", 2)
    w.add_string("tokenizer.chat_template", CHAT_TEMPLATE)
    w.add_string("imgrag.tiny_signature", _signature(dims, seed))
    w.add_tensor("token_embd.weight", _rand(rng, len(tokens), d))
    for b in range(dims.blocks):
        p = f"blk.{b}."
        w.add_tensor(p + "attn_norm.weight", np.ones(d, np.float32))
        w.add_tensor(p + "attn_q.weight", _rand(rng, d, d))
        w.add_tensor(p + "attn_k.weight", _rand(rng, kv, d))
        w.add_tensor(p + "attn_v.weight", _rand(rng, kv, d))
        w.add_tensor(p + "attn_output.weight", _rand(rng, d, d))
        w.add_tensor(p + "ffn_norm.weight", np.ones(d, np.float32))
        w.add_tensor(p + "ffn_gate.weight", _rand(rng, dims.ffn, d))
        w.add_tensor(p + "ffn_up.weight", _rand(rng, dims.ffn, d))
        w.add_tensor(p + "ffn_down.weight", _rand(rng, d, dims.ffn))
    w.add_tensor("output_norm.weight", np.ones(d, np.float32))
    w.add_tensor("output.weight", _rand(rng, len(tokens), d, scale=0.5))
    _finish(w)


def _write_projector(path: Path, seed: int, drop: tuple[str, ...] = (), dims: PairDims = TINY_DIMS) -> None:
    import gguf

    rng = np.random.default_rng(seed + 1)
    vw, n_patches = dims.v_width, (dims.v_image // dims.v_patch) ** 2
    llava = dims.projector == "mlp"
    w = gguf.GGUFWriter(str(path), "clip")
    w.add_name(TINY_NAME + "-mmproj")
    w.add_bool("clip.has_vision_encoder", True)
    w.add_string("clip.projector_type", dims.projector)
    w.add_uint32("clip.vision.image_size", dims.v_image)
    w.add_uint32("clip.vision.patch_size", dims.v_patch)
    w.add_uint32("clip.vision.embedding_length", vw)
    w.add_uint32("clip.vision.feed_forward_length", dims.v_ffn)
    w.add_uint32("clip.vision.projection_dim", dims.embed)
    w.add_uint32("clip.vision.block_count", dims.v_blocks)
    w.add_uint32("clip.vision.attention.head_count", dims.v_heads)
    w.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-6)
    w.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
    w.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])
    if not llava:
        w.add_bool("clip.use_gelu", True)
        w.add_uint32("clip.vision.projector.scale_factor", dims.scale_factor)
    w.add_string("imgrag.tiny_signature", _signature(dims, seed))
    tensors: dict[str, np.ndarray] = {
        "v.patch_embd.weight": _rand(rng, vw, 3, dims.v_patch, dims.v_patch),
        "v.position_embd.weight": _rand(rng, n_patches + (1 if llava else 0), vw),
    }
    if not llava:
        tensors["v.patch_embd.bias"] = np.zeros(vw, np.float32)
    for b in range(dims.v_blocks):
        p = f"v.blk.{b}."
        for name in ("attn_q", "attn_k", "attn_v", "attn_out"):
            tensors[p + name + ".weight"] = _rand(rng, vw, vw)
            tensors[p + name + ".bias"] = np.zeros(vw, np.float32)
        for name in ("ln1", "ln2"):
            tensors[p + name + ".weight"] = np.ones(vw, np.float32)
            tensors[p + name + ".bias"] = np.zeros(vw, np.float32)
        tensors[p + "ffn_up.weight"] = _rand(rng, dims.v_ffn, vw)
        tensors[p + "ffn_up.bias"] = np.zeros(dims.v_ffn, np.float32)
        tensors[p + "ffn_down.weight"] = _rand(rng, vw, dims.v_ffn)
        tensors[p + "ffn_down.bias"] = np.zeros(vw, np.float32)
    if llava:
        tensors["mm.0.weight"] = _rand(rng, dims.v_hidden, vw)
        tensors["mm.0.bias"] = np.zeros(dims.v_hidden, np.float32)
        tensors["mm.2.weight"] = _rand(rng, dims.embed, dims.v_hidden)
        tensors["mm.2.bias"] = np.zeros(dims.embed, np.float32)
    else:
        tensors["v.post_ln.weight"] = np.ones(vw, np.float32)
        tensors["v.post_ln.bias"] = np.zeros(vw, np.float32)
        tensors["mm.model.fc.weight"] = _rand(rng, dims.embed, vw * dims.scale_factor ** 2)
    for name, arr in tensors.items():
        if name not in drop:
            w.add_tensor(name, arr)
    _finish(w)


def _finish(w: "object") -> None:
    w.write_header_to_file()  # type: ignore[attr-defined]
    w.write_kv_data_to_file()  # type: ignore[attr-defined]
    w.write_tensors_to_file()  # type: ignore[attr-defined]
    w.close()  # type: ignore[attr-defined]


def _signature(dims: PairDims, seed: int) -> str:
    return f"v{TINY_VERSION} seed={seed} {dims!r}"


def _current(path: Path, signature: str) -> bool:
    """True when `path` was written by this code with these sizes and seed (else it is rewritten)."""
    if not path.is_file():
        return False
    try:
        from imgrag_desktop.models.gguf_info import read_gguf

        return read_gguf(path).metadata.get("imgrag.tiny_signature") == signature
    except Exception:
        return False


def write_tiny_vlm(dest_dir: str | os.PathLike[str], seed: int = TINY_SEED, *,
                   drop_projector_tensors: tuple[str, ...] = (), dims: PairDims = TINY_DIMS,
                   name: str = TINY_NAME) -> tuple[Path, Path]:
    """Write (or reuse) a random pair in `dest_dir`; returns (language model, projector).

    Each file is written to a temporary name and renamed, so concurrent writers (two CLI
    processes in the test profile) both end with whole files. `drop_projector_tensors` makes a
    deliberately broken projector, for tests of the model checks.
    """
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    suffix = "" if not drop_projector_tensors else "-broken"
    model = dest / f"{name}{suffix}.gguf"
    mmproj = dest / f"mmproj-{name}{suffix}.gguf"
    for path, write in ((model, lambda p: _write_language_model(p, seed, dims)),
                        (mmproj, lambda p: _write_projector(p, seed, drop_projector_tensors, dims))):
        if drop_projector_tensors or not _current(path, _signature(dims, seed)):
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            try:
                write(tmp)
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
    return model, mmproj
