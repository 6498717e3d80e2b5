"""What the grader writes: Gradescope ``results.json``, ``feedback.md``, ``grades.csv``, a table.

Gradescope's autograder schema (https://gradescope-autograders.readthedocs.io/en/latest/specs/):
``{"score", "execution_time", "output", "visibility", "tests": [{"name", "number", "score",
"max_score", "status", "output", "visibility"}]}``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rlhf_edu.grading.autograder import SubmissionResult

MAX_TEST_OUTPUT = 4000
MAX_NOTEBOOK_OUTPUT = 20_000


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _fmt(points: float) -> str:
    return f"{points:g}"


def _clip(text: str, limit: int) -> str:
    """The start and the end of ``text`` (where errors and summaries are), at most ``limit``."""
    if len(text) <= limit:
        return text
    half = (limit - 60) // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters left out ...]\n{text[-half:]}"


def exercise_scores(result: SubmissionResult) -> OrderedDict[str, tuple[float, float]]:
    """``{exercise id: (score, max)}`` in the order of the tests."""
    scores: OrderedDict[str, tuple[float, float]] = OrderedDict()
    for t in result.tests:
        got, most = scores.get(t.test.exercise, (0.0, 0.0))
        scores[t.test.exercise] = (got + t.score, most + t.test.points)
    return scores


def _overview(result: SubmissionResult) -> str:
    lines = [f"Score: {_fmt(result.score)} / {_fmt(result.max_score)}"]
    if result.module is not None:
        lines.append(f"Notebook: {result.module.notebook} (module {result.module.id})")
    lines.append(f"Random inputs of the graded tests: seed {result.seed}")
    for problem in result.problems:
        lines.append(f"Problem: {problem}")
    for cell in sorted(result.cells.values(), key=lambda c: c.index):
        if cell.status not in ("ok", "skipped"):
            what = f" (exercise {cell.exercise})" if cell.exercise else ""
            lines.append(f"Cell {cell.index}{what}: {cell.status}: {_last(cell.error)}")
    return "\n".join(lines)


def _last(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def results_json(result: SubmissionResult) -> dict:
    """The submission's grade in Gradescope's ``results.json`` schema."""
    tests = []
    for t in result.tests:
        tests.append(
            {
                "name": f"Exercise {t.test.exercise}: {t.test.name}",
                "number": t.test.exercise,
                "score": t.score,
                "max_score": float(t.test.points),
                "status": "passed" if t.passed else "failed",
                "output": _clip(t.output, MAX_TEST_OUTPUT),
                "visibility": "visible",
            }
        )
    return {
        "score": result.score,
        "execution_time": result.execution_time,
        "output": _overview(result),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {
            "submission": result.name,
            "notebook": result.module.notebook if result.module else None,
            "seed": result.seed,
            "max_score": result.max_score,
            "attempts": result.attempts,
        },
    }


def feedback_markdown(result: SubmissionResult) -> str:
    """A readable report for the student."""
    out = io.StringIO()
    title = result.module.title if result.module else "unknown notebook"
    out.write(f"# Feedback: {result.name}\n\n")
    out.write(f"**{title}** — score **{_fmt(result.score)} / {_fmt(result.max_score)}**\n\n")
    out.write(
        f"The graded tests drew their random inputs from seed {result.seed}; re-run them on your "
        "notebook from the course folder with "
        f"`python -m pytest --submission=YOUR.ipynb --graded-seed={result.seed}`.\n\n"
    )
    if result.problems:
        out.write("## Problems running your notebook\n\n")
        for problem in result.problems:
            out.write(f"- {problem}\n")
        out.write("\n")
    bad_cells = [
        c for c in sorted(result.cells.values(), key=lambda c: c.index) if c.status != "ok"
    ]
    if bad_cells:
        out.write("## Cells that did not run\n\n")
        for cell in bad_cells:
            what = f" (exercise {cell.exercise})" if cell.exercise else ""
            out.write(
                f"### Cell {cell.index}{what}: {cell.status}\n\n```\n{cell.error.strip()}\n```\n\n"
            )
    out.write("## Exercises\n\n| exercise | score | max |\n|---|---|---|\n")
    for exercise, (got, most) in exercise_scores(result).items():
        out.write(f"| {exercise} | {_fmt(got)} | {_fmt(most)} |\n")
    out.write("\n## Tests\n\n")
    for t in result.tests:
        mark = "PASS" if t.passed else "FAIL"
        out.write(
            f"- **{mark}** exercise {t.test.exercise}, `{t.test.name}` "
            f"({_fmt(t.score)}/{_fmt(t.test.points)})\n"
        )
        if not t.passed and t.output.strip():
            body = _clip(t.output.strip(), MAX_TEST_OUTPUT).replace("```", "'''")
            out.write(f"\n  ```\n{_indent(body)}\n  ```\n")
    return out.getvalue()


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def write_submission_reports(result: SubmissionResult, folder: Path) -> None:
    """``folder/results.json``, ``folder/feedback.md`` and ``folder/notebook-output.txt``."""
    folder.mkdir(parents=True, exist_ok=True)
    _atomic_write(folder / "results.json", json.dumps(results_json(result), indent=2) + "\n")
    _atomic_write(folder / "feedback.md", feedback_markdown(result))
    _atomic_write(folder / "notebook-output.txt", _clip(result.output, MAX_NOTEBOOK_OUTPUT))


def write_class_reports(results: list[SubmissionResult], out: Path) -> Path:
    """``out/grades.csv``: one row per submission, a column per exercise."""
    exercises: list[str] = []
    for r in results:
        for exercise in exercise_scores(r):
            if exercise not in exercises:
                exercises.append(exercise)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["submission", "notebook", "score", "max_score", *exercises, "problems"])
    for r in results:
        scores = exercise_scores(r)
        writer.writerow(
            [
                r.name,
                r.module.notebook if r.module else "",
                _fmt(r.score),
                _fmt(r.max_score),
                *(_fmt(scores[e][0]) if e in scores else "" for e in exercises),
                " | ".join(r.problems)[:500],
            ]
        )
    path = out / "grades.csv"
    _atomic_write(path, buffer.getvalue())
    return path


def summary_table(results: list[SubmissionResult]) -> str:
    """A plain-text table of the class, one line per submission."""
    rows = [("submission", "score", "notes")]
    for r in results:
        notes = "; ".join(r.problems)
        rows.append(
            (
                r.name,
                f"{_fmt(r.score)}/{_fmt(r.max_score)}",
                notes[:70] + ("..." if len(notes) > 70 else ""),
            )
        )
    width = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = []
    for n, row in enumerate(rows):
        lines.append(f"{row[0]:<{width[0]}}  {row[1]:>{width[1]}}  {row[2]}".rstrip())
        if n == 0:
            lines.append("-" * (width[0] + width[1] + 4 + max(5, width[2])))
    total = [r.score / r.max_score for r in results if r.max_score]
    if total:
        lines.append(f"\n{len(results)} graded; mean {100 * sum(total) / len(total):.1f}%")
    return "\n".join(lines)
