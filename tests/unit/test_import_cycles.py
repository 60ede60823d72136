"""No import cycles among sentinel's modules.

Every ``import`` counts, also those inside functions (a deferred import hides a cycle, it does
not remove it), except under ``if TYPE_CHECKING:`` (never executed) and ``if __name__ ==
"__main__":`` (runs only when the file is the program, under the name ``__main__``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import sentinel

PACKAGE = Path(sentinel.__file__).resolve().parent


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if "migrations" in parts:  # Alembic runs these files; nothing imports them
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _skipped(test: ast.expr) -> bool:
    """``if TYPE_CHECKING:`` and ``if __name__ == "__main__":``."""
    if isinstance(test, ast.Name | ast.Attribute):
        return (test.id if isinstance(test, ast.Name) else test.attr) == "TYPE_CHECKING"
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
            and test.left.id == "__name__" and len(test.comparators) == 1
            and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value == "__main__")


def imported_names(source: str, module: str, is_package: bool) -> set[str]:
    """Dotted names a module's source imports (``from a import b`` gives ``a`` and ``a.b``)."""
    names: set[str] = set()

    class Visitor(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:
            if _skipped(node.test):
                for statement in node.orelse:
                    self.visit(statement)
            else:
                self.generic_visit(node)

        def visit_Import(self, node: ast.Import) -> None:
            names.update(alias.name for alias in node.names)

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                anchor = package[:len(package) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)

    Visitor().visit(ast.parse(source))
    return names


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = set()
        for name in imported_names(path.read_text(encoding="utf-8"), module,
                                   path.name == "__init__.py"):
            while name and name not in modules:  # ``a.b.func`` -> the module ``a.b``
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path that returns to its start) per strongly connected group."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def connect(node: str) -> None:  # Tarjan; the package is small enough to recurse
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_cycle_in(graph, group) for group in groups]


def _cycle_in(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    start = min(group)
    paths = [[start]]
    while paths:  # breadth first: the shortest way back to ``start``
        path = paths.pop(0)
        for target in sorted(graph[path[-1]] & group):
            if target == start:
                return [*path, start]
            if target not in path:
                paths.append([*path, target])
    raise AssertionError(f"no cycle through {start} in {sorted(group)}")


def test_the_checker_finds_a_cycle_and_skips_type_checking_and_main_blocks():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []
    source = ("import x.y\nfrom . import sibling\nfrom .z import f\n"
              "def g():\n    from p.q import r\n"
              "if TYPE_CHECKING:\n    from hidden import T\n"
              "if __name__ == '__main__':\n    from cli import app\n")
    assert imported_names(source, "pkg.mod", False) == {
        "x.y", "pkg", "pkg.sibling", "pkg.z", "pkg.z.f", "p.q", "p.q.r"}


def test_sentinel_has_no_import_cycles():
    graph = import_graph()
    assert "sentinel.pipeline" in graph and "sentinel.cli" in graph  # the walk found the package
    cycles = find_cycles(graph)
    assert not cycles, (
        "import cycles in sentinel/: " + "; ".join(" -> ".join(c) for c in cycles)
        + ". Move what both sides need into a module below them (errors.py holds the shared "
        "exceptions), or pass it in as an argument.")


def test_the_stages_never_read_the_settings():
    """Stages take typed options; only entry points and sentinel.options read Settings."""
    graph = import_graph()
    stages = [m for m in graph if m.startswith(("sentinel.alerts", "sentinel.classify"))
              or m == "sentinel.detect"]
    assert "sentinel.classify.stage" in stages and "sentinel.alerts.stage" in stages
    readers = sorted(m for m in stages if graph[m] & {"sentinel.settings", "sentinel.options"})
    assert readers == [], (
        f"{readers} import the settings; take a small frozen options object instead and build "
        "it from Settings in sentinel/options.py")
