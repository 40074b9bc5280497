"""Finds import circles among the modules of the core and of each plugin.

Run from the repository's root, with nothing installed::

    $ python scripts/import_cycles.py
    no import cycles in alligator, alligator_locmem, alligator_redis, alligator_sqlite

It prints each cycle as a chain of module names and exits with status 1 when
there is one. Only what runs when a module is imported counts: an import at
module level (in an ``if``, ``try`` or class body too), not one inside a
function, nor one under ``if TYPE_CHECKING:``. Each package (``alligator``,
each plugin) is read on its own, with :mod:`ast`: nothing is imported.

How an import names a module:

* ``import a.b`` is module ``a.b``;
* ``from a import b`` is module ``a.b`` when that is a module, else ``a``;
* a package stands for its ``__init__.py`` (module ``a``). Importing ``a.b``
  also runs ``a/__init__.py`` first, but that edge is left out: every module
  of a package whose ``__init__`` re-exports it would be in a circle with it,
  and Python resolves that one (the package is in ``sys.modules`` before its
  modules run).

``tests/test_module_rules.py`` runs :func:`find_cycles` on every package.
"""

from __future__ import annotations

import ast
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def package_dirs(root: Path = ROOT) -> dict[str, Path]:
    """The packages checked: the core's and each plugin's, by import name."""
    found = {"alligator": root / "alligator_core" / "src" / "alligator"}
    for init in sorted(root.glob("plugins/*/src/*/__init__.py")):
        found[init.parent.name] = init.parent
    return found


def modules_of(package: str, directory: Path) -> dict[str, Path]:
    """Every module of a package, by dotted name (a package's name for its ``__init__.py``)."""
    modules: dict[str, Path] = {}
    for path in sorted(directory.rglob("*.py")):
        parts = [package, *path.relative_to(directory).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_time_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements that run when the module is imported: not those of functions or TYPE_CHECKING."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        yield node
        if isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _import_time_statements(node.body)
            yield from _import_time_statements(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                yield from _import_time_statements(block)
            for handler in node.handlers:
                yield from _import_time_statements(handler.body)
        elif isinstance(node, (ast.With, ast.For, ast.While, ast.ClassDef)):
            yield from _import_time_statements(node.body)


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of ``modules`` that module ``name`` (at ``path``) imports when it is imported."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in _import_time_statements(tree.body):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                # A relative import: from the package this module is in.
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in modules else base)
    return {module for module in found if module in modules and module != name}


def import_graph(package: str, directory: Path) -> dict[str, set[str]]:
    """Each module of the package, with the modules of the package it imports at import time."""
    modules = modules_of(package, directory)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components of more than one module (each sorted), iteratively."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
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
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def _shortest_cycle(graph: dict[str, set[str]], start: str, within: set[str]) -> list[str]:
    """The shortest chain ``start -> ... -> start`` inside one component."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node] & within):
                if child == start:
                    chain = [node]
                    while chain[-1] != start:
                        chain.append(previous[chain[-1]])
                    return [*reversed(chain), start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"{start} is in no cycle")  # every member of a component is


def find_cycles(package: str, directory: Path) -> list[list[str]]:
    """The import cycles of a package, each as a chain of module names that ends where it starts.

    One chain per module in a circle (its shortest way back to itself), the
    same chain once however many of its modules it passes through.
    """
    graph = import_graph(package, directory)
    cycles: list[list[str]] = []
    seen: set[frozenset[tuple[str, str]]] = set()
    for component in _strongly_connected(graph):
        for start in component:
            chain = _shortest_cycle(graph, start, set(component))
            key = frozenset(itertools.pairwise(chain))
            if key not in seen:
                seen.add(key)
                cycles.append(chain)
    return cycles


def main() -> int:
    """Prints every cycle of every package; 1 if there is one."""
    status = 0
    packages = package_dirs()
    for package, directory in packages.items():
        for chain in find_cycles(package, directory):
            print(f"{package}: import cycle: {' -> '.join(chain)}")
            status = 1
    if not status:
        print(f"no import cycles in {', '.join(packages)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
