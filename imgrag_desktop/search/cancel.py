"""Stopping a search that a newer one has replaced.

The window sends a new query while the old one may still be folding copies; the old answer
would only be thrown away. A caller runs a search inside `cancellable(should_stop)`; the
search calls `checkpoint()` at its natural break points (after the query vector, between the
hybrid lists, between batches of copy folding) and, once `should_stop()` says so, stops there
by raising `SearchCancelled`. Nothing is lost: what a stopped search verified (copy verdicts,
fingerprints read) stays remembered for the next one. Outside `cancellable` a checkpoint
costs one context-variable read and never stops anything (the CLI, questions, benchmarks).

A context variable, not a parameter threaded through every mode: the check belongs to the
thread (the window's query worker) that runs the search, and the modes stay plain functions.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator

_should_stop: ContextVar[Callable[[], bool] | None] = ContextVar("imgrag_search_should_stop", default=None)


class SearchCancelled(Exception):
    """A newer search replaced this one; it stopped at a check point."""


@contextmanager
def cancellable(should_stop: Callable[[], bool]) -> Iterator[None]:
    """Searches run inside stop at their next check point once `should_stop()` is true."""
    token = _should_stop.set(should_stop)
    try:
        yield
    finally:
        _should_stop.reset(token)


def checkpoint() -> None:
    """Raise SearchCancelled when the running search has been replaced."""
    check = _should_stop.get()
    if check is not None and check():
        raise SearchCancelled("a newer search replaced this one")
