"""Layering rules, checked on the source: backends stay in warehouse/, the pipeline names none, no import circles."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from salestalk import REPO_ROOT

PACKAGE = REPO_ROOT / "plugins" / "salestalk"
WAREHOUSE = PACKAGE / "warehouse"
BACKEND_LIBRARIES = ("duckdb", "snowflake", "fakesnow")
BACKEND_MODULES = (
    "salestalk.warehouse.duckdb",
    "salestalk.warehouse.snowflake",
    "salestalk.warehouse.snowflake_hook",
)
BACKEND_NAMES = {"duckdb", "snowflake"}


def python_files(*roots: Path) -> list[Path]:
    files = sorted(p for root in roots for p in root.rglob("*.py"))
    assert files, roots
    return files


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT / "plugins").with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.AST) -> list[tuple[int, str]]:
    """Every absolute import in a module (inside functions and TYPE_CHECKING blocks too)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def outside_warehouse() -> list[Path]:
    return [p for p in python_files(PACKAGE, REPO_ROOT / "dags") if WAREHOUSE not in p.parents]


def test_no_module_outside_warehouse_imports_a_backend() -> None:
    offences = []
    for path in outside_warehouse():
        for line, name in imported(ast.parse(path.read_text())):
            root = name.split(".")[0]
            if root in BACKEND_LIBRARIES or any(
                name == m or name.startswith(m + ".") for m in BACKEND_MODULES
            ):
                offences.append(f"{path.relative_to(REPO_ROOT)}:{line}: imports {name}")
    assert not offences, "\n".join(offences)


def test_no_module_outside_warehouse_branches_on_a_backend_name() -> None:
    """No comparison, membership test or match case against 'duckdb' or 'snowflake'."""
    offences = []
    for path in outside_warehouse():
        for node in ast.walk(ast.parse(path.read_text())):
            operands = []
            if isinstance(node, ast.Compare):
                operands = [node.left, *node.comparators]
            elif isinstance(node, ast.MatchValue):
                operands = [node.value]
            for operand in operands:
                values = [operand, *getattr(operand, "elts", [])]
                if any(isinstance(v, ast.Constant) and str(v.value).lower() in BACKEND_NAMES for v in values):
                    offences.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    assert not offences, "compares to a backend name: " + ", ".join(offences)


def test_the_checks_catch_what_they_look_for() -> None:
    tree = ast.parse("def f(d):\n    import duckdb\n    return d.name == 'snowflake'\n")
    assert (2, "duckdb") in imported(tree)
    assert any(isinstance(n, ast.Compare) for n in ast.walk(tree))


def test_the_pipeline_names_no_backend_and_the_backends_import_nothing_from_it() -> None:
    assert not re.search(r"duckdb|snowflake", (PACKAGE / "pipeline.py").read_text(), re.IGNORECASE)
    for path in python_files(WAREHOUSE):
        names = [name for _, name in imported(ast.parse(path.read_text()))]
        assert not [n for n in names if n.startswith("salestalk.pipeline")], path


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in python_files(PACKAGE)}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        for _, target in imported(ast.parse(path.read_text())):
            while target and target not in files:
                target = target.rpartition(".")[0]
            # A module's own package (its __init__) runs first anyway; it is not an edge back.
            if target and target != name and not name.startswith(target + "."):
                graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles() -> None:
    graph = import_graph()
    assert len(graph) > 40 and "salestalk.pipeline" in graph
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_circle_through_a_type_checking_import() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]
    tree = ast.parse(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from salestalk.pipeline import X\n"
    )
    assert (3, "salestalk.pipeline") in imported(tree)
