"""The student's self-check (``pytest --submission=...``): a points table per exercise and one line
per failed test (what it checked, the input in words, a hint); tracebacks only with ``-v``.

The submissions are the tour's solution with classic bugs put in (``buggy_tour``).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from rlhf_edu.grading.manifest import load_manifest
from rlhf_edu.grading.selfcheck import _Outcome, failure, summary_lines

ROOT = Path(__file__).resolve().parents[2]
TOUR_TESTS = "tests/graded/test_00_tour.py"

#: (exercise function, text in its solution, buggy text): the course's classic bugs.
BUGS = {
    "discounts-the-first-reward": (
        "returns_from_rewards",
        "        G = rewards[t] + gamma * G\n",
        "        G = gamma * (rewards[t] + G)\n",
    ),
    "bootstraps-from-terminal-states": (
        "lookahead_values",
        "(reward + (0.0 if terminated else gamma * V[s_next]))",
        "(reward + gamma * V[s_next])",
    ),
}


def buggy_tour(folder: Path, *bugs: str) -> Path:
    """The tour's solution notebook with ``bugs`` (names in ``BUGS``) put into its exercises."""
    nb = nbformat.read(ROOT / "solutions" / "00-tour.ipynb", as_version=4)
    for bug in bugs:
        function, old, new = BUGS[bug]
        cell = next(c for c in nb.cells if c.source.startswith(f"def {function}("))
        assert old in cell.source, (bug, old)
        cell.source = cell.source.replace(old, new)
    path = folder / f"tour-{'-'.join(bugs) or 'solution'}.ipynb"
    nbformat.write(nb, path)
    return path


def run_pytest(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RLHF_EDU_NO_PROGRESS": "1"}
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_ADDOPTS", None)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def buggy_run(tmp_path_factory):
    """The self-check of a tour notebook with two classic bugs (exercises 0.3 and 0.4)."""
    folder = tmp_path_factory.mktemp("selfcheck")
    path = buggy_tour(folder, "discounts-the-first-reward", "bootstraps-from-terminal-states")
    return run_pytest(
        TOUR_TESTS,
        f"--submission={path}",
        "--submission-definitions-only",
        "--graded-seed=7",
    ), path


def test_the_self_check_prints_a_points_table_per_exercise_and_the_total(buggy_run):
    result, _ = buggy_run
    out = result.stdout
    assert result.returncode == 1, out[-3000:] + result.stderr[-3000:]
    assert "rlhf_edu self-check: points" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line[:4] in ("0.1 ", "0.3 ")}
    assert rows["0.1"].rstrip().endswith("2 / 2") and "Monte Carlo estimate" in rows["0.1"]
    assert rows["0.3"].rstrip().endswith("0 / 2")
    total = next(line for line in out.splitlines() if line.startswith("total"))
    tour_points = sum(
        e.points for m in load_manifest().modules if m.id == "00" for e in m.exercises
    )
    # 0.1, 0.2 and 0.5 earned; 0.6 (the value by simulation) sums the buggy returns of 0.3
    assert total.split()[-3:] == ["6", "/", str(tour_points)], total


def test_each_failed_test_gets_one_line_with_what_it_checked_the_input_and_a_hint(buggy_run):
    result, _ = buggy_run
    fails = [line for line in result.stdout.splitlines() if line.startswith("FAIL ")]
    # two tests of 0.3, two of 0.4, and two of 0.6, whose value by simulation sums 0.3's returns
    assert len(fails) == 6, result.stdout[-4000:]
    for line in fails:
        assert "checked: " in line and "input: " in line and "hint: " in line, line
    lookahead = [line for line in fails if line.startswith("FAIL 0.4")]
    assert all("bootstraps from a terminal state?" in line for line in lookahead), lookahead
    assert any("calm 4x4 lake" in line for line in lookahead)  # the input, in words
    returns = [line for line in fails if line.startswith("FAIL 0.3")]
    assert any("factor gamma too small" in line for line in returns), returns


def test_the_tracebacks_are_left_out_by_default_and_shown_with_v(buggy_run, tmp_path):
    result, path = buggy_run
    assert "Traceback" not in result.stdout and "def test_" not in result.stdout
    assert "= FAILURES =" not in result.stdout
    assert "run again with -v" in result.stdout
    verbose = run_pytest(
        TOUR_TESTS,
        f"--submission={path}",
        "--submission-definitions-only",
        "--graded-seed=7",
        "-v",
        "-k",
        "lookahead",
    )
    assert "= FAILURES =" in verbose.stdout and "def test_lookahead" in verbose.stdout
    assert "rlhf_edu self-check" in verbose.stdout  # the line is in the traceback too
    assert "rlhf_edu self-check: points" in verbose.stdout  # and the table stays


def test_the_table_orders_exercises_numerically_and_a_failure_is_one_line():
    lines = summary_lines(
        {
            "t.py::test_a": _Outcome("0.1", 1, True),
            "t.py::test_b": _Outcome(
                "0.10",
                2,
                False,
                {"checked": "x", "input": "y", "problem": "z", "hint": "look at z"},
            ),
        }
    )
    text = "\n".join(lines)
    assert "FAIL 0.10 (2 pt): checked: x | input: y | got: z | hint: look at z" in text
    assert [line.split()[0] for line in lines if line and line[0] in "0t"] == [
        "0.1",
        "0.10",
        "total",
    ]
    assert failure("got 1", "try 2") == "got 1\nhint: try 2"


def test_runs_without_a_submission_are_unchanged(tmp_path):
    result = run_pytest(TOUR_TESTS, "-q", "-k", "greedy")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "rlhf_edu self-check" not in result.stdout


def test_the_student_notebook_gets_the_not_written_yet_hint_for_every_test():
    result = run_pytest(TOUR_TESTS, "--submission=notebooks/00-tour.ipynb", "--graded-seed=3")
    fails = [line for line in result.stdout.splitlines() if line.startswith("FAIL ")]
    assert fails and all("not written yet" in line for line in fails), result.stdout[-3000:]
    total = next(line for line in result.stdout.splitlines() if line.startswith("total"))
    assert total.split()[-3] == "0"


@pytest.mark.slow
def test_grade_puts_the_hint_into_feedback_md_and_results_json(tmp_path):
    path = buggy_tour(tmp_path, "bootstraps-from-terminal-states")
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RLHF_EDU_NO_PROGRESS": "1"}
    env.pop("PYTEST_XDIST_WORKER", None)
    command = [sys.executable, "-m", "rlhf_edu.cli", "grade", str(path), "--out", str(out)]
    command += ["--seed", "11", "--notebook", "00", "--cell-timeout", "60"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    folder = out / path.stem
    data = json.loads((folder / "results.json").read_text())
    tour_points = sum(
        e.points for m in load_manifest().modules if m.id == "00" for e in m.exercises
    )
    assert data["extra_data"]["max_score"] == tour_points
    assert data["score"] == tour_points - 2  # the two tests of 0.4, one point each
    failed = [t for t in data["tests"] if t["status"] == "failed"]
    assert len(failed) == 2 and all(t["number"] == "0.4" for t in failed)  # both tests of 0.4
    assert all("bootstraps from a terminal state?" in t["output"] for t in failed)
    assert "bootstraps from a terminal state?" in (folder / "feedback.md").read_text()
