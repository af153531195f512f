"""open_clip's CLIP tokenizer without torch: the same ids from the HF `tokenizers` library.

open_clip's `tokenizer` module imports torch at its top (2 s and ~0.5 GB before the first
query), so a search that runs the text tower on onnxruntime builds the same tokenizer here:
open_clip's own cleaning (ftfy, HTML entities twice, whitespace, lower case; the same few
lines, on the same libraries), then its word pattern, byte-to-unicode map and BPE merges from
its `bpe_simple_vocab_16e6.txt.gz` through `tokenizers` (Rust; the BPE loop is its job, and it
is maintained). Ids are start-of-text + the word pieces + end-of-text, cut at the context
length with end-of-text last, padded with 0: open_clip's `SimpleTokenizer.__call__`.

Only open_clip's default tokenizer (`SimpleTokenizer`, clean "lower", no reduction) is built
here; models with a Hugging Face tokenizer in their config keep open_clip's (and torch).
tests/unit/models/test_clip_tokenizer.py compares the ids with open_clip's on a varied corpus.
"""

from __future__ import annotations

import gzip
import html
import importlib.util
import os
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

VOCAB_FILE = "bpe_simple_vocab_16e6.txt.gz"
SPECIAL = ("<start_of_text>", "<end_of_text>")
PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""


def open_clip_vocab() -> Path | None:
    """open_clip's BPE file, found without importing open_clip (which imports torch)."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / VOCAB_FILE
    return path if path.is_file() else None


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte → printable character map (open_clip's, the same table)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def clean(text: str) -> str:
    """open_clip's "lower" cleaning: ftfy, HTML entities (twice), whitespace, lower case."""
    import ftfy

    text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text)).strip()
    return " ".join(text.split()).strip().lower()


class ClipTokenizer:
    """Callable like open_clip's tokenizer, returning an int64 NumPy array (n, context_length)."""

    def __init__(self, vocab_path: str | os.PathLike[str], context_length: int = 77) -> None:
        from tokenizers import AddedToken, Regex, Tokenizer, models, pre_tokenizers

        raw = gzip.open(os.fspath(vocab_path)).read().decode("utf-8").split("\n")
        merges = [tuple(m.split()) for m in raw[1:49152 - 256 - 2 + 1]]
        chars = list(bytes_to_unicode().values())
        vocab_list = chars + [c + "</w>" for c in chars] + ["".join(m) for m in merges] + list(SPECIAL)
        vocab = {tok: i for i, tok in enumerate(vocab_list)}
        bpe = models.BPE(vocab=vocab, merges=[(a, b) for a, b in merges], end_of_word_suffix="</w>",
                         continuing_subword_prefix="", fuse_unk=False)
        tok = Tokenizer(bpe)
        # open_clip's re.findall keeps the matches only (spaces fall between them); ByteLevel
        # then maps each piece's UTF-8 bytes to the vocabulary's characters.
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(PATTERN), behavior="removed", invert=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
        # Its pattern matches the two special tokens first (case-insensitively, after lower case).
        tok.add_special_tokens([AddedToken(s, normalized=False) for s in SPECIAL])
        self._tok = tok
        self.context_length = int(context_length)
        self.sot, self.eot = vocab[SPECIAL[0]], vocab[SPECIAL[1]]

    def encode(self, text: str) -> list[int]:
        """The word-piece ids of one text (no start/end tokens)."""
        return list(self._tok.encode(clean(text), add_special_tokens=False).ids)

    def __call__(self, texts: str | Sequence[str], context_length: int | None = None) -> np.ndarray:
        if isinstance(texts, str):
            texts = [texts]
        n = int(context_length or self.context_length)
        cleaned = [clean(t) for t in texts]
        out = np.zeros((len(cleaned), n), np.int64)
        for i, enc in enumerate(self._tok.encode_batch(cleaned, add_special_tokens=False)):
            ids = [self.sot, *enc.ids, self.eot]
            if len(ids) > n:
                ids = ids[:n]
                ids[-1] = self.eot
            out[i, :len(ids)] = ids
        return out


@lru_cache(maxsize=4)
def clip_tokenizer(vocab_path: str, context_length: int = 77) -> ClipTokenizer:
    """One tokenizer per vocabulary file (building it takes ~0.2 s)."""
    return ClipTokenizer(vocab_path, context_length)
