"""``rlhf-edu assign``: generate the student notebooks from the solution notebooks.

For each ``solutions/NN-name.ipynb`` the student version ``notebooks/NN-name.ipynb`` has
- every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region replaced by
  ``raise NotImplementedError("Exercise ID: title")`` (signature and docstring kept);
- outputs and execution counts cleared, volatile metadata dropped;
- every cell that will raise until the exercises are done tagged ``raises-exception``
  (see ``rlhf_edu.grading.dependencies``), so ``pytest --nbval-lax notebooks/`` passes.

The output is byte-for-byte a function of the solution notebook, so ``--check`` can say whether
``notebooks/`` is in sync.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from rlhf_edu.grading.dependencies import DependencyTracker
from rlhf_edu.grading.notebooks import (
    METADATA_KEY,
    MarkerError,
    cell_source,
    dumps_notebook,
    exercise_metadata,
    has_solution_markers,
    not_implemented_line,
    read_notebook,
    stable_cell_id,
    strip_solutions,
)

RAISES_TAG = "raises-exception"
_KEPT_CELL_METADATA = (METADATA_KEY, "tags")


def make_student_notebook(
    solution: nbformat.NotebookNode, name: str = "notebook"
) -> nbformat.NotebookNode:
    """The student version of a solution notebook (see the module docstring).

    Raises:
        MarkerError: unbalanced markers, markers outside an exercise cell, or an exercise cell
            without an id.
    """
    tracker = DependencyTracker()
    cells = []
    stem = Path(name).stem
    for index, cell in enumerate(solution.get("cells", [])):
        where = f"{name}, cell {index}"
        cell_type = cell.get("cell_type")
        source = cell_source(cell)
        metadata = {
            k: cell["metadata"][k] for k in _KEPT_CELL_METADATA if k in cell.get("metadata", {})
        }
        cell_id = stable_cell_id(stem, index, cell.get("id"))
        if cell_type != "code":
            new = (
                nbformat.v4.new_markdown_cell(source)
                if cell_type == "markdown"
                else nbformat.v4.new_raw_cell(source)
            )
            new.metadata = nbformat.from_dict(metadata)
            new.id = cell_id
            if cell.get("attachments") and cell_type == "markdown":
                new.attachments = cell["attachments"]
            cells.append(new)
            continue
        meta = exercise_metadata(cell)
        stubs: list[int] = []
        if has_solution_markers(source):
            if meta is None:
                raise MarkerError(
                    f"{where}: solution markers in a cell without "
                    f'metadata {{"{METADATA_KEY}": {{"exercise": ...}}}}'
                )
            source = strip_solutions(
                source, str(meta["exercise"]), str(meta.get("title", "")), where
            )
            stub = not_implemented_line(str(meta["exercise"]), str(meta.get("title", "")))
            stubs = [n for n, line in enumerate(source.split("\n"), 1) if line.strip() == stub]
        elif meta is not None:
            raise MarkerError(
                f"{where}: exercise {meta['exercise']} has no {'### BEGIN SOLUTION'!r} region"
            )
        analysis = tracker.cell(source, stubs, solution_source=cell_source(cell))
        tags = [t for t in metadata.get("tags", []) if t != RAISES_TAG]
        if analysis.raises or RAISES_TAG in metadata.get("tags", []):
            tags.append(RAISES_TAG)
        if tags:
            metadata["tags"] = sorted(set(tags))
        else:
            metadata.pop("tags", None)
        new = nbformat.v4.new_code_cell(source)
        new.metadata = nbformat.from_dict(metadata)
        new.id = cell_id
        new.outputs = []
        new.execution_count = None
        cells.append(new)
    student = nbformat.v4.new_notebook()
    student.cells = cells
    kernelspec = solution.get("metadata", {}).get(
        "kernelspec", {"display_name": "Python 3", "language": "python", "name": "python3"}
    )
    student.metadata = nbformat.from_dict(
        {"kernelspec": dict(kernelspec), "language_info": {"name": "python"}}
    )
    return student


@dataclass
class AssignReport:
    """What ``assign`` wrote (or, with ``check``, would write)."""

    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    out_of_sync: list[str] = field(default_factory=list)

    @property
    def in_sync(self) -> bool:
        return not self.out_of_sync


def assign(solutions: Path, out: Path, check: bool = False) -> AssignReport:
    """Regenerate ``out/*.ipynb`` from ``solutions/*.ipynb``.

    Args:
        solutions: folder of solution notebooks (the single source).
        out: folder of student notebooks.
        check: write nothing; only report the files that differ, are missing or are stale.
            Without it, student notebooks that have no solution notebook are removed.
    """
    solutions, out = Path(solutions), Path(out)
    if not solutions.is_dir():
        raise FileNotFoundError(f"solutions folder not found: {solutions}")
    report = AssignReport()
    expected = set()
    for path in sorted(solutions.glob("*.ipynb")):
        expected.add(path.name)
        text = dumps_notebook(make_student_notebook(read_notebook(path), path.name))
        target = out / path.name
        current = target.read_bytes() if target.exists() else None
        if current == text.encode("utf-8"):
            report.unchanged.append(target)
            continue
        if check:
            report.out_of_sync.append(
                f"{target}: {'missing' if current is None else 'differs from'} "
                f"the version generated from {path}"
            )
            continue
        out.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode("utf-8"))
        report.written.append(target)
    if out.is_dir():
        for stale in sorted(out.glob("*.ipynb")):
            if stale.name in expected:
                continue
            if check:
                report.out_of_sync.append(f"{stale}: has no solution notebook in {solutions}")
            else:
                stale.unlink()
                report.removed.append(stale)
    return report
