"""The CLIP image transform, with its last two steps in NumPy: the same tensor, a fraction of
the cost in a decode worker.

open_clip's transform is a torchvision `Compose` of PIL steps (resize, crop, RGB) followed by
`ToTensor` (uint8 HWC → float CHW, divided by 255) and `Normalize` ((x - mean) / std). Those
two are tiny torch operations, and torch runs each on its intra-op thread pool: called from
the indexer's decode threads while the model runs its own batch, every one waits at a barrier
for threads the model (and other programs) hold. Measured here (2 cores, busy): 40 ms of CPU
per picture for the two, against 2 ms with one thread, more than the decode itself.

`fast_transform` keeps the PIL steps and does the other two with NumPy on the calling thread,
in float32, in the same order (divide by 255, subtract the mean, divide by the std), so the
tensor is equal to the element (tests/unit/models/test_clip_input.py). A transform of any
other shape (another library's, a future model's) is returned unchanged.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

_TO_TENSOR = {"ToTensor", "MaybeToTensor"}
_PIL_STEPS = {"Resize", "CenterCrop", "MaybeConvertMode", "ResizeKeepRatio", "ResizeMaxSize", "CenterCropOrPad"}


class _NumpyTail:
    """PIL steps, then ToTensor + Normalize in NumPy (float32, the same operations)."""

    def __init__(self, whole: Callable[[Any], Any], head: list[Callable[[Any], Any]], mean: Any, std: Any) -> None:
        self.whole = whole  # for a picture that is not RGB after the PIL steps (ToTensor keeps its channels)
        self.head = head
        self.mean = np.asarray(mean, np.float32).reshape(1, 1, -1)
        self.std = np.asarray(std, np.float32).reshape(1, 1, -1)
        self.scale = np.float32(255)

    def array(self, img: Any) -> np.ndarray:
        """The normalised picture as a float32 CHW array."""
        src = img
        for step in self.head:
            img = step(img)
        if getattr(img, "mode", None) != "RGB":
            return np.asarray(self.whole(src).numpy(), np.float32)
        a = np.asarray(img, np.uint8).astype(np.float32)
        a /= self.scale
        a -= self.mean
        a /= self.std
        return np.ascontiguousarray(a.transpose(2, 0, 1))

    def __call__(self, img: Any) -> Any:
        import torch

        return torch.from_numpy(self.array(img))


def fast_transform(preprocess: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`preprocess` with ToTensor + Normalize done in NumPy when it has the usual shape, else
    `preprocess` itself."""
    steps = list(getattr(preprocess, "transforms", None) or [])
    if len(steps) < 2:
        return preprocess
    *head, to_tensor, norm = steps
    if type(to_tensor).__name__ not in _TO_TENSOR or type(norm).__name__ != "Normalize":
        return preprocess
    if any(type(s).__name__ not in _PIL_STEPS for s in head) or getattr(norm, "inplace", False):
        return preprocess
    mean, std = getattr(norm, "mean", None), getattr(norm, "std", None)
    if mean is None or std is None or len(mean) != 3 or len(std) != 3:
        return preprocess
    return _NumpyTail(preprocess, head, mean, std)


def transform_for(encoder: Any) -> Callable[[Any], Any]:
    """The fast transform of an encoder's own preprocess (cached on the encoder's transform)."""
    pre = encoder.preprocess
    cached = getattr(encoder, "_imgrag_fast_pre", None)
    if cached is not None and cached[0] is pre:
        return cached[1]  # type: ignore[no-any-return]
    fast = fast_transform(pre)
    try:
        encoder._imgrag_fast_pre = (pre, fast)
    except AttributeError:  # pragma: no cover - an encoder with __slots__
        pass
    return fast


def encode_pictures(encoder: Any, images: Any) -> np.ndarray:
    """`encoder.encode_images(images)` with the fast transform (the same vectors)."""
    if not images or not hasattr(encoder, "encode_tensors") or not hasattr(encoder, "preprocess"):
        return np.asarray(encoder.encode_images(images), np.float32)
    import torch

    transform = transform_for(encoder)
    return np.asarray(encoder.encode_tensors(torch.stack([transform(im) for im in images])), np.float32)
