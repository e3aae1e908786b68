"""The package's import graph: no cycle between any two modules, and the layers the docs draw.

`lint-imports` (run by .ci/run) keeps the contracts in pyproject.toml. This test
checks the strictest form of "no cycle" on the module graph itself, every
import counted (inside functions, under ``TYPE_CHECKING``, a package's
``__init__``), and names each import of a cycle by file and line so the
owner of the module can break it.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator, Mapping, Set
from pathlib import Path
from typing import Any

import grimp

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "crewstream_testing"


def importlinter_config() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        config: dict[str, Any] = tomllib.load(file)["tool"]["importlinter"]
    return config


def import_graph() -> grimp.ImportGraph:
    return grimp.build_graph(PACKAGE, exclude_type_checking_imports=False, cache_dir=None)


def strongly_connected(edges: Mapping[str, Set[str]]) -> Iterator[list[str]]:
    """Tarjan's components of more than one module (and modules importing themselves)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
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
                if len(component) > 1 or node in edges[node]:
                    yield sorted(component)


def relative(module: str) -> str:
    return str(Path(*module.split("."))) + ".py"


def layer_index() -> dict[str, int]:
    """Each layer's top-level name (``plugin``, ``contract``...) -> its rank, 0 the highest."""
    ranks = {}
    for rank, layer in enumerate(layers_contract()):
        for name in re.split(r"[|:]", layer):
            ranks[name.strip().strip("()")] = rank
    return ranks


def rank(module: str, ranks: Mapping[str, int]) -> int | None:
    parts = module.split(".")
    return ranks.get(parts[1]) if len(parts) > 1 else None


def describe(graph: grimp.ImportGraph, component: list[str]) -> list[str]:
    """The imports of one cycle as ``path:line: import text``, those against the layers first."""
    ranks = layer_index()
    upward: list[str] = []
    other: list[str] = []
    members = set(component)
    for importer in component:
        for imported in sorted(graph.find_modules_directly_imported_by(importer) & members):
            low, high = rank(importer, ranks), rank(imported, ranks)
            against = low is not None and high is not None and low > high
            for detail in graph.get_import_details(importer=importer, imported=imported):
                text = (
                    f"    {relative(importer)}:{detail['line_number']}: "
                    f"{detail['line_contents'].strip()}"
                )
                (upward if against else other).append(text)
    lines = []
    if upward:
        lines += ["  against the layers (a lower step importing a higher one):", *upward]
    if other:
        lines += ["  the rest of the cycle:" if upward else "  its imports:", *other]
    return lines


def test_no_import_cycle_between_any_two_modules() -> None:
    graph = import_graph()
    modules = {m for m in graph.modules if m == PACKAGE or m.startswith(PACKAGE + ".")}
    edges = {m: graph.find_modules_directly_imported_by(m) & modules for m in modules}
    assert len(modules) > 20
    report = []
    for component in strongly_connected(edges):
        report.append(f"cycle through {len(component)} modules: {', '.join(component)}")
        report.extend(describe(graph, component))
    assert not report, (
        "the package's modules import each other in a circle; break it by handing the lower "
        "module what it needs (hooks, routes, a Protocol) instead of importing the higher one "
        "(layers: docs/architecture.md):\n" + "\n".join(report)
    )


def test_the_graph_counts_type_checking_and_function_level_imports() -> None:
    assert importlinter_config()["exclude_type_checking_imports"] is False
    graph = import_graph()
    nested = []
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        importer = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        if importer not in graph.modules:
            continue  # a folder without __init__.py is not part of the package
        for node in ast.walk(ast.parse(path.read_text())):
            # an indented import: inside a function, a class or an `if TYPE_CHECKING:` block
            if isinstance(node, ast.ImportFrom) and node.col_offset > 0 and node.level == 0:
                module = node.module or ""
                if module.split(".")[0] == PACKAGE:
                    names = {f"{module}.{alias.name}" for alias in node.names}
                    nested.append((importer, node.lineno, {module} | names))
    assert len(nested) > 5
    missing = [
        f"{relative(importer)}:{line}"
        for importer, line, candidates in nested
        if not graph.find_modules_directly_imported_by(importer) & candidates
    ]
    assert not missing, f"imports the graph does not see: {missing}"


def layers_contract() -> list[str]:
    contracts = importlinter_config()["contracts"]
    (layers,) = [c for c in contracts if c["type"] == "layers"]
    assert layers["containers"] == [PACKAGE]
    assert layers["exhaustive"] is True
    return [str(layer) for layer in layers["layers"]]


def test_docs_architecture_draws_the_contract_layers() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text()
    block = re.search(
        r"<!-- layers: begin -->\n```text\n(.*?)```\n<!-- layers: end -->", page, re.S
    )
    assert block, "docs/architecture.md has lost its layers block"
    drawn = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    assert [line for line in drawn if line] == layers_contract(), (
        "docs/architecture.md and [tool.importlinter] in pyproject.toml disagree on the layers: "
        "change both together"
    )
