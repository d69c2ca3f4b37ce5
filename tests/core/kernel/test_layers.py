"""The layers of ``gridlinks.core`` hold: read every module's imports with ``ast`` (those
inside ``if TYPE_CHECKING:`` and inside functions count too: a cycle that only a type
checker sees still means two modules cannot be understood one without the other).

- no import cycle among core modules;
- the core never imports ``gridlinks.plugins`` or ``gridlinks.web``;
- storage (``core/storage/``) knows nothing of the services;
- the kernel (the modules at the top of ``core/``) does not import the services, except
  ``hub.py``, whose job is to wire them.

A parent package's ``__init__`` that Python runs on the way to a submodule is not counted
as an import: only what a module names.
"""

from __future__ import annotations

import ast
from pathlib import Path

import gridlinks.core

CORE = Path(gridlinks.core.__file__).resolve().parent
PACKAGE = "gridlinks.core"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(CORE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


def _imported(tree: ast.AST, module: str, is_package: bool, modules: set[str]) -> set[str]:
    """Every dotted name ``module`` imports: ``from a import b`` is ``a.b`` when that is a
    module (``a`` then only runs on the way, as a parent package), else ``a``."""
    base = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                source = f"{anchor}.{node.module}" if node.module else anchor
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                names.add(submodule if submodule in modules else source)
    return names


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in CORE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        imported = _imported(ast.parse(path.read_text(), str(path)), module, path.name == "__init__.py",
                             set(files))
        graph[module] = imported
    return graph


def _core_edges(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Edges between core modules only (a name that is not a module is dropped)."""
    return {m: {n for n in names if n in graph and n != m} for m, names in graph.items()}


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
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

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def _layer(module: str) -> str:
    rest = module.removeprefix(PACKAGE + ".")
    if rest in ("", PACKAGE):
        return "kernel"
    head = rest.split(".")[0]
    return head if head in ("storage", "services", "cli") else "kernel"


def test_the_graph_sees_every_layer():
    """Guard against a test that passes because it read nothing."""
    graph = _graph()
    layers = {_layer(m) for m in graph}
    assert {"kernel", "storage", "services", "cli"} <= layers
    assert "gridlinks.core.services.devices" in _core_edges(graph)["gridlinks.core.hub"]


def test_no_import_cycle_in_core():
    cycles = _cycles(_core_edges(_graph()))
    assert cycles == [], "import cycles in core/ (type-only imports count): " + "; ".join(
        " <-> ".join(c) for c in cycles)


def test_core_never_imports_plugins_or_web():
    offenders = sorted(f"{m} imports {n}" for m, names in _graph().items() for n in names
                       if n.startswith(("gridlinks.plugins", "gridlinks.web")))
    assert offenders == []


def test_storage_knows_nothing_of_services():
    edges = _core_edges(_graph())
    offenders = sorted(f"{m} imports {n}" for m, names in edges.items() if _layer(m) == "storage"
                       for n in names if _layer(n) in ("services", "cli"))
    assert offenders == []


def test_kernel_does_not_import_services_except_the_hub():
    edges = _core_edges(_graph())
    offenders = sorted(f"{m} imports {n}" for m, names in edges.items()
                       if _layer(m) == "kernel" and m != f"{PACKAGE}.hub"
                       for n in names if _layer(n) in ("services", "cli"))
    assert offenders == []


def test_services_do_not_import_the_hub_or_the_cli():
    edges = _core_edges(_graph())
    offenders = sorted(f"{m} imports {n}" for m, names in edges.items() if _layer(m) == "services"
                       for n in names if n == f"{PACKAGE}.hub" or _layer(n) == "cli")
    assert offenders == []
