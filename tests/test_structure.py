"""The shape of the house, checked so it stays true.

No import cycle anywhere in probe/, imports that reach another module through
sys.path, or module, function or class past the sizes a reader can hold in
mind. Built from the source with `ast`: nothing is imported or run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "probe"

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
MAX_CLASS_LINES = 250


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imported(name: str, path: Path) -> set[str]:
    """The probe modules `name` imports, at module level or inside functions.

    Imports under `if TYPE_CHECKING:` count too: a cycle hidden from the
    interpreter is still a cycle for the reader.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for imported in names:
            module = imported
            while module and module not in MODULES:
                module = module.rpartition(".")[0]
            if module and module != name:
                out.add(module)
    return out


def _graph() -> dict[str, set[str]]:
    # A package's __init__ importing its own submodules is how packages export;
    # a submodule reaching its package __init__ is the edge that can cycle.
    return {name: {dep for dep in _imported(name, path) if not dep.startswith(name + ".")}
            for name, path in MODULES.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep):], dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_import_graph_has_no_cycle() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def _python_files() -> Iterator[Path]:
    for folder in ("probe", "tests", "lab", "bench", "grafana", "prometheus"):
        yield from sorted((ROOT / folder).rglob("*.py"))


def _edits_sys_path(path: Path) -> bool:
    """A call of sys.path.insert / append / extend anywhere in the file."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("insert", "append", "extend")
                and ast.unparse(node.func.value) == "sys.path"):
            return True
    return False


def test_no_module_reaches_another_through_sys_path() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in _python_files() if _edits_sys_path(p)]
    assert offenders == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_sizes_a_reader_can_hold(name: str) -> None:
    path = MODULES[name]
    source = path.read_text()
    problems = []
    lines = len(source.splitlines())
    if lines > MAX_MODULE_LINES:
        problems.append(f"module has {lines} lines (at most {MAX_MODULE_LINES})")
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            size = (node.end_lineno or node.lineno) - node.lineno + 1
            limit = MAX_CLASS_LINES if isinstance(node, ast.ClassDef) else MAX_FUNCTION_LINES
            if size > limit:
                problems.append(f"{node.name} at line {node.lineno} has {size} lines "
                                f"(at most {limit})")
    assert problems == [], f"{path.relative_to(ROOT)}: " + "; ".join(problems)
