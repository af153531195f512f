"""A search replaced by a newer one stops at its next check point (search/cancel.py), on a real
index (real COCO photos, the test profile's tiny CLIP, real LanceDB)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from imgrag_desktop.search import hybrid
from imgrag_desktop.search.cancel import SearchCancelled, cancellable, checkpoint


@pytest.fixture
def indexed(services: Any, photo_dir: Path) -> Any:
    report = services.indexer().index_paths([str(photo_dir)])
    assert report.added >= 20
    return services


class StopAfter:
    """should_stop: false for the first `n` check points, true from then on; counts them."""

    def __init__(self, n: int) -> None:
        self.n, self.calls = n, 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.calls > self.n


def test_a_check_point_stops_only_inside_cancellable() -> None:
    checkpoint()  # no running search to stop: nothing happens
    with cancellable(lambda: False):
        checkpoint()
    with pytest.raises(SearchCancelled):
        with cancellable(lambda: True):
            checkpoint()
    checkpoint()  # the context is left: the check is gone


def test_a_replaced_search_stops_and_the_next_one_answers(indexed: Any) -> None:
    searcher = indexed.searcher
    with cancellable(lambda: False):
        hits = searcher.search("a photo", k=50, mode="visual", min_score="off")
    assert len(hits) >= 2
    stop = StopAfter(0)
    with pytest.raises(SearchCancelled), cancellable(stop):
        searcher.search("a photo", k=50, mode="visual", min_score="off")
    assert stop.calls == 1  # stopped at the first check point, before folding
    again = searcher.search("a photo", k=50, mode="visual", min_score="off")
    assert [h.path for h in again] == [h.path for h in hits]  # nothing left half-done


def test_hybrid_stops_between_its_lists(indexed: Any, monkeypatch: Any) -> None:
    svc = indexed
    searcher = svc.searcher
    called: list[str] = []
    real = hybrid.keyword_list
    monkeypatch.setattr(hybrid, "keyword_list", lambda *a, **kw: called.append("keyword") or real(*a, **kw))
    vec = searcher.clip.encode_texts(["a dog"])[0]
    args = dict(clip=searcher.clip, visual=(vec, None), tiles=None, textual=None)
    weights = {"textual": 0.0}
    with cancellable(StopAfter(0)), pytest.raises(SearchCancelled):
        hybrid.search(svc.store, searcher.visual(), "dog", 20, None, "hybrid", weights, **args)
    assert called == []  # stopped after the visual list, before the keyword one
    with cancellable(lambda: False):
        hits = hybrid.search(svc.store, searcher.visual(), "dog", 20, None, "hybrid", weights, **args)
    assert called == ["keyword"] and hits


def test_folding_stops_between_batches_and_keeps_what_it_verified(indexed: Any) -> None:
    from imgrag_desktop.search.duplicates import FOLD_BATCH

    searcher = indexed.searcher
    loaded = searcher.visual()
    idx = np.arange(len(loaded.paths))
    hits = searcher.make_hits(loaded, idx, np.linspace(1.0, 0.5, len(idx)))
    many = hits * (FOLD_BATCH // len(hits) + 2)  # more than one batch of hits to fold
    finder = searcher.duplicate_finder()
    stop = StopAfter(1)
    with cancellable(stop), pytest.raises(SearchCancelled):
        finder.collapse(many)
    assert stop.calls == 2  # the first batch folded, stopped at the second check point
    kept = finder.collapse(searcher.make_hits(loaded, idx, np.linspace(1.0, 0.5, len(idx))))
    assert 1 <= len(kept) <= len(hits)
