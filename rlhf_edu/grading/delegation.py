"""Exercises a notebook hands over to the course's own reference instead of writing them.

The references of the exercises ship in ``rlhf_edu`` (the graded tests compare against them), so
an exercise cell could simply import one. ``delegated_exercises`` reads the notebook's code (it
runs nothing) and flags an exercise whose function is

- not defined by a ``def`` in the notebook (imported, or assigned from something else), or
- defined, but with a body that only calls a function of the same name taken from ``rlhf_edu``
  (``return estimate_success_rate(...)`` after ``from rlhf_edu... import ... as ...``).

Copying the reference's source by hand stays possible, as in any course whose solutions are
public; course/INSTRUCTORS.md says so.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from rlhf_edu.grading.dependencies import to_python


def _parse(sources: Iterable[str]) -> list[ast.stmt]:
    body: list[ast.stmt] = []
    for source in sources:
        try:
            body += ast.parse(to_python(source)).body
        except (SyntaxError, ValueError, RecursionError):
            continue
    return body


def _rlhf_edu_names(body: list[ast.stmt]) -> tuple[dict[str, str], set[str]]:
    """``{local name: original name}`` imported from rlhf_edu, and module aliases of rlhf_edu."""
    names, modules = {}, set()
    for node in ast.walk(ast.Module(body=body, type_ignores=[])):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "rlhf_edu":
            for alias in node.names:
                names[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "rlhf_edu":
                    modules.add(alias.asname or alias.name.split(".")[0])
    return names, modules


def _called_name(call: ast.expr, names: dict[str, str], modules: set[str]) -> str | None:
    """The rlhf_edu function a call expression calls, if it is one."""
    if not isinstance(call, ast.Call):
        return None
    func = call.func
    if isinstance(func, ast.Name) and func.id in names:
        return names[func.id]
    if isinstance(func, ast.Attribute):
        root = func.value
        while isinstance(root, ast.Attribute):
            root = root.value
        if isinstance(root, ast.Name) and (root.id in modules or root.id in names):
            return func.attr
    return None


def _only_calls_reference(
    node: ast.FunctionDef | ast.AsyncFunctionDef, names: dict[str, str], modules: set[str]
) -> bool:
    body = list(node.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    body = [s for s in body if not isinstance(s, (ast.Import, ast.ImportFrom, ast.Pass))]
    if len(body) != 1 or not isinstance(body[0], (ast.Return, ast.Expr)):
        return False
    return _called_name(body[0].value, names, modules) == node.name


def delegated_exercises(sources: Iterable[str], functions: dict[str, str]) -> dict[str, str]:
    """``{exercise id: why}`` for the exercises (``{id: function name}``) the notebook's code
    cells ``sources`` do not implement themselves."""
    body = _parse(sources)
    names, modules = _rlhf_edu_names(body)
    defined: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            defined[node.name] = node  # the last definition wins, as when the notebook runs
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.Import, ast.ImportFrom)):
            targets = _bound_names(node)
            for name in targets:
                defined.pop(name, None)
    found = {}
    for exercise, function in functions.items():
        node = defined.get(function)
        if node is None:
            found[exercise] = (
                f"exercise {exercise}: the notebook does not define {function}() itself "
                "(imported or assigned, not written in the exercise cell)"
            )
        elif _only_calls_reference(node, names, modules):
            found[exercise] = (
                f"exercise {exercise}: {function}() only calls the course's reference "
                "implementation from rlhf_edu"
            )
    return found


def _bound_names(node: ast.stmt) -> list[str]:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name).split(".")[0] for a in node.names]
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return [t.id for t in targets if isinstance(t, ast.Name)]
