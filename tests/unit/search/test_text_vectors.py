"""The window runs a typed query twice (its first screenful, then the full answer): the CLIP
text vector is encoded once and remembered (Searcher._text_vectors), per model."""

from __future__ import annotations

from typing import Any

import numpy as np

from imgrag_desktop.search.query import parse
from imgrag_desktop.search.searcher import TEXT_VECTORS_KEPT


def test_a_repeated_query_is_encoded_once(services: Any, monkeypatch: Any) -> None:
    searcher = services.searcher
    clip = searcher.clip
    calls: list[list[str]] = []
    real = clip.encode_texts
    monkeypatch.setattr(clip, "encode_texts", lambda texts: calls.append(list(texts)) or real(texts))
    first, _ = searcher.query_vector(parse("a dog on the beach"), "off")
    again, _ = searcher.query_vector(parse("a dog on the beach"), "off")
    assert calls == [["a dog on the beach"]]
    assert np.array_equal(first, again)
    np.testing.assert_allclose(first, real(["a dog on the beach"])[0], rtol=1e-5, atol=1e-6)
    for i in range(TEXT_VECTORS_KEPT):  # the oldest are let go
        searcher.query_vector(parse(f"query {i}"), "off")
    searcher.query_vector(parse("a dog on the beach"), "off")
    assert calls.count(["a dog on the beach"]) == 2
