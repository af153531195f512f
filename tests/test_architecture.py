"""The layer rules hold: import-linter's contracts (.importlinter) and no import cycle at all.

A rule that only lives in a document erodes one convenient import at a time; these fail the
suite with the offending imports (file and line) the moment one lands.
"""

from __future__ import annotations

import os
import subprocess
import sys

import grimp

from tests.conftest import REPO

PACKAGE = "imgrag_desktop"


def test_import_contracts_are_kept() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                               "sys.exit(lint_imports_command())",
         "--config", str(REPO / ".importlinter"), "--no-cache"],
        capture_output=True, text=True, timeout=300, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, f"lint-imports found broken contracts:\n{proc.stdout[-12000:]}{proc.stderr[-3000:]}"


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return sorted(found)


def _describe(graph: grimp.ImportGraph, component: list[str]) -> str:
    members = set(component)
    lines = [f"{len(component)} modules import each other in a circle:"]
    for importer in component:
        for imported in sorted(graph.find_modules_directly_imported_by(importer) & members):
            where = ", ".join(str(d["line_number"]) for d in graph.get_import_details(importer=importer, imported=imported))
            lines.append(f"  {importer} -> {imported} (l.{where})")
    return "\n".join(lines)


def test_no_import_cycles_between_modules() -> None:
    """Finer than import-linter's acyclic_siblings: a package's __init__ and its own modules
    count too (`search` -> `search.hybrid` -> `search`). Imports inside functions and under
    TYPE_CHECKING count: a cycle postponed to call time is still a cycle in the design."""
    sys.path.insert(0, str(REPO))
    try:
        graph = grimp.build_graph(PACKAGE, cache_dir=None)  # no cache folder in the working tree
    finally:
        sys.path.remove(str(REPO))
    cycles = _cycles(graph)
    assert not cycles, "\n\n".join(_describe(graph, c) for c in cycles)
