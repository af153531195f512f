"""The text model (MiniLM) exported to ONNX once, then run by onnxruntime: no torch, no
sentence-transformers in a process that only searches.

The same rules as models/onnx_clip.py: built in a temporary folder and renamed into
`<data dir>/models/onnx/text-<model>/`, checked against sentence-transformers (cosine >=
0.9999 on texts of several lengths) before it is kept, files checked by size and a hash of
their ends on every open, and the check vectors reproduced before a session serves.

Only the plain sentence-transformers shape is exported: a BERT-like Transformer, mean pooling,
Normalize (all-MiniLM-L6-v2's modules.json); other pooling keeps sentence-transformers. The
tokenizer is the model folder's own `tokenizer.json` through the `tokenizers` library, cut at
the model's max_seq_length as sentence-transformers does; pooling and normalising are NumPy.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from imgrag_desktop.models.onnx_clip import (
    EXPORT_LOCK,
    MIN_COSINE,
    OPSET,
    file_stamp,
    files_intact,
    full_hash,
    min_cosine,
    normalize,
    quiet_tracer,
    read_manifest,
    safe_name,
    session,
    staged,
    start_export,
)

log = logging.getLogger(__name__)
FORMAT = 1
CHECK_TEXTS = ("", "invoice", "The quick brown fox jumps over the lazy dog near the river bank.",
               "Total 12.50 EUR VAT 19% card **** 1234 thank you for shopping " * 12)


def export_dir(root: str | os.PathLike[str], model_id: str) -> Path:
    return Path(root) / f"text-{safe_name(model_id)}"


def supported(model: Any) -> bool:
    """A Transformer → mean Pooling → Normalize sentence-transformers model."""
    mods = list(model) if hasattr(model, "__iter__") else []
    names = [type(m).__name__ for m in mods]
    if names[:2] != ["Transformer", "Pooling"] or names[2:] not in ([], ["Normalize"]):
        return False
    pool = mods[1]
    mode = getattr(pool, "pooling_mode", None) or ("mean" if getattr(pool, "pooling_mode_mean_tokens", False) else "")
    return mode == "mean"


class OnnxText:
    def __init__(self, folder: Path, manifest: dict[str, Any], session: Any) -> None:
        from tokenizers import Tokenizer

        self.folder, self.manifest, self.session = folder, manifest, session
        self.dim = int(manifest["dim"])
        self.max_len = int(manifest["max_seq_length"])
        self.normalize = bool(manifest.get("normalize", True))
        self.inputs = [i.name for i in session.get_inputs()]
        tok = Tokenizer.from_file(os.fspath(folder / "tokenizer.json"))
        tok.enable_truncation(max_length=self.max_len)
        tok.no_padding()
        self.tokenizer = tok

    @classmethod
    def open(cls, root: str | os.PathLike[str], model_id: str) -> "OnnxText | None":
        folder = export_dir(root, model_id)
        try:
            manifest = read_manifest(folder)
        except (OSError, ValueError):
            return None
        try:
            if manifest.get("format") != FORMAT or manifest.get("model_id") != model_id:
                return None
            if not files_intact(folder, manifest.get("files") or {}):
                log.warning("ONNX text model %s is damaged or changed; ignored", folder)
                return None
            enc = cls(folder, manifest, session(folder / "model.onnx"))
            got = enc.encode(list(manifest["check"]["texts"]))
            if min_cosine(got, np.asarray(manifest["check"]["vectors"], np.float32)) < MIN_COSINE:
                log.warning("ONNX text model %s does not reproduce its check vectors: ignored", folder)
                return None
            return enc
        except Exception as exc:
            log.warning("ONNX text model %s cannot be used (%s): ignored", folder, str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
            return None

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Normalised sentence vectors, batches of similar lengths (as sentence-transformers sorts)."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        encs = self.tokenizer.encode_batch(list(texts))
        order = np.argsort([-len(e.ids) for e in encs], kind="stable")
        out = np.zeros((len(texts), self.dim), np.float32)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            n = max(len(encs[i].ids) for i in idx)
            ids = np.zeros((len(idx), n), np.int64)
            mask = np.zeros((len(idx), n), np.int64)
            types = np.zeros((len(idx), n), np.int64)
            for row, i in enumerate(idx):
                e = encs[i]
                ids[row, :len(e.ids)] = e.ids
                mask[row, :len(e.ids)] = 1
                types[row, :len(e.ids)] = e.type_ids
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            hidden = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0]
            m = mask[..., None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
            out[idx] = pooled
        return normalize(out) if self.normalize else out


def export_text(root: str | os.PathLike[str], model_id: str, st_model: Any, model_dir: Path) -> Path | None:
    """Export a loaded sentence-transformers model; the folder, or None (not supported, or the
    check failed: then nothing is left behind)."""
    with EXPORT_LOCK:
        return _export_text(root, model_id, st_model, model_dir)


def _export_text(root: str | os.PathLike[str], model_id: str, st_model: Any, model_dir: Path) -> Path | None:
    import onnxruntime
    import torch

    if not supported(st_model) or not (Path(model_dir) / "tokenizer.json").is_file():
        log.info("text model %s is not a plain mean-pooling model: it stays on sentence-transformers", model_id)
        return None
    quiet_tracer()
    with staged(export_dir(root, model_id)) as stage:
        tmp = stage.tmp
        import copy

        bert = copy.deepcopy(st_model[0].auto_model).float().cpu().eval()
        if hasattr(bert, "set_attn_implementation"):
            try:
                bert.set_attn_implementation("eager")
            except Exception:  # an older transformers: its default exports
                pass
        has_types = "token_type_ids" in bert.forward.__code__.co_varnames

        class Hidden(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.m = bert

            def forward(self, input_ids: "torch.Tensor", attention_mask: "torch.Tensor",
                        token_type_ids: "torch.Tensor") -> "torch.Tensor":
                kw = {"token_type_ids": token_type_ids} if has_types else {}
                return self.m(input_ids=input_ids, attention_mask=attention_mask, **kw).last_hidden_state

        ids = torch.tensor([[101, 7592, 2088, 102], [101, 2088, 102, 0]], dtype=torch.long)
        mask = (ids != 0).long()
        axes = {"batch": 0, "length": 1}
        with torch.no_grad():
            torch.onnx.export(Hidden().eval(), (ids, mask, torch.zeros_like(ids)), os.fspath(tmp / "model.onnx"),
                              input_names=["input_ids", "attention_mask", "token_type_ids"],
                              output_names=["hidden"], opset_version=OPSET, dynamo=False,
                              dynamic_axes={n: {v: k for k, v in axes.items()} for n in
                                            ("input_ids", "attention_mask", "token_type_ids", "hidden")})
        shutil.copyfile(Path(model_dir) / "tokenizer.json", tmp / "tokenizer.json")
        with torch.inference_mode():
            ref = np.asarray(st_model.encode(list(CHECK_TEXTS), convert_to_numpy=True, normalize_embeddings=True,
                                             show_progress_bar=False), np.float32)
        manifest: dict[str, Any] = {
            "format": FORMAT, "model_id": model_id, "opset": OPSET, "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__, "dim": int(ref.shape[1]),
            "max_seq_length": int(st_model.max_seq_length), "normalize": True,
            "files": {n: {**file_stamp(tmp / n), "full": full_hash(tmp / n)} for n in ("model.onnx", "tokenizer.json")},
            "check": {"texts": list(CHECK_TEXTS), "vectors": ref.round(7).tolist()}}
        probe = OnnxText(tmp, manifest, session(tmp / "model.onnx"))
        worst = min_cosine(probe.encode(list(CHECK_TEXTS)), ref)
        manifest["cosine"] = worst
        del probe
        return stage.keep(manifest, {"text": worst}, f"text model {model_id}", "sentence-transformers")


def export_in_background(root: str | os.PathLike[str], model_id: str, st_model: Any, model_dir: Path,
                         done: Any = None) -> threading.Thread:
    """export_text in a thread at the lowest CPU priority; `done()` is called after it."""
    def run() -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except (AttributeError, OSError):
            pass
        try:
            export_text(root, model_id, st_model, model_dir)
        except Exception as exc:
            log.warning("could not export text model %s to ONNX: %s", model_id, str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__)
        finally:
            if done is not None:
                done()

    return start_export(run, f"the text model {model_id}", "imgrag-onnx-text-export")
