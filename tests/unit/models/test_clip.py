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


def test_the_tiny_model_has_one_id_whoever_wrote_it(tmp_path):
    """The checkpoint once carried its writer's PID, so each data dir's copy had its own id."""
    import subprocess
    import sys

    here = write_tiny_checkpoint(tmp_path / "a" / "imgrag-tiny.pt")
    there = tmp_path / "b" / "imgrag-tiny.pt"
    subprocess.run([sys.executable, "-c", "import sys; from imgrag_desktop.models.clip import write_tiny_checkpoint; "
                    "write_tiny_checkpoint(sys.argv[1])", str(there)], check=True, timeout=300)
    assert checkpoint_id(str(here)) == checkpoint_id(str(there))


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


def test_precision_follows_the_device_and_the_cpu(tmp_path):
    from imgrag_desktop.models.clip import cpu_has_native_bf16, pick_precision
    from imgrag_desktop.types import ImgragError

    with_bf16, without = tmp_path / "zen4", tmp_path / "old"
    with_bf16.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16 avx512_vnni\n\n")
    without.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512bw\n\n")
    assert cpu_has_native_bf16(str(with_bf16)) and not cpu_has_native_bf16(str(without))
    assert not cpu_has_native_bf16(str(tmp_path / "missing"))
    assert pick_precision("cuda") == "fp16" and pick_precision("mps") == "fp32"
    assert pick_precision("cpu") == ("bf16" if cpu_has_native_bf16() else "fp32")
    assert pick_precision("cpu", "FP32") == "fp32" and pick_precision("cpu", "bf16") == "bf16"
    with pytest.raises(ImgragError, match="needs a GPU"):
        pick_precision("cpu", "fp16")
    with pytest.raises(ImgragError, match="unknown precision"):
        pick_precision("cpu", "int4")


def test_bf16_vectors_match_fp32_ones(tiny):
    """bf16 weights (forced: emulated where the CPU lacks it) give the fp32 vectors to ~1e-4."""
    import torch

    ckpt = tiny.checkpoint
    fp32 = ClipEncoder("imgrag-tiny", checkpoint=ckpt, device="cpu", precision="fp32").load()
    bf16 = ClipEncoder("imgrag-tiny", checkpoint=ckpt, device="cpu", precision="bf16").load()
    assert fp32.dtype == torch.float32 and bf16.dtype == torch.bfloat16 and bf16.precision == "bf16"
    assert fp32.model_id == bf16.model_id  # vectors of either precision are comparable
    assert bf16._model.visual.conv1.weight.dtype == torch.bfloat16
    imgs = _distinct_images()
    a, b = fp32.encode_images(imgs), bf16.encode_images(imgs)
    assert b.dtype == np.float32 and np.allclose(np.linalg.norm(b, axis=1), 1, atol=1e-5)
    same = (a * b).sum(1)
    others = (a @ a.T)[~np.eye(len(imgs), dtype=bool)]
    # An image moves by far less between precisions than to any other image.
    assert same.min() > 0.9995 and others.max() < 0.99 and not np.array_equal(a, b)
    texts = ["a dog on the beach", "error code 0x80070005"]
    ta, tb = fp32.encode_texts(texts), bf16.encode_texts(texts)
    assert (ta * tb).sum(1).min() > 0.9995 and not np.array_equal(ta, tb)


def _distinct_images():
    y, x = np.mgrid[0:70, 0:90]
    flat = [Image.new("RGB", (90, 70), c) for c in ((220, 30, 30), (20, 200, 40), (30, 40, 210))]
    checker = Image.fromarray((((x // 10 + y // 10) % 2) * 255).astype(np.uint8)).convert("RGB")
    ramp = Image.fromarray(np.dstack([x * 2.8, y * 3.6, 255 - x * 2.8]).astype(np.uint8))
    return flat + [checker, ramp]


_THREAD_LIMIT_PROBE = """
import json, sys
import numpy as np, torch
from imgrag_desktop.models.clip import ClipEncoder
enc = ClipEncoder("imgrag-tiny", checkpoint=sys.argv[1], device="cpu", precision="bf16").load()
out = {"threads_after_load": torch.get_num_threads()}
x = torch.randn(6, 3, enc.image_size, enc.image_size, generator=torch.Generator().manual_seed(0))
v0 = enc.encode_tensors(x)
out["whole_after_load"] = bool(np.isfinite(v0).all() and np.allclose(np.linalg.norm(v0, axis=1), 1, atol=1e-3))
torch.set_num_threads(2)  # what a caller may do behind the encoder's back: the kernels fail again
v, t = enc.encode_tensors(x), enc.encode_texts(["a dog on the beach"])
out.update(finite=bool(np.isfinite(v).all() and np.isfinite(t).all()), precision=enc.precision,
           fallbacks=enc.fallbacks, norms=np.linalg.norm(v, axis=1).round(4).tolist())
print(json.dumps(out))
"""


def test_bf16_survives_an_openmp_thread_limit(tiny):
    """OMP_THREAD_LIMIT below torch's thread count breaks torch's CPU bf16 kernels (NaN
    vectors). The encoder runs as many threads as the limit allows and, should the kernels
    fail anyway, falls back to fp32 instead of returning vectors that would be stored as none."""
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    env = {**os.environ, "OMP_THREAD_LIMIT": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", _THREAD_LIMIT_PROBE, tiny.checkpoint], capture_output=True,
                          text=True, env=env, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["threads_after_load"] == 1 and out["whole_after_load"]
    # Whatever the kernels do under the bad thread count, the vectors handed out are whole.
    assert out["finite"] and out["norms"] == [1.0] * 6
    # On this machine's kind (AVX512-BF16) they fail every time seen (NaN, or output left zero)
    # and the encoder falls back; a CPU whose bf16 path survives keeps bf16.
    if out["fallbacks"]:
        assert out["fallbacks"] == ["bf16"] and out["precision"] == "fp32"
        assert "using fp32 from now on" in proc.stderr
    else:
        assert out["precision"] == "bf16"


def test_ocr_leaves_the_process_environment_alone(tmp_path):
    """Tesseract gets OMP_THREAD_LIMIT=1 in its own environment; this process (and torch, and
    every program it starts) never sees it."""
    import os
    import shutil

    from PIL import ImageDraw

    from imgrag_desktop.models.ocr import TesseractOcr

    if shutil.which("tesseract") is None:
        pytest.skip("Tesseract is not installed")
    before = os.environ.get("OMP_THREAD_LIMIT")
    img = Image.new("RGB", (400, 80), "white")
    ImageDraw.Draw(img).text((10, 30), "HELLO OCR 42", fill="black")
    img.save(tmp_path / "t.png")
    TesseractOcr().read_path(tmp_path / "t.png")
    assert os.environ.get("OMP_THREAD_LIMIT") == before
