"""CLIP and MiniLM on onnxruntime (models/onnx_clip.py, onnx_text.py, clip_tokenizer.py):
the same ids and vectors as torch, exports that are checked, and damaged files never used."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgrag_desktop.models import onnx_clip, onnx_text
from imgrag_desktop.models.clip import ClipEncoder
from imgrag_desktop.models.clip_tokenizer import ClipTokenizer, open_clip_vocab
from imgrag_desktop.models.idle import IdleUnloader
from imgrag_desktop.models.text import TextEncoder

CORPUS = ["", "a dog", "A DOG on the Beach!!!", "it's what we've done, I'll say, they'd", "café naïve résumé",
          "東京タワーの夜景", "emoji 🐶🎉👍🏽 party", "  lots   of\twhitespace\n\nnew  ", "&amp;lt;b&amp;gt; html &quot;x&quot;",
          "numbers 12345 3.14 1,000,000", "<start_of_text> literal <end_of_text>", "Ünïcödé ß ﬁ ligature",
          "mojibake Ã© here", "Привет мир", "مرحبا بالعالم", "🇫🇷 flag", "zero\u200bwidth", "CamelCaseWord",
          "e-mail: foo@bar.com http://x.y/z?q=1", "x" * 300, " ".join(["word"] * 200),
          "receipt TOTAL 12,50 € — paid ✓", "\u00a0non-breaking\u2003spaces", "tabs\tand\r\nreturns"]


def test_the_torch_free_tokenizer_gives_open_clips_ids() -> None:
    import open_clip

    vocab = open_clip_vocab()
    assert vocab is not None
    ours = ClipTokenizer(vocab)(CORPUS)
    ref = open_clip.get_tokenizer("ViT-B-32")(CORPUS).numpy()
    assert ours.shape == ref.shape == (len(CORPUS), 77)
    for text, a, b in zip(CORPUS, ours, ref):
        assert a.tolist() == b.tolist(), text
    assert ours[CORPUS.index("x" * 300)][-1] == 49407  # cut at the context length, end-of-text last


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, tiny_ckpt: Path) -> tuple[ClipEncoder, Path]:
    """The tiny CLIP on torch (fp32) and its export in a fresh root."""
    root = tmp_path_factory.mktemp("onnx")
    torch_enc = ClipEncoder("imgrag-tiny", checkpoint=str(tiny_ckpt), device="cpu", precision="fp32",
                            runtime="torch", onnx_root=root)
    maker = ClipEncoder("imgrag-tiny", checkpoint=str(tiny_ckpt), device="cpu", onnx_root=root)
    folder = maker.export_onnx()
    assert folder is not None and (folder / "manifest.json").is_file()
    return torch_enc, root


def _onnx_encoder(tiny_ckpt: Path, root: Path) -> ClipEncoder:
    return ClipEncoder("imgrag-tiny", checkpoint=str(tiny_ckpt), device="cpu", onnx_root=root)


def _images() -> list[Image.Image]:
    rng = np.random.default_rng(5)
    return [Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8))
            for shape in ((80, 100, 3), (300, 200, 3), (64, 64, 3), (31, 257, 3))]


def test_onnx_clip_vectors_equal_torch(exported: tuple[ClipEncoder, Path], tiny_ckpt: Path) -> None:
    torch_enc, root = exported
    enc = _onnx_encoder(tiny_ckpt, root)
    texts = CORPUS + ["a photo of a cat", "the same words " * 20]
    got = enc.encode_texts(texts)
    assert enc.runtime_in_use == "onnx" and enc._model is None  # no torch model was loaded
    ref = torch_enc.encode_texts(texts)
    assert got.shape == ref.shape and float(np.min(np.sum(got * ref, axis=1))) >= 0.9999
    imgs = _images()
    assert float(np.min(np.sum(enc.encode_images(imgs) * torch_enc.encode_images(imgs), axis=1))) >= 0.9999
    assert enc._model is None and enc.dim == 128 and enc.image_size == 64
    manifest = json.loads((onnx_clip.export_dir(root, enc.model_id) / "manifest.json").read_text())
    assert manifest["opset"] == onnx_clip.OPSET and manifest["torch"] and manifest["source"]["weights_id"]
    assert min(manifest["cosine"].values()) >= 0.9999


def test_runtime_torch_never_uses_the_export(exported: tuple[ClipEncoder, Path], tiny_ckpt: Path) -> None:
    _, root = exported
    enc = ClipEncoder("imgrag-tiny", checkpoint=str(tiny_ckpt), device="cpu", runtime="torch", onnx_root=root)
    enc.encode_texts(["a dog"])
    assert enc.runtime_in_use == "torch"


@pytest.mark.parametrize("damage", ["truncate", "middle", "manifest"])
def test_a_damaged_export_is_ignored_and_exported_again(exported: tuple[ClipEncoder, Path], tiny_ckpt: Path,
                                                         tmp_path: Path, damage: str) -> None:
    torch_enc, src_root = exported
    root = tmp_path / "onnx"
    shutil.copytree(src_root, root)
    enc = _onnx_encoder(tiny_ckpt, root)
    folder = onnx_clip.export_dir(root, enc.model_id)
    text = folder / "text.onnx"
    if damage == "truncate":
        text.write_bytes(text.read_bytes()[: text.stat().st_size // 2])
    elif damage == "middle":  # a few bytes in the token embedding: the ends and the size still match
        data = bytearray(text.read_bytes())
        mid = len(data) // 2
        data[mid:mid + 64] = bytes(64)
        text.write_bytes(bytes(data))
    else:
        (folder / "manifest.json").write_text("{not json", encoding="utf-8")
    got = enc.encode_texts(["a dog", "a receipt"])
    assert enc.runtime_in_use == "torch"  # refused: torch serves
    assert float(np.min(np.sum(got * torch_enc.encode_texts(["a dog", "a receipt"]), axis=1))) >= 0.9999
    enc.encode_images(_images()[:1])  # an image batch starts the export again, in the background
    assert enc._export is not None
    enc._export.join(120)
    fresh = _onnx_encoder(tiny_ckpt, root)
    fresh.encode_texts(["a dog"])
    assert fresh.runtime_in_use == "onnx"
    assert not any(p.name.startswith(".") for p in root.iterdir())  # no temp folder left behind


def test_idle_unload_drops_the_onnx_sessions(exported: tuple[ClipEncoder, Path], tiny_ckpt: Path) -> None:
    _, root = exported
    enc = _onnx_encoder(tiny_ckpt, root)
    enc.encode_texts(["a dog"])
    assert enc.loaded and enc.runtime_in_use == "onnx"
    assert IdleUnloader(lambda: [enc], idle_s=0.0).sweep() == 1
    assert not enc.loaded and enc._ort is None
    enc.encode_texts(["again"])  # reloads on demand
    assert enc.runtime_in_use == "onnx"


def test_minilm_on_onnx_equals_sentence_transformers(tmp_path: Path) -> None:
    texts = CORPUS + ["Total 12.50 EUR VAT 19% card **** 1234 thank you for shopping " * 40]  # long: chunked
    first = TextEncoder(runtime="auto", onnx_root=tmp_path)
    ref = first.encode(texts)
    assert first.runtime_in_use == "torch" and first._export is not None
    first._export.join(300)
    assert onnx_text.OnnxText.open(tmp_path, first.model_id) is not None
    second = TextEncoder(runtime="auto", onnx_root=tmp_path)
    got = second.encode(texts)
    assert second.runtime_in_use == "onnx" and second._model is None
    assert got.shape == ref.shape and float(np.min(np.sum(got * ref, axis=1))) >= 0.9999
    assert IdleUnloader(lambda: [second], idle_s=0.0).sweep() == 1 and second._ort is None
    # damaged: refused, sentence-transformers serves
    model = onnx_text.export_dir(tmp_path, second.model_id) / "model.onnx"
    model.write_bytes(model.read_bytes()[:1000])
    third = TextEncoder(runtime="auto", onnx_root=tmp_path)
    again = third.encode(texts[:3])
    assert third.runtime_in_use == "torch" and np.allclose(again, ref[:3], atol=1e-5)
    if third._export is not None:
        third._export.join(300)


def test_image_batches_on_onnx_when_asked(exported: tuple[ClipEncoder, Path], tiny_ckpt: Path) -> None:
    """clip_runtime "onnx": the indexer's path (preprocess in the decode workers, stack, encode)
    gives torch's vectors without loading the torch model."""
    torch_enc, root = exported
    enc = ClipEncoder("imgrag-tiny", checkpoint=str(tiny_ckpt), device="cpu", runtime="onnx", onnx_root=root)
    assert enc.serves_on_onnx()
    imgs = _images()
    batch = enc.stack([enc.preprocess(im) for im in imgs])
    assert isinstance(batch, np.ndarray) and batch.shape == (4, 3, 64, 64)
    got = enc.encode_tensors(batch)
    assert enc._model is None
    ref = torch_enc.encode_tensors(torch_enc.stack([torch_enc.preprocess(im) for im in imgs]))
    assert float(np.min(np.sum(got * ref, axis=1))) >= 0.9999
    # without a usable export, the same NumPy batch goes to torch
    bare = ClipEncoder("imgrag-tiny", checkpoint=str(tiny_ckpt), device="cpu", precision="fp32", runtime="onnx")
    assert not bare.serves_on_onnx()
    assert float(np.min(np.sum(bare.encode_tensors(batch) * ref, axis=1))) >= 0.9999


def test_the_window_warm_up_skips_torch_when_the_export_serves(tmp_path: Path, exported: tuple[ClipEncoder, Path],
                                                                tiny_ckpt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from imgrag_desktop.config import AppConfig
    from imgrag_desktop.quiet_start import ENGINE_MODULES
    from imgrag_desktop.services import Services

    monkeypatch.setenv("IMGRAG_ONNX_DIR", str(tmp_path / "onnx"))  # not the session's shared exports
    svc = Services(AppConfig.load(tmp_path / "data", "test"))
    assert "torch" in svc.engine_modules(ENGINE_MODULES)  # nothing exported yet
    model_id = svc.clip.model_id  # writes the data dir's tiny checkpoint (the same seed: the same id)
    assert model_id == _onnx_encoder(tiny_ckpt, exported[1]).model_id
    shutil.copytree(onnx_clip.export_dir(exported[1], model_id), onnx_clip.export_dir(svc.cfg.onnx_dir, model_id))
    assert svc.engine_modules(ENGINE_MODULES) == tuple(m for m in ENGINE_MODULES if m not in ("torch", "open_clip"))
    svc.cfg.settings.clip_runtime = "torch"
    svc.reset_models()
    assert "torch" in svc.engine_modules(ENGINE_MODULES)


def test_a_query_image_on_the_export_imports_no_torch(exported: tuple[ClipEncoder, Path], tiny_ckpt: Path) -> None:
    """A picture pasted into the window (or `imgrag similar` on a file not indexed) is encoded
    on the export without torch: importing it would stall the window for about a second."""
    torch_enc, root = exported
    code = ("import sys, numpy as np; from PIL import Image; from imgrag_desktop.models.clip import ClipEncoder; "
            f"e = ClipEncoder('imgrag-tiny', checkpoint={str(tiny_ckpt)!r}, device='cpu', onnx_root={str(root)!r}); "
            "v = e.encode_images([Image.new('RGB', (90, 60), (200, 40, 10))]); "
            "print(e.runtime_in_use, 'torch' in sys.modules, ' '.join(map(str, v[0].tolist())))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True).stdout.split()
    assert out[:2] == ["onnx", "False"], out[:2]
    ref = torch_enc.encode_images([Image.new("RGB", (90, 60), (200, 40, 10))])[0]
    assert float(np.dot(np.array(out[2:], np.float32), ref)) >= 0.9999


def test_an_export_serving_queries_does_not_make_indexing_think_the_weights_are_there(
        tmp_path: Path, exported: tuple[ClipEncoder, Path], tiny_ckpt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The weights gone (simulated: torch's load says so), an export still answers queries,
    but image batches run on torch by default: the indexer keeps the rows waiting for their
    vector instead of failing every picture."""
    from imgrag_desktop.indexing.pipeline import Indexer
    from imgrag_desktop.store import Store
    from imgrag_desktop.types import ModelUnavailable

    _, root = exported
    enc = _onnx_encoder(tiny_ckpt, root)

    def missing() -> ClipEncoder:
        raise ModelUnavailable("CLIP weights imgrag-tiny are not downloaded")

    monkeypatch.setattr(enc, "_load_torch", missing)
    monkeypatch.setattr(enc, "_weights_present", lambda: False)
    assert enc.load() is enc and enc.encode_texts(["a dog"]).shape[0] == 1  # queries: the export
    with pytest.raises(ModelUnavailable):
        enc.load_for_images()
    folder = tmp_path / "pics"
    folder.mkdir()
    for i, im in enumerate(_images()):
        im.save(folder / f"{i}.png")
    report = Indexer(None, Store(tmp_path / "db"), enc).index_paths([str(folder)])
    assert report.failed == 0 and report.added == 4, report
    onnx_images = ClipEncoder("imgrag-tiny", checkpoint=str(tiny_ckpt), device="cpu", runtime="onnx", onnx_root=root)
    assert onnx_images.load_for_images() is onnx_images and onnx_images._model is None  # its image tower serves
    queries_only = _onnx_encoder(tiny_ckpt, root)  # weights there: ready, torch loads at the first batch
    assert queries_only.load_for_images() is queries_only and queries_only._model is None


def test_a_staged_export_is_put_in_place_whole_or_not_at_all(tmp_path: Path) -> None:
    """The step both exports end with (onnx_clip.staged): a refused check and an exception
    leave nothing behind and keep the old export; a kept one replaces it, manifest written last."""
    final = tmp_path / "onnx" / "m"
    final.mkdir(parents=True)
    (final / "old.onnx").write_bytes(b"old")

    def built(stage: onnx_clip.Staged) -> None:
        (stage.tmp / "model.onnx").write_bytes(b"new")

    with onnx_clip.staged(final) as stage:
        built(stage)
        assert stage.tmp.parent == final.parent and stage.tmp != final
        assert stage.keep({"format": 1}, {"text": onnx_clip.MIN_COSINE - 1e-4}, "m", "torch") is None
    assert sorted(p.name for p in final.parent.iterdir()) == ["m"] and (final / "old.onnx").is_file()

    with pytest.raises(RuntimeError):
        with onnx_clip.staged(final) as stage:
            built(stage)
            raise RuntimeError("export failed")
    assert sorted(p.name for p in final.parent.iterdir()) == ["m"] and (final / "old.onnx").is_file()

    with onnx_clip.staged(final) as stage:
        built(stage)
        assert stage.keep({"format": 1}, {"text": 1.0, "image": onnx_clip.MIN_COSINE}, "m", "torch") == final
    assert sorted(p.name for p in final.parent.iterdir()) == ["m"]
    assert sorted(p.name for p in final.iterdir()) == [onnx_clip.MANIFEST, "model.onnx"]
    assert json.loads((final / onnx_clip.MANIFEST).read_text()) == {"format": 1}
