"""`imgrag bench`: what the product costs on this machine, measured in one run.

One way in: `imgrag bench --part X` (or `run_bench(parts=[...])` from Python), with the parts
listed once in `parts.py`. Each part lives in the module named after what it measures
(indexing, search, memory, features, vlm, watch, gui_watch); `runner` dispatches, `report`
formats. The benchmarks call the engine, never the CLI; a figure that needs a process of its
own (memory, idle CPU) comes from `child.py`.

The names below are loaded on first use, so that reading the part list (every `imgrag` start
builds the `--part` choices) imports nothing heavy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from imgrag_desktop.bench.parts import ALL, CHOICES, PARTS

if TYPE_CHECKING:  # pragma: no cover
    from imgrag_desktop.bench.common import DEFAULT_MODEL, bench_encoder, machine_info
    from imgrag_desktop.bench.indexing import make_jpegs
    from imgrag_desktop.bench.report import format_report
    from imgrag_desktop.bench.runner import DEFAULT_SIZES, GOALS, QUICK_SIZES, run_bench
    from imgrag_desktop.bench.synthetic import SyntheticClip, synthetic_store

_LAZY = {
    "DEFAULT_MODEL": "common", "bench_encoder": "common", "machine_info": "common",
    "make_jpegs": "indexing", "format_report": "report",
    "DEFAULT_SIZES": "runner", "GOALS": "runner", "QUICK_SIZES": "runner", "run_bench": "runner",
    "SyntheticClip": "synthetic", "synthetic_store": "synthetic",
}
_ALIASES = {"_synthetic_store": "synthetic_store"}  # the name other tests knew it by

__all__ = ["ALL", "CHOICES", "DEFAULT_MODEL", "DEFAULT_SIZES", "GOALS", "PARTS", "QUICK_SIZES", "SyntheticClip",
           "bench_encoder", "format_report", "machine_info", "make_jpegs", "run_bench", "synthetic_store"]


def __getattr__(name: str) -> Any:
    real = _ALIASES.get(name, name)
    if real not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[real]}"), real)
