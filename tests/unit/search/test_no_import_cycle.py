"""search/ imports one way: the modes, ranking and hits never import the Searcher façade, and
no module of the package reaches itself again through the others (imports inside functions
count too: a deferred import hides a cycle, it does not remove it)."""

from __future__ import annotations

import ast
from pathlib import Path

import imgrag_desktop.search as search

PKG = "imgrag_desktop.search"


def _graph() -> dict[str, set[str]]:
    """Module → the package's modules it imports; a name taken from the package itself is an
    edge to `__init__`, whose lazy names are edges to the modules that define them."""
    root = Path(search.__file__).parent
    mods = {p.stem for p in root.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for m in mods:
        deps: set[str] = set()
        for node in ast.walk(ast.parse((root / f"{m}.py").read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == PKG:
                deps |= {a.name if a.name in mods else "__init__" for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                deps |= {node.module.split(".")[2]} if node.module.startswith(PKG + ".") else set()
            elif isinstance(node, ast.Import):
                deps |= {a.name.split(".")[2] for a in node.names if a.name.startswith(PKG + ".")}
        graph[m] = (deps & mods) - {m}
    graph["__init__"] |= set(search._LAZY.values())
    return graph


def test_search_modules_form_no_cycle() -> None:
    graph = _graph()
    done: set[str] = set()

    def visit(m: str, path: tuple[str, ...]) -> None:
        assert m not in path, f"import cycle: {' -> '.join(path + (m,))}"
        if m in done:
            return
        for d in sorted(graph[m]):
            visit(d, path + (m,))
        done.add(m)

    for m in sorted(graph):
        visit(m, ())


def test_only_the_package_face_names_the_searcher() -> None:
    assert [m for m, deps in _graph().items() if "searcher" in deps] == ["__init__"]
