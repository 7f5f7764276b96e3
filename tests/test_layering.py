"""The layering of `btm/` and `flows/`: imports run downward only, with no circle, not
even through an import placed inside a function; `btm/` never imports Prefect or the
flows, but for `btm/cli.py` inside the functions of the commands that start a flow run
(and `sources check`, which reads Prefect Secret blocks); importing `flows` changes
nothing."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _modules() -> dict[str, Path]:
    found = {}
    for base in ("btm", "flows"):
        for path in (ROOT / base).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


ImportNode = ast.Import | ast.ImportFrom


def _imports(name: str, path: Path, tree: ast.AST | None = None) -> list[tuple[str, ImportNode]]:
    """Every module `name` imports, with the node, in functions too; `from pkg import m`
    counts as importing `pkg.m` when that is a module, and re-exports through a package's
    `__init__` count as the package's own imports."""
    found: list[tuple[str, ImportNode]] = []
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = tree or ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found.append((base, node))
            found += [(f"{base}.{alias.name}", node) for alias in node.names]
    return found


def _graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for name, path in MODULES.items():
        for target, _ in _imports(name, path):
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                edges[name].add(target)
    return edges


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
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
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(edges[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_no_import_circle_in_btm_or_flows() -> None:
    assert _circles(_graph()) == []


def test_the_check_finds_a_circle_it_is_shown() -> None:
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _enclosing_functions(tree: ast.AST) -> dict[ast.AST, str]:
    owner: dict[ast.AST, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                owner.setdefault(inner, node.name)
    return owner


# The `btm` commands that start a flow run (and so import flows/Prefect), and the one
# that reads Prefect Secret blocks to try a source's credentials.
FLOW_DOORS = {"_quarterly_cycle", "demo", "pulse", "refresh", "sources_check", "survey_remind"}


@pytest.mark.parametrize("name", sorted(m for m in MODULES if m.startswith("btm")))
def test_btm_never_imports_prefect_or_the_flows(name: str) -> None:
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    owners = _enclosing_functions(tree)
    for target, node in _imports(name, path, tree):
        if target.split(".")[0] not in ("prefect", "flows", "prefect_email"):
            continue
        assert name == "btm.cli", f"{name} imports {target} (line {node.lineno})"
        assert owners.get(node) in FLOW_DOORS, (
            f"btm/cli.py imports {target} outside the commands that start a flow run "
            f"(line {node.lineno})"
        )


def test_importing_btm_and_flows_installs_nothing_and_sets_nothing() -> None:
    """Importing every module leaves the environment and btm's globals as they were."""
    code = (
        "import os, importlib, sys; before = dict(os.environ);"
        f"names = {sorted(MODULES)!r};"
        "[importlib.import_module(n) for n in names];"
        "changed = sorted(k for k in set(os.environ) | set(before)"
        " if os.environ.get(k) != before.get(k));"
        "print(changed)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"
