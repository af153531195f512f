import numpy as np
import pytest
from PIL import Image

from imgrag_desktop.models.clip import ClipEncoder, cached_weights, checkpoint_id, write_tiny_checkpoint
from imgrag_desktop.types import ModelUnavailable


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    ckpt = tmp_path_factory.mktemp("m") / "imgrag-tiny.pt"
    write_tiny_checkpoint(ckpt)
    return ClipEncoder("imgrag-tiny", checkpoint=str(ckpt), device="cpu")


def _images():
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (80, 100, 3), dtype=np.uint8)) for _ in range(5)]


def test_checkpoint_loads_through_the_product_path(tiny):
    assert not tiny.loaded
    tiny.load()
    assert tiny.loaded and tiny.dim == 128 and tiny.image_size == 64
    assert tiny.model_id.startswith("imgrag-tiny/ckpt-")


def test_vectors_are_normalised_and_batch_independent(tiny):
    imgs = _images()
    batch = tiny.encode_images(imgs)
    assert batch.shape == (5, 128) and batch.dtype == np.float32
    assert np.allclose(np.linalg.norm(batch, axis=1), 1, atol=1e-5)
    single = tiny.encode_images(imgs[2:3])
    assert float(single[0] @ batch[2]) > 0.9999


def test_trimmed_text_encoding_matches_open_clip(tiny):
    import torch

    texts = ["a dog on the beach", "error code 0x80070005 in the settings dialog", "x"]
    ours = tiny.encode_texts(texts)
    with torch.no_grad():
        ref = torch.nn.functional.normalize(tiny._model.encode_text(tiny._tokenizer(texts)).float(), dim=-1).numpy()
    assert np.abs(ours - ref).max() < 1e-5


def test_same_seed_same_checkpoint_weights(tmp_path):
    a = ClipEncoder("imgrag-tiny", checkpoint=str(write_tiny_checkpoint(tmp_path / "a" / "imgrag-tiny.pt")))
    b = ClipEncoder("imgrag-tiny", checkpoint=str(write_tiny_checkpoint(tmp_path / "b" / "imgrag-tiny.pt")))
    img = _images()[:1]
    assert np.allclose(a.encode_images(img), b.encode_images(img))


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    enc = ClipEncoder("imgrag-tiny", checkpoint=str(tmp_path / "nope.pt"))
    with pytest.raises(ModelUnavailable, match="does not exist"):
        enc.load()


def test_missing_pretrained_weights_fail_fast_without_network():
    # Nothing is downloaded implicitly: no cached file means a one-line message at once.
    assert cached_weights("ViT-B-32-256", "datacomp_s34b_b86k") is None
    enc = ClipEncoder("ViT-B-32-256", "datacomp_s34b_b86k", device="cpu")
    with pytest.raises(ModelUnavailable, match="imgrag doctor --download"):
        enc.load()


def test_unknown_model_name():
    with pytest.raises(ModelUnavailable, match="unknown CLIP model"):
        ClipEncoder("no-such-model", "x").load()


def test_checkpoint_id_changes_with_content(tmp_path):
    p = tmp_path / "w.bin"
    p.write_bytes(b"a" * 100)
    first = checkpoint_id(p)
    p.write_bytes(b"b" * 100)
    assert checkpoint_id(p) != first
