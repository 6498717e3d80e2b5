"""The package layout's one-way arrows (README, "Architecture"), read from the source with ast.

Deferred imports inside functions count too: an arrow is an arrow whenever it is followed.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "rlhf_edu"

#: package -> the packages of ours it may import (besides itself)
ALLOWED = {
    "utils": set(),
    "data": set(),
    "envs": {"utils"},
    "core": {"utils"},
    "tabular": {"utils", "envs", "core"},
    "neural": {"utils", "envs", "core", "data"},
    "rlhf": {"utils", "core", "neural", "data"},
    "viz": {"utils", "envs", "core", "tabular", "neural", "rlhf"},
    "grading": {"utils"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The ``rlhf_edu`` modules a file imports (anywhere in it)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("rlhf_edu")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith("rlhf_edu"):
                found.add(node.module)
                # "from rlhf_edu.rlhf import generation" imports a module too
                found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def library_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def package_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_package_imports_only_the_packages_below_it(package):
    upward = {}
    for path in (PACKAGE / package).rglob("*.py"):
        for target in imports_of(path):
            other = package_of(target)
            if other is not None and other != package and other not in ALLOWED[package]:
                upward.setdefault(module_name(path), set()).add(target)
    assert not upward, f"{package} imports upward: {upward}"


def test_no_import_cycles_between_modules_outside_grading():
    modules = {module_name(p): p for p in library_files()}
    graph = {}
    for name, path in modules.items():
        if name.startswith("rlhf_edu.grading"):
            continue  # owned and checked by the grading track
        graph[name] = {t for t in imports_of(path) if t in modules and t != name}
    # a package __init__ that re-exports its modules points down, not across: skip those edges
    graph = {n: {t for t in ts if not n.startswith(t + ".")} for n, ts in graph.items()}
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, f"import cycles: {cycles}"
