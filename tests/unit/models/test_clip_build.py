"""The low-memory build (models/clip_build.py) gives the model open_clip's own path gives."""

import numpy as np
import pytest
from PIL import Image

from imgrag_desktop.models import clip_build
from imgrag_desktop.models.clip import ClipEncoder, _register_bundled_configs


def _both(path, precision):
    import open_clip

    _register_bundled_configs()
    built = clip_build.build_from_file("imgrag-tiny", str(path), "cpu", precision, {})
    assert built is not None, "the tiny model must take the low-memory path"
    ref, _, ref_pre = open_clip.create_model_and_transforms("imgrag-tiny", pretrained=str(path), device="cpu",
                                                            precision=precision)
    return built, (ref, ref_pre)


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_same_weights_dtypes_and_vectors_as_open_clip(tiny_ckpt, precision):
    import open_clip
    import torch

    (model, pre), (ref, ref_pre) = _both(tiny_ckpt, precision)
    got, want = model.state_dict(), ref.state_dict()
    assert list(got) == list(want)
    for k in want:
        assert got[k].dtype == want[k].dtype and torch.equal(got[k], want[k]), k
    assert not any(b.is_meta for b in model.buffers())
    assert torch.equal(model.attn_mask, ref.attn_mask)
    model.eval(), ref.eval()
    rng = np.random.default_rng(3)
    img = Image.fromarray(rng.integers(0, 255, (90, 120, 3), dtype=np.uint8))
    x = torch.stack([pre(img)])
    assert torch.equal(x, torch.stack([ref_pre(img)]))
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    tok = open_clip.get_tokenizer("imgrag-tiny")(["a dog on a beach", "receipt total 12.50"])
    with torch.inference_mode():
        assert torch.equal(model.encode_image(x.to(dtype)), ref.encode_image(x.to(dtype)))
        assert torch.equal(model.encode_text(tok), ref.encode_text(tok))


def test_the_encoder_loads_through_it_and_its_vectors_do_not_change(tiny_ckpt, monkeypatch):
    calls = []
    real = clip_build.build_from_file

    def spy(*a, **k):
        out = real(*a, **k)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(clip_build, "build_from_file", spy)
    img = Image.fromarray(np.random.default_rng(5).integers(0, 255, (80, 100, 3), dtype=np.uint8))
    enc = ClipEncoder("imgrag-tiny", checkpoint=str(tiny_ckpt), device="cpu", runtime="torch")
    v = enc.encode_images([img])
    t = enc.encode_texts(["a dog"])
    assert calls == [True]
    monkeypatch.setattr(clip_build, "build_from_file", lambda *a, **k: None)  # open_clip's own path
    old = ClipEncoder("imgrag-tiny", checkpoint=str(tiny_ckpt), device="cpu", runtime="torch")
    assert np.array_equal(v, old.encode_images([img])) and np.array_equal(t, old.encode_texts(["a dog"]))


def test_a_file_that_does_not_fit_takes_open_clips_path(tmp_path, tiny_ckpt):
    import torch

    sd = torch.load(tiny_ckpt, map_location="cpu", weights_only=True)["state_dict"]
    sd.pop("text_projection")
    bad = tmp_path / "bad.pt"
    torch.save({"state_dict": sd}, bad)
    _register_bundled_configs()
    assert clip_build.build_from_file("imgrag-tiny", str(bad), "cpu", "bf16", {}) is None
    assert clip_build.build_from_file("imgrag-tiny", str(tiny_ckpt), "cuda", "bf16", {}) is None
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    assert clip_build.build_from_file("imgrag-tiny", str(tmp_path / "junk.pt"), "cpu", "bf16", {}) is None


def test_image_only_build_reads_the_text_tower_when_a_text_comes(tiny_ckpt):
    import open_clip
    import torch

    (full, pre), (ref, _) = _both(tiny_ckpt, "bf16")
    built = clip_build.build_from_file("imgrag-tiny", str(tiny_ckpt), "cpu", "bf16", {}, text=False)
    assert built is not None
    model, _ = built
    assert clip_build.text_pending(model) and model.token_embedding.weight.is_meta
    assert not any(p.is_meta for p in model.visual.parameters())
    model.eval(), ref.eval()
    img = Image.fromarray(np.random.default_rng(4).integers(0, 255, (70, 90, 3), dtype=np.uint8))
    x = torch.stack([pre(img)]).to(torch.bfloat16)
    tok = open_clip.get_tokenizer("imgrag-tiny")(["a red car", "total 4.20"])
    with torch.inference_mode():
        assert torch.equal(model.encode_image(x), ref.encode_image(x))
        clip_build.load_text(model)
        assert not clip_build.text_pending(model) and not any(p.is_meta for p in model.parameters())
        assert torch.equal(model.encode_text(tok), ref.encode_text(tok))
    for k, v in ref.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k


def test_the_indexer_loads_images_first_and_texts_still_match(tiny_ckpt):
    img = Image.fromarray(np.random.default_rng(6).integers(0, 255, (80, 100, 3), dtype=np.uint8))
    full = ClipEncoder("imgrag-tiny", checkpoint=str(tiny_ckpt), device="cpu", runtime="torch").load()
    enc = ClipEncoder("imgrag-tiny", checkpoint=str(tiny_ckpt), device="cpu", runtime="torch").load_for_images()
    assert clip_build.text_pending(enc._model) and not clip_build.text_pending(full._model)
    assert enc.dim == full.dim
    assert np.array_equal(enc.encode_images([img]), full.encode_images([img]))
    assert np.array_equal(enc.encode_texts(["a dog", "x"]), full.encode_texts(["a dog", "x"]))
    assert not clip_build.text_pending(enc._model)
