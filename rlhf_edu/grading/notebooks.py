"""Reading and writing course notebooks, and the solution markers inside them.

An exercise is a code cell with metadata ``{"rlhf_edu": {"exercise": "3.2", "title": ...,
"points": 3}}`` whose answer sits between ``### BEGIN SOLUTION`` and ``### END SOLUTION``.
``strip_solutions`` replaces each marked region by ``raise NotImplementedError("Exercise 3.2:
<title>")``, indented like the region, so the function's signature and docstring stay.

Notebooks are written byte-for-byte deterministically (sorted keys, one-space indent, nbformat
4.5, a trailing newline), so regenerating the student versions is a reproducible build step.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
METADATA_KEY = "rlhf_edu"
NBFORMAT_MINOR = 5
_CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class MarkerError(ValueError):
    """A solution notebook breaks the authoring contract (unbalanced markers, bad metadata)."""


@dataclass(frozen=True)
class Exercise:
    """An exercise as declared in a notebook cell's metadata."""

    id: str
    title: str
    points: float
    cell_index: int
    function: str | None  # the function the cell defines, when there is exactly one


def read_notebook(path: str | Path) -> nbformat.NotebookNode:
    """Read a notebook as nbformat 4 (raises ``nbformat.reader.NotJSONError`` and friends)."""
    return nbformat.read(str(path), as_version=4)


def dumps_notebook(nb: nbformat.NotebookNode) -> str:
    """The notebook as deterministic JSON text: sorted keys, indent 1, trailing newline."""
    nb = nbformat.from_dict(nb)
    nb.nbformat, nb.nbformat_minor = 4, NBFORMAT_MINOR
    text = nbformat.writes(nb, version=nbformat.NO_CONVERT)
    return text if text.endswith("\n") else text + "\n"


def write_notebook(nb: nbformat.NotebookNode, path: str | Path) -> None:
    """Write ``nb`` deterministically (see ``dumps_notebook``)."""
    Path(path).write_text(dumps_notebook(nb), encoding="utf-8")


def cell_source(cell: Any) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def exercise_metadata(cell: Any) -> dict | None:
    """The cell's ``rlhf_edu`` metadata dict (exercise id, title, points), or None."""
    meta = cell.get("metadata", {}).get(METADATA_KEY)
    return meta if isinstance(meta, dict) and "exercise" in meta else None


def has_solution_markers(source: str) -> bool:
    return any(line.strip() == BEGIN_SOLUTION for line in source.splitlines())


def not_implemented_line(exercise_id: str, title: str) -> str:
    """``raise NotImplementedError("Exercise 3.2: title")`` (the message JSON-escaped)."""
    return f"raise NotImplementedError({json.dumps(f'Exercise {exercise_id}: {title}')})"


def strip_solutions(source: str, exercise_id: str, title: str, where: str = "cell") -> str:
    """Replace every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region by a raise.

    The raise is indented like the ``### BEGIN SOLUTION`` line.

    Raises:
        MarkerError: a BEGIN without END, an END without BEGIN, or nested regions.
    """
    out: list[str] = []
    inside = False
    for number, line in enumerate(source.split("\n"), start=1):
        marker = line.strip()
        if marker == BEGIN_SOLUTION:
            if inside:
                raise MarkerError(f"{where}, line {number}: nested {BEGIN_SOLUTION!r}")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(indent + not_implemented_line(exercise_id, title))
        elif marker == END_SOLUTION:
            if not inside:
                raise MarkerError(f"{where}, line {number}: {END_SOLUTION!r} without a BEGIN")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise MarkerError(f"{where}: {BEGIN_SOLUTION!r} without {END_SOLUTION!r}")
    return "\n".join(out)


def defined_functions(source: str) -> list[str]:
    """Names of the top-level functions a cell defines (empty when it does not parse)."""
    import ast

    from rlhf_edu.grading.dependencies import to_python

    try:
        tree = ast.parse(to_python(source))
    except SyntaxError:
        return []
    return [
        node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]


def notebook_exercises(nb: Any) -> list[Exercise]:
    """The exercises a notebook declares in its cells' metadata, in cell order."""
    exercises = []
    for index, cell in enumerate(nb.get("cells", [])):
        meta = exercise_metadata(cell)
        if meta is None or cell.get("cell_type") != "code":
            continue
        functions = defined_functions(cell_source(cell))
        exercises.append(
            Exercise(
                id=str(meta["exercise"]),
                title=str(meta.get("title", "")),
                points=meta.get("points", 0),
                cell_index=index,
                function=functions[0] if len(functions) == 1 else None,
            )
        )
    return exercises


def stable_cell_id(stem: str, index: int, existing: object) -> str:
    """Keep a valid existing cell id; otherwise derive one from the notebook name and index."""
    if isinstance(existing, str) and _CELL_ID.match(existing):
        return existing
    return hashlib.sha1(f"{stem}:{index}".encode()).hexdigest()[:8]
