"""What the grader writes: Gradescope ``results.json``, ``feedback.md``, ``grades.csv``, a table.

Gradescope's autograder schema (https://gradescope-autograders.readthedocs.io/en/latest/specs/):
``{"score", "execution_time", "output", "visibility", "tests": [{"name", "number", "score",
"max_score", "status", "output", "visibility"}]}``.

Everything a student controls (their cells' errors and output, their exceptions' messages) is
escaped or fenced in feedback.md, and every report has a size limit, with a note where it was cut.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections import OrderedDict
from pathlib import Path

from rlhf_edu.grading.results import CellStatus, Flag, SubmissionResult, clip
from rlhf_edu.utils.checkpoint import atomic_write_bytes

MAX_TEST_OUTPUT = 4000
MAX_NOTEBOOK_OUTPUT = 64 * 1024
MAX_FEEDBACK_CHARS = 200_000
MAX_RESULTS_JSON_CHARS = 1_000_000
MAX_LISTED = 30  # failed cells and problems listed one by one
#: Names in the results folder the grader writes itself (no submission's folder may take one).
RESERVED_NAMES = ("grades.csv", "summary.txt")


def write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) atomically: a reader sees the old file or the new, never half."""
    atomic_write_bytes(text.encode("utf-8"), path)


def _host_prefixes() -> list[tuple[str, str]]:
    import sys

    import rlhf_edu

    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(rlhf_edu.__file__)))
    pairs = [(package_parent, ""), (sys.prefix, "<python>"), (sys.base_prefix, "<python>")]
    return sorted(
        {(os.path.join(path, ""), shown and shown + "/") for path, shown in pairs},
        key=lambda pair: -len(pair[0]),
    )


def without_host_paths(text: str) -> str:
    """``text`` without the grader's own folders (the project's, the Python's)."""
    for prefix, shown in _host_prefixes():
        text = text.replace(prefix, shown)
    return text


def _fmt(points: float) -> str:
    return f"{points:g}"


def escape_inline(text: str, limit: int = 300) -> str:
    """Student text as one line of plain Markdown (no markup, links or HTML of theirs)."""
    one_line = " ".join(str(text).split())[:limit]
    return re.sub(r"([\\`*_\[\]#|<>~&])", r"\\\1", one_line)


def fenced(text: str, indent: str = "") -> str:
    """Student text in a code block they cannot close."""
    body = re.sub(r"`{3,}|~{3,}", "'''", without_host_paths(text).strip())
    lines = "\n".join(indent + line for line in body.splitlines())
    return f"{indent}```text\n{lines}\n{indent}```\n"


def exercise_scores(result: SubmissionResult) -> OrderedDict[str, tuple[float, float]]:
    """``{exercise id: (score, max)}`` in the order of the tests."""
    scores: OrderedDict[str, tuple[float, float]] = OrderedDict()
    for t in result.tests:
        got, most = scores.get(t.test.exercise, (0.0, 0.0))
        scores[t.test.exercise] = (got + t.score, most + t.test.points)
    return scores


def _last(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _listed(items: list, what: str) -> tuple[list, str]:
    if len(items) <= MAX_LISTED:
        return items, ""
    return items[:MAX_LISTED], f"... and {len(items) - MAX_LISTED} more {what}"


def _overview(result: SubmissionResult) -> str:
    lines = [f"Score: {_fmt(result.score)} / {_fmt(result.max_score)}"]
    if result.module is not None:
        lines.append(f"Notebook: {result.module.notebook} (module {result.module.id})")
    lines.append(f"Random inputs of the graded tests: seed {result.seed}")
    for why in result.delegated.values():
        lines.append(f"Not graded: {why}")
    problems, more = _listed(result.problems, "problems")
    lines += [f"Problem: {p}" for p in problems] + ([more] if more else [])
    cells, more = _listed(result.failed_cells, "cells that did not run")
    for cell in cells:
        if cell.status != CellStatus.SKIPPED:
            what = f" (exercise {cell.exercise})" if cell.exercise else ""
            lines.append(f"Cell {cell.index}{what}: {cell.status}: {_last(cell.error)}")
    if more:
        lines.append(more)
    if result.isolation != "sealed":
        lines.append("Isolation: weak (the grader could not seal the sandbox)")
    return "\n".join(lines)


def results_json(result: SubmissionResult) -> dict:
    """The submission's grade in Gradescope's ``results.json`` schema."""
    tests = [
        {
            "name": f"Exercise {t.test.exercise}: {t.test.name}",
            "number": t.test.exercise,
            "score": t.score,
            "max_score": float(t.test.points),
            "status": "passed" if t.passed else "failed",
            "output": clip(without_host_paths(t.output), MAX_TEST_OUTPUT),
            "visibility": "visible",
        }
        for t in result.tests
    ]
    return {
        "score": result.score,
        "execution_time": result.execution_time,
        "output": clip(without_host_paths(_overview(result)), 20_000),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {
            "submission": result.name,
            "path": str(result.path),
            "notebook": result.module.notebook if result.module else None,
            "seed": result.seed,
            "max_score": result.max_score,
            "attempts": result.attempts,
            "isolation": result.isolation,
            "flags": list(result.flags),
            "delegated": sorted(result.delegated),
        },
    }


def feedback_markdown(result: SubmissionResult) -> str:
    """A readable report for the student, at most ``MAX_FEEDBACK_CHARS``."""
    out = io.StringIO()
    title = result.module.title if result.module else "unknown notebook"
    out.write(f"# Feedback: {result.name}\n\n")
    out.write(f"**{title}** — score **{_fmt(result.score)} / {_fmt(result.max_score)}**\n\n")
    out.write(
        f"The graded tests drew their random inputs from seed {result.seed}; re-run them on your "
        "notebook from the course folder with "
        f"`python -m pytest --submission=YOUR.ipynb --graded-seed={result.seed}`.\n\n"
    )
    if result.delegated:
        out.write("## Exercises not written in the notebook (0 points)\n\n")
        for why in result.delegated.values():
            out.write(f"- {escape_inline(why)}\n")
        out.write("\n")
    if result.problems:
        out.write("## Problems running your notebook\n\n")
        problems, more = _listed(result.problems, "problems")
        for problem in problems:
            out.write(f"- {escape_inline(without_host_paths(problem), 600)}\n")
        out.write(f"- {more}\n\n" if more else "\n")
    if result.failed_cells:
        out.write("## Cells that did not run\n\n")
        cells, more = _listed(result.failed_cells, "cells that did not run")
        for cell in cells:
            what = f" (exercise {escape_inline(cell.exercise)})" if cell.exercise else ""
            out.write(f"### Cell {cell.index}{what}: {cell.status}\n\n{fenced(cell.error)}\n")
        if more:
            out.write(f"{more}\n\n")
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
            out.write("\n" + fenced(clip(t.output, MAX_TEST_OUTPUT), indent="  "))
    if result.isolation != "sealed":
        out.write("\n_Graded with weak isolation: the grader could not seal the sandbox._\n")
    text = out.getvalue()
    if len(text) > MAX_FEEDBACK_CHARS:
        result.flag(Flag.TRUNCATED)
        text = text[:MAX_FEEDBACK_CHARS] + "\n\n[... feedback cut at its size limit ...]\n"
    return text


def write_submission_reports(result: SubmissionResult, folder: Path) -> None:
    """``folder/results.json``, ``folder/feedback.md`` and ``folder/notebook-output.txt``."""
    folder.mkdir(parents=True, exist_ok=True)
    feedback = feedback_markdown(result)
    data = results_json(result)
    text = json.dumps(data, indent=2)
    if len(text) > MAX_RESULTS_JSON_CHARS:
        result.flag(Flag.TRUNCATED)
        for test in data["tests"]:
            test["output"] = clip(test["output"], 500)
        data["output"] = clip(data["output"], 2000) + "\n[results cut at their size limit]"
        text = json.dumps(data, indent=2)
    write_text(folder / "results.json", text + "\n")
    write_text(folder / "feedback.md", feedback)
    output = without_host_paths(result.output) or "(the notebook printed nothing)\n"
    write_text(folder / "notebook-output.txt", clip(output, MAX_NOTEBOOK_OUTPUT))


def _problems_cell(result: SubmissionResult) -> str:
    parts = list(result.problems)
    failed = [c.index for c in result.failed_cells if c.status != CellStatus.SKIPPED]
    if failed:
        parts.append(f"cells that did not run: {failed[:20]}{' ...' if len(failed) > 20 else ''}")
    parts += list(result.delegated.values())
    return " | ".join(" ".join(p.split()) for p in parts)[:500]


def write_class_reports(results: list[SubmissionResult], out: Path) -> Path:
    """``out/grades.csv``: one row per submission, a column per exercise."""
    exercises: list[str] = []
    for r in results:
        for exercise in exercise_scores(r):
            if exercise not in exercises:
                exercises.append(exercise)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = ["submission", "path", "notebook", "score", "max_score", *exercises]
    writer.writerow([*header, "flags", "problems"])
    for r in results:
        scores = exercise_scores(r)
        writer.writerow(
            [
                r.name,
                str(r.path),
                r.module.notebook if r.module else "",
                _fmt(r.score),
                _fmt(r.max_score),
                *(_fmt(scores[e][0]) if e in scores else "" for e in exercises),
                " ".join(r.flags),
                _problems_cell(r),
            ]
        )
    path = out / "grades.csv"
    write_text(path, buffer.getvalue())
    return path


def summary_table(results: list[SubmissionResult]) -> str:
    """A plain-text table of the class, one line per submission, and the class's notes."""
    rows = [("submission", "score", "notes")]
    for r in results:
        notes = "; ".join([*r.flags, _problems_cell(r)] if _problems_cell(r) else r.flags)
        rows.append(
            (
                r.name,
                f"{_fmt(r.score)}/{_fmt(r.max_score)}",
                notes[:70] + ("..." * (len(notes) > 70)),
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
    failed = sum(1 for r in results if Flag.FAILED_CELLS in r.flags)
    if failed:
        lines.append(f"{failed} submission(s) with cells that did not run (flag failed-cells)")
    delegated = sum(1 for r in results if r.delegated)
    if delegated:
        lines.append(f"{delegated} submission(s) handed an exercise to the reference (delegated)")
    unreadable = [str(r.path) for r in results if not r.readable]
    if unreadable:
        lines.append(
            f"{len(unreadable)} submission(s) could not be read: {', '.join(unreadable[:5])}"
        )
    if any(r.isolation != "sealed" for r in results):
        lines.append("isolation: WEAK (no bubblewrap seal; see course/INSTRUCTORS.md)")
    else:
        lines.append("isolation: sealed (bubblewrap)")
    return "\n".join(lines)
