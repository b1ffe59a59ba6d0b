"""The package's import graph has no cycles, counting imports inside functions too.

An import inside a function hides a cycle from Python (the module is complete by the
time the function runs) but not from a reader: two modules that need each other are
one module in two files. Each ``import`` and ``from ... import`` anywhere in a module is
an edge; ``from pkg import mod`` where ``pkg.mod`` is a module is an edge to ``pkg.mod``
(as pylint's cyclic-import counts it).
"""
from __future__ import annotations

import ast
from pathlib import Path

import s2s_plugin

ROOT = Path(s2s_plugin.__file__).parent


def module_files() -> dict[str, Path]:
    mods = {}
    for p in ROOT.rglob("*.py"):
        parts = p.relative_to(ROOT.parent).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return mods


def import_graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    def known(name: str) -> str:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [known(a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else known(base) for a in node.names]
            else:
                continue
            graph[mod] |= {t for t in targets if t.startswith("s2s_plugin.") and t != mod}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def test_the_cycle_finder_finds_a_cycle_through_a_function_import():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    found = cycles(import_graph(module_files()))
    assert not found, "import cycles (move what both sides need to a module of their own): " + "; ".join(
        " <-> ".join(c) for c in found)


def test_data_modules_do_not_reach_back_to_config():
    """data/ is below config: config reads YAML into dataclasses, data/ reads and writes data dirs."""
    graph = import_graph(module_files())
    back = sorted(m for m, deps in graph.items() if m.startswith("s2s_plugin.data") and "s2s_plugin.config" in deps)
    assert not back, f"modules of s2s_plugin.data importing s2s_plugin.config: {back}"
