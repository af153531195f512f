"""The fast CLIP transform gives the very tensor open_clip's own transform gives."""

import numpy as np
import pytest
import torch
from PIL import Image

from imgrag_desktop.models.clip_input import encode_pictures, fast_transform, transform_for
from tests.support.data import coco_images


def _pictures() -> list[Image.Image]:
    photos = coco_images()[:6]
    if len(photos) < 6:
        pytest.fail("shared COCO photos not found")
    out = []
    for p in photos:
        with Image.open(p) as im:
            out.append(im.convert("RGB"))
    rng = np.random.default_rng(3)
    out.append(Image.fromarray(rng.integers(0, 256, (900, 120, 3), dtype=np.uint8)))  # tall sliver
    out.append(Image.fromarray(rng.integers(0, 256, (7, 11, 3), dtype=np.uint8)))  # smaller than the input
    out.append(out[0].convert("L"))  # grey: MaybeConvertMode turns it RGB
    out.append(out[1].convert("RGBA"))
    return out


@pytest.mark.parametrize("size,mode", [(224, "shortest"), (64, "shortest"), (224, "squash"), (336, "longest")])
def test_same_tensor_as_open_clip(size, mode):
    import open_clip

    pre = open_clip.image_transform(size, is_train=False, resize_mode=mode)
    fast = fast_transform(pre)
    assert fast is not pre, "the usual open_clip transform should get the NumPy tail"
    for img in _pictures():
        want, got = pre(img), fast(img)
        assert got.dtype == want.dtype == torch.float32 and got.shape == want.shape
        assert torch.equal(got, want)


def test_other_transforms_are_left_alone():
    from torchvision import transforms as T

    odd = T.Compose([T.Resize(32), T.ToTensor(), T.Normalize((0.5,) * 3, (0.5,) * 3), T.RandomErasing()])
    assert fast_transform(odd) is odd
    plain = lambda im: torch.zeros(3, 4, 4)  # noqa: E731 - not a Compose
    assert fast_transform(plain) is plain


def test_encoder_vectors_unchanged(tiny_ckpt):
    from imgrag_desktop.models.clip import ClipEncoder

    enc = ClipEncoder("imgrag-tiny", checkpoint=str(tiny_ckpt), device="cpu")
    imgs = _pictures()[:4]
    assert transform_for(enc) is transform_for(enc)  # built once per loaded model
    assert np.array_equal(encode_pictures(enc, imgs), enc.encode_images(imgs))
