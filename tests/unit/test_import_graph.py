"""The house stands in floors: the import graph of edgeproof, read with ``ast`` (imports
inside functions and under ``TYPE_CHECKING`` included), has no loop, no import that breaks
a floor, no private name taken from another module, and no import inside a function that
does not say why (``# cost: ...``)."""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("testbeds", "faults", "workloads", "harness")
LEAF = "harness.errors"
# what each floor may import of edgeproof (besides itself and the errors leaf)
FLOORS = {"testbeds": set(), "faults": {"testbeds"}, "workloads": set(),
          "harness": {"testbeds", "faults", "workloads"}}


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    line: int
    in_function: bool
    names: tuple[str, ...]
    commented: bool


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            out[module_name(path)] = path
    return out


MODULES = modules()


def ours(name: str) -> bool:
    return name.split(".")[0] in PACKAGES


def resolve(base: str, name: str) -> str:
    """``from base import name``: the submodule base.name if it is one, else base."""
    sub = f"{base}.{name}"
    return sub if sub in MODULES else base


class Collector(ast.NodeVisitor):
    """Every import of one module, with whether it sits inside a function."""

    def __init__(self, module: str, lines: list[str]) -> None:
        self.module = module
        self.lines = lines
        self.depth = 0
        self.edges: list[Edge] = []

    def _commented(self, node: ast.stmt) -> bool:
        here = self.lines[node.lineno - 1]
        before = self.lines[node.lineno - 2] if node.lineno > 1 else ""
        return "# cost" in here or before.strip().startswith("# cost")

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.edges.append(Edge(self.module, alias.name, node.lineno, self.depth > 0,
                                   (), self._commented(node)))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:  # relative: from the package of this module
            pkg = self.module.split(".")
            if MODULES[self.module].name != "__init__.py":
                pkg = pkg[:-1]
            pkg = pkg[: len(pkg) - node.level + 1]
            base = ".".join([*pkg, *([base] if base else [])])
        names = tuple(a.name for a in node.names)
        targets = {resolve(base, n) for n in names} if ours(base) else {base}
        for dst in sorted(targets):
            picked = tuple(n for n in names if resolve(base, n) == dst or dst == base)
            self.edges.append(Edge(self.module, dst, node.lineno, self.depth > 0, picked,
                                   self._commented(node)))


def edges() -> list[Edge]:
    out = []
    for mod, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        c = Collector(mod, text.splitlines())
        c.visit(ast.parse(text, filename=str(path)))
        out += c.edges
    return out


EDGES = edges()


def where(e: Edge) -> str:
    return f"{MODULES[e.src].relative_to(ROOT)}:{e.line} imports {e.dst}"


def test_the_graph_was_read() -> None:
    assert len(MODULES) > 40 and len(EDGES) > 100
    assert any(e.dst == "testbeds.spec" for e in EDGES)


def test_floors_hold() -> None:
    bad = []
    for e in EDGES:
        if not ours(e.dst) or e.dst == LEAF:
            continue
        src_floor, dst_floor = e.src.split(".")[0], e.dst.split(".")[0]
        if dst_floor != src_floor and dst_floor not in FLOORS[src_floor]:
            bad.append(where(e))
    assert not bad, "imports that break the floors:\n" + "\n".join(bad)


def test_the_errors_leaf_imports_nothing_of_edgeproof() -> None:
    assert [where(e) for e in EDGES if e.src == LEAF and ours(e.dst)] == []
    assert [where(e) for e in EDGES if e.src == "harness" and ours(e.dst)] == []


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_loop() -> None:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for e in EDGES:
        if ours(e.dst) and e.dst in MODULES:
            graph[e.src].add(e.dst)
    assert cycles(graph) == []


def test_cycle_finder_finds_a_loop() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_private_name_crosses_a_module() -> None:
    bad = [where(e) + f" ({', '.join(n for n in e.names if n.startswith('_'))})"
           for e in EDGES if ours(e.dst) and e.dst != e.src
           and any(n.startswith("_") and not n.startswith("__") for n in e.names)]
    assert not bad, "private names imported from another module:\n" + "\n".join(bad)


def test_imports_inside_functions_say_why() -> None:
    bad = [where(e) for e in EDGES if e.in_function and not e.commented]
    assert not bad, ("imports inside a function without a '# cost: ...' reason (move them "
                     "to the top, or say why they wait):\n" + "\n".join(bad))


@pytest.mark.parametrize("leaf", ["harness.errors"])
def test_importing_the_leaf_runs_nothing_else(leaf: str) -> None:
    code = (f"import sys, {leaf}; print(sorted(m for m in sys.modules "
            f"if m.split('.')[0] in {PACKAGES!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip() == repr(sorted({"harness", leaf}))
