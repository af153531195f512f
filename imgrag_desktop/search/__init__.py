"""Queries → hits: the Searcher façade (searcher.py), the snapshot of loaded vectors it
searches (snapshot.py), the modes (hybrid.py, ranking.py), their fusion, hits, filters and
query parsing.

The light names (modes, filters) load at once, since the window reads them at start-up; the
Searcher, and numpy, pyarrow and the store with it, load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from imgrag_desktop.search.filters import ORIENTATIONS, Filters, build_filter, user_folder
from imgrag_desktop.search.modes import DEFAULT_MODE, MODE_NAMES, MODES, Mode, mode_named

if TYPE_CHECKING:  # pragma: no cover
    from imgrag_desktop.search.searcher import AUTO, Searcher
    from imgrag_desktop.search.snapshot import LoadedVectors

__all__ = ["AUTO", "DEFAULT_MODE", "MODES", "MODE_NAMES", "ORIENTATIONS", "Filters", "LoadedVectors", "Mode",
           "Searcher", "build_filter", "mode_named", "user_folder"]

_LAZY = {"Searcher": "searcher", "AUTO": "searcher", "LoadedVectors": "snapshot"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
