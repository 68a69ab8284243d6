"""The project's import graph, read from the source with ``ast`` (nothing is imported), and the
three layout rules checked on it (see the README's layout section):

- apps import downward only: core < audit < accounts < connections < provisioning (config, which
  wires them together, sits above them all and no app imports it);
- no module imports another that (directly or not) imports it back;
- only the SAML adapter and the development IdP beside it import pysaml2.

Every import counts, also one inside a function: a lazy import still ties the two modules.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

LAYERS = ("core", "audit", "accounts", "connections", "provisioning")  # lowest first
TOP = "config"
SAML2_IMPORTERS = frozenset({"connections.saml", "connections.dev_idp_saml"})
SKIPPED_DIRS = frozenset({".venv", ".git", "node_modules", "__pycache__", "var"})


@dataclass(frozen=True)
class Edge:
    source: str  # the importing module
    target: str  # the imported project module, or the top-level name of a library
    path: str  # the importing file, relative to the root
    line: int

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def module_files(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file under the given top-level folders."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            if SKIPPED_DIRS & set(path.relative_to(root).parts):
                continue
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _resolve(name: str, modules: dict[str, Path]) -> str:
    """The longest prefix of ``name`` that is a project module, or its top-level name."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return parts[0]


def edges_of(module: str, path: Path, root: Path, modules: dict[str, Path]) -> Iterator[Edge]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    relative = str(path.relative_to(root))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Edge(module, _resolve(alias.name, modules), relative, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.module == "__future__":
                continue
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # ``from connections import saml`` imports the module connections.saml.
                full = f"{base}.{alias.name}"
                target = full if full in modules else _resolve(base, modules)
                yield Edge(module, target, relative, node.lineno)


def import_graph(root: Path, packages: Iterable[str]) -> list[Edge]:
    modules = module_files(root, packages)
    return [
        edge
        for module, path in modules.items()
        for edge in edges_of(module, path, root, modules)
        if edge.target != module
    ]


def _app(module: str) -> str:
    return module.split(".")[0]


def upward_imports(edges: Iterable[Edge]) -> list[str]:
    """An app importing one above it (or config): one line per offending import."""
    rank = {app: index for index, app in enumerate(LAYERS)}
    order = " < ".join(LAYERS)
    found = []
    for edge in edges:
        source, target = _app(edge.source), _app(edge.target)
        if source not in rank or source == target:
            continue
        if target == TOP or (target in rank and rank[target] > rank[source]):
            found.append(
                f"{edge.where}: {edge.source} imports {edge.target}, but {source} may not "
                f"import {target} (apps import downward only: {order}; {TOP} above them all)"
            )
    return found


def import_cycles(edges: Iterable[Edge]) -> list[str]:
    """Each cycle between project modules, as ``a -> b -> a`` with where each import is."""
    edges = list(edges)
    modules = {edge.source for edge in edges}
    graph: dict[str, dict[str, Edge]] = {module: {} for module in modules}
    for edge in edges:
        if edge.target in modules:
            graph[edge.source].setdefault(edge.target, edge)
    found = []
    for component in _strongly_connected(graph):
        if len(component) < 2:
            continue
        cycle = _a_cycle_in(component, graph)
        hops = ", ".join(
            f"{graph[a][b].where} ({a} -> {b})" for a, b in zip(cycle, cycle[1:], strict=False)
        )
        found.append(f"import cycle {' -> '.join(cycle)}: {hops}")
    return found


def _strongly_connected(graph: dict[str, dict[str, Edge]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (a long import chain must not hit the recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            advanced = False
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    advanced = True
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def _a_cycle_in(component: list[str], graph: dict[str, dict[str, Edge]]) -> list[str]:
    """A shortest cycle through the component's first module (breadth-first inside it)."""
    members = set(component)
    start = component[0]
    previous: dict[str, str] = {}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for successor in sorted(graph[node]):
            if successor not in members:
                continue
            if successor == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if successor not in previous:
                previous[successor] = node
                queue.append(successor)
    raise AssertionError(f"no cycle found in the component {component}")


def saml2_imports(edges: Iterable[Edge]) -> list[str]:
    return [
        f"{edge.where}: {edge.source} imports saml2, but only "
        f"{' and '.join(sorted(SAML2_IMPORTERS))} may (the adapter and the development IdP)"
        for edge in edges
        if edge.target == "saml2" and edge.source not in SAML2_IMPORTERS
    ]
