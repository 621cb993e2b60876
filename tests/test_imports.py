"""No import cycles inside the smartmining package (issue 13 item 5).

The graph is read from the source, not from a running interpreter: every ``import`` statement of every
module (top level or inside a function, but not under ``if TYPE_CHECKING:``) is an edge from the
module to the smartmining module it names; ``from package import name`` points at ``package.name``
when that is a module, else at the package. A package's ``__init__`` importing its own modules is an
edge like any other; the implicit import of a parent package is not (Python handles that one).
"""

from __future__ import annotations

import ast
from pathlib import Path

import smartmining

PACKAGE = "smartmining"


def _modules() -> dict[str, Path]:
    """Every module of the package: dotted name -> source file (packages map to their __init__.py)."""
    root = Path(smartmining.__file__).parent
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = (PACKAGE, *path.relative_to(root).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """The ids of nodes inside ``if TYPE_CHECKING:`` blocks."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for body in node.body for child in ast.walk(body))
    return skipped


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module name a ``from X import ...`` statement reads from."""
    if node.level == 0:
        return node.module or ""
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        skipped = _type_checking_nodes(tree)
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                source = _resolve(name, path.name == "__init__.py", node)
                targets = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                           for alias in node.names]
            for target in targets:
                # "import smartmining.a.b" names a.b; keep the longest prefix that is a module.
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target.startswith(PACKAGE) and target != name:
                    graph[name].add(target)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_cycle_finder_finds_a_planted_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert find_cycles(graph) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_graph_sees_the_data_package() -> None:
    graph = import_graph()
    assert "smartmining.data.registry" in graph["smartmining.data.glyphs"]
    assert {"smartmining.data.glyphs", "smartmining.data.imagefolder",
            "smartmining.data.paper_datasets"} <= graph["smartmining.data"]
    # The registry is imported by the dataset modules and imports none of them.
    assert not {m for m in graph["smartmining.data.registry"]
                if m in ("smartmining.data.glyphs", "smartmining.data.imagefolder", "smartmining.data.paper_datasets")}


def test_no_import_cycles_in_the_package() -> None:
    assert find_cycles(import_graph()) == []
