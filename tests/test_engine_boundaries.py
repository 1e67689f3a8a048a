"""The shape the README promises: the engine never imports Gradio, and no module imports itself
back through others (every import, lazy ones inside functions included, forms a DAG)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_engine_and_cli_import_without_gradio():
    code = ("import sys, studio.engine.train.job, studio.engine.data.formats, studio.engine.runs, "
            "studio.cli; import importlib, pkgutil, studio.engine as e\n"
            "for m in pkgutil.walk_packages(e.__path__, 'studio.engine.'):\n"
            "    importlib.import_module(m.name)\n"
            "print('gradio' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """studio module -> the studio modules it imports anywhere in its source."""
    modules = {module_name(p): p for p in (ROOT / "studio").rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt, [*path, nxt])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


def test_no_import_cycles_even_through_lazy_imports():
    assert find_cycle(import_graph()) is None


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]


def test_errors_is_a_leaf_and_the_engine_never_imports_the_ui():
    graph = import_graph()
    assert graph["studio.engine.errors"] == set()
    leaks = {m: sorted(d for d in deps if d.startswith("studio.ui"))
             for m, deps in graph.items() if m.startswith("studio.engine")}
    assert {m: d for m, d in leaks.items() if d} == {}


@pytest.mark.parametrize("package", ["engine", "ui"])
def test_package_inits_hold_no_code(package):
    """Package ``__init__`` files only describe their package: no facade re-exports."""
    for init in (ROOT / "studio" / package).rglob("__init__.py"):
        body = ast.parse(init.read_text(encoding="utf-8")).body
        assert all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)
                   for n in body), init
