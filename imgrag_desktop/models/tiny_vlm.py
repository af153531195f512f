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


def tiny_vocab() -> tuple[list[str], list[int]]:
    """SentencePiece-style vocabulary: specials, the 256 byte tokens, printable ASCII pieces."""
    import gguf

    tokens = ["<unk>", "<s>", "</s>"]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [gguf.TokenType.BYTE] * 256
    tokens += ["\u2581"] + PIECES
    types += [gguf.TokenType.NORMAL] * (1 + len(PIECES))
    return tokens, [int(t) for t in types]


def suppressed_tokens() -> dict[int, float]:
    """Logit biases that keep the random model on printable pieces.

    Random weights happily emit byte tokens; lone high bytes are incomplete UTF-8, and
    llama-cpp-python then keeps generating past max_tokens waiting for the sequence to
    complete. Printable ASCII exists as ordinary pieces, so every byte token can be banned.
    """
    tokens, _ = tiny_vocab()
    return {i: -100.0 for i, t in enumerate(tokens) if t.startswith("<0x") or t == "<unk>"}


def _rand(rng: np.random.Generator, *shape: int, scale: float = 0.05) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _write_language_model(path: Path, seed: int) -> None:
    import gguf

    rng = np.random.default_rng(seed)
    tokens, types = tiny_vocab()
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name(TINY_NAME)
    w.add_uint32("llama.context_length", CONTEXT)
    w.add_uint32("llama.embedding_length", EMBED)
    w.add_uint32("llama.block_count", BLOCKS)
    w.add_uint32("llama.feed_forward_length", FFN)
    w.add_uint32("llama.attention.head_count", HEADS)
    w.add_uint32("llama.attention.head_count_kv", HEADS)
    w.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-5)
    w.add_uint32("llama.rope.dimension_count", EMBED // HEADS)
    w.add_string("tokenizer.ggml.model", "llama")
    w.add_array("tokenizer.ggml.tokens", tokens)
    w.add_array("tokenizer.ggml.scores", [0.0] * len(tokens))
    w.add_array("tokenizer.ggml.token_type", types)
    w.add_uint32("tokenizer.ggml.unknown_token_id", 0)
    w.add_uint32("tokenizer.ggml.bos_token_id", 1)
    w.add_uint32("tokenizer.ggml.eos_token_id", 2)
    w.add_string("tokenizer.chat_template", CHAT_TEMPLATE)
    w.add_uint32("imgrag.tiny_version", TINY_VERSION)
    w.add_tensor("token_embd.weight", _rand(rng, len(tokens), EMBED))
    for b in range(BLOCKS):
        p = f"blk.{b}."
        w.add_tensor(p + "attn_norm.weight", np.ones(EMBED, np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            w.add_tensor(p + name + ".weight", _rand(rng, EMBED, EMBED))
        w.add_tensor(p + "ffn_norm.weight", np.ones(EMBED, np.float32))
        w.add_tensor(p + "ffn_gate.weight", _rand(rng, FFN, EMBED))
        w.add_tensor(p + "ffn_up.weight", _rand(rng, FFN, EMBED))
        w.add_tensor(p + "ffn_down.weight", _rand(rng, EMBED, FFN))
    w.add_tensor("output_norm.weight", np.ones(EMBED, np.float32))
    w.add_tensor("output.weight", _rand(rng, len(tokens), EMBED, scale=0.5))
    _finish(w)


def _write_projector(path: Path, seed: int, drop: tuple[str, ...] = ()) -> None:
    import gguf

    rng = np.random.default_rng(seed + 1)
    n_patches = (V_IMAGE // V_PATCH) ** 2
    w = gguf.GGUFWriter(str(path), "clip")
    w.add_name(TINY_NAME + "-mmproj")
    w.add_bool("clip.has_vision_encoder", True)
    w.add_string("clip.projector_type", "mlp")
    w.add_uint32("clip.vision.image_size", V_IMAGE)
    w.add_uint32("clip.vision.patch_size", V_PATCH)
    w.add_uint32("clip.vision.embedding_length", V_WIDTH)
    w.add_uint32("clip.vision.feed_forward_length", V_FFN)
    w.add_uint32("clip.vision.projection_dim", EMBED)
    w.add_uint32("clip.vision.block_count", V_BLOCKS)
    w.add_uint32("clip.vision.attention.head_count", V_HEADS)
    w.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-6)
    w.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
    w.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])
    w.add_uint32("imgrag.tiny_version", TINY_VERSION)
    tensors: dict[str, np.ndarray] = {
        "v.patch_embd.weight": _rand(rng, V_WIDTH, 3, V_PATCH, V_PATCH),
        "v.position_embd.weight": _rand(rng, n_patches + 1, V_WIDTH),
    }
    for b in range(V_BLOCKS):
        p = f"v.blk.{b}."
        for name in ("attn_q", "attn_k", "attn_v", "attn_out"):
            tensors[p + name + ".weight"] = _rand(rng, V_WIDTH, V_WIDTH)
            tensors[p + name + ".bias"] = np.zeros(V_WIDTH, np.float32)
        tensors[p + "ln1.weight"] = np.ones(V_WIDTH, np.float32)
        tensors[p + "ln1.bias"] = np.zeros(V_WIDTH, np.float32)
        tensors[p + "ln2.weight"] = np.ones(V_WIDTH, np.float32)
        tensors[p + "ln2.bias"] = np.zeros(V_WIDTH, np.float32)
        tensors[p + "ffn_up.weight"] = _rand(rng, V_FFN, V_WIDTH)
        tensors[p + "ffn_up.bias"] = np.zeros(V_FFN, np.float32)
        tensors[p + "ffn_down.weight"] = _rand(rng, V_WIDTH, V_FFN)
        tensors[p + "ffn_down.bias"] = np.zeros(V_WIDTH, np.float32)
    tensors["mm.0.weight"] = _rand(rng, V_HIDDEN, V_WIDTH)
    tensors["mm.0.bias"] = np.zeros(V_HIDDEN, np.float32)
    tensors["mm.2.weight"] = _rand(rng, EMBED, V_HIDDEN)
    tensors["mm.2.bias"] = np.zeros(EMBED, np.float32)
    for name, arr in tensors.items():
        if name not in drop:
            w.add_tensor(name, arr)
    _finish(w)


def _finish(w: "object") -> None:
    w.write_header_to_file()  # type: ignore[attr-defined]
    w.write_kv_data_to_file()  # type: ignore[attr-defined]
    w.write_tensors_to_file()  # type: ignore[attr-defined]
    w.close()  # type: ignore[attr-defined]


def _current(path: Path) -> bool:
    """True when `path` is a tiny model file of this version (else it is rewritten)."""
    if not path.is_file():
        return False
    try:
        from gguf import GGUFReader

        field = GGUFReader(str(path)).get_field("imgrag.tiny_version")
        return field is not None and int(field.contents()) == TINY_VERSION
    except Exception:
        return False


def write_tiny_vlm(dest_dir: str | os.PathLike[str], seed: int = TINY_SEED, *,
                   drop_projector_tensors: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """Write (or reuse) the tiny pair in `dest_dir`; returns (language model, projector).

    Each file is written to a temporary name and renamed, so concurrent writers (two CLI
    processes in the test profile) both end with whole files. `drop_projector_tensors` makes a
    deliberately broken projector, for tests of the model checks.
    """
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    suffix = "" if not drop_projector_tensors else "-broken"
    model = dest / f"{TINY_NAME}{suffix}.gguf"
    mmproj = dest / f"mmproj-{TINY_NAME}{suffix}.gguf"
    for path, write in ((model, lambda p: _write_language_model(p, seed)),
                        (mmproj, lambda p: _write_projector(p, seed, drop_projector_tensors))):
        if drop_projector_tensors or not _current(path):
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            try:
                write(tmp)
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
    return model, mmproj
