"""rlhf-edu grade on a class: every student gets exactly the expected score, whatever the others
submitted, and no submission can write the project, the tests or the results.

The hostile notebooks are in tests/fixtures/submissions/ (``make_fixtures.py`` writes them; each
states its expected score in its metadata); the perfect and blank submissions are the tour's
solution and student notebooks; the partial ones are generated here (conftest.PARTIALS).
"""

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "submissions"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
PROTECTED = [
    ROOT / "conftest.py",
    ROOT / "tests" / "graded" / "conftest.py",
    ROOT / "tests" / "graded" / "test_00_tour.py",
]
UNREADABLE = {"hostile-not-json", "hostile-not-a-notebook", "hostile-nbformat-3"}


def expected_score(path: Path) -> float:
    if path.stem in UNREADABLE:
        return 0
    return json.loads(path.read_text())["metadata"]["rlhf_edu_test"]["expected_score"]


def grade(submissions, out: Path, *options: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RLHF_EDU_NO_PROGRESS": "1"}
    env.pop("PYTEST_XDIST_WORKER", None)
    command = [sys.executable, "-m", "rlhf_edu.cli", "grade", *map(str, submissions)]
    command += ["--out", str(out), "--seed", "12345", "--notebook", "00", *options]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


def read_grades(out: Path) -> dict[str, float]:
    with open(out / "grades.csv", newline="") as fh:
        return {row["submission"]: float(row["score"]) for row in csv.DictReader(fh)}


def digest(paths) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def check_class(result, out: Path, expected: dict[str, float]) -> None:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    grades = read_grades(out)
    assert grades == expected, {
        k: (grades.get(k), v) for k, v in expected.items() if grades.get(k) != v
    }
    for name, score in expected.items():
        data = json.loads((out / name / "results.json").read_text())
        assert data["score"] == score
        assert sum(t["max_score"] for t in data["tests"]) == 2
        assert (out / name / "feedback.md").read_text().startswith(f"# Feedback: {name}")
        assert name in result.stdout  # the class summary table


def test_crashing_and_unreadable_submissions_cost_only_their_own_points(tmp_path, write_partial):
    submissions = [
        FIXTURES / "hostile-not-json.ipynb",
        FIXTURES / "hostile-os-exit.ipynb",
        FIXTURES / "hostile-exercise-exits-when-called.ipynb",
        FIXTURES / "hostile-background-process.ipynb",
    ]
    partial, partial_score = write_partial("partial-no-validation")
    out = tmp_path / "out"
    result = grade([*submissions, partial], out, "--workers", "2", "--cell-timeout", "20")
    expected = {p.stem: expected_score(p) for p in submissions}
    expected[partial.stem] = partial_score
    check_class(result, out, expected)
    feedback = (out / "hostile-os-exit" / "feedback.md").read_text()
    assert "exited with status 0" in feedback and "graded again without this cell" in feedback
    tests = json.loads((out / "hostile-exercise-exits-when-called" / "results.json").read_text())
    assert all("stopped the grader" in t["output"] for t in tests["tests"])
    assert "not valid JSON" in (out / "hostile-not-json" / "feedback.md").read_text()
    assert not escapees(), "a process started by a submission outlived its grading"


def escapees() -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if (
                b"rlhf-edu-escapee" in cmdline.read_bytes()
                and b"pytest" not in cmdline.read_bytes()
            ):
                found.append(int(cmdline.parent.name))
        except OSError:
            pass
    return found


@pytest.mark.skipif(not IS_ROOT, reason="privileges are dropped only when the grader runs as root")
def test_sandboxed_code_cannot_write_the_project_the_tests_or_the_results(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    canary = out / "canary.txt"
    canary.write_text("results of someone else\n")
    before = digest([*PROTECTED, canary])
    attackers = ["hostile-overwrites-tests-and-results", "hostile-deletes-files"]
    result = grade([FIXTURES / f"{name}.ipynb" for name in attackers], out, "--workers", "2")
    check_class(result, out, {name: 2 for name in attackers})
    assert digest([*PROTECTED, canary]) == before
    assert not (ROOT / "tests" / "graded" / "test_00_zzz.py").exists()
    for name in attackers:
        feedback = (out / name / "feedback.md").read_text()
        line = next(
            line for line in feedback.splitlines() if line.startswith("RuntimeError: ATTACKS")
        )
        attempts = json.loads(line.split("ATTACKS ", 1)[1])
        assert len(attempts) >= 4 and set(attempts.values()) == {"PermissionError"}, attempts


@pytest.mark.slow
def test_a_class_of_perfect_blank_partial_and_hostile_submissions_gets_each_expected_score(
    tmp_path, write_partial
):
    folder = tmp_path / "submissions"
    folder.mkdir()
    shutil.copy(ROOT / "solutions" / "00-tour.ipynb", folder / "perfect.ipynb")
    shutil.copy(ROOT / "notebooks" / "00-tour.ipynb", folder / "blank.ipynb")
    expected = {"perfect": 2, "blank": 0}
    for name in ("partial-same-seed-every-episode", "partial-divides-by-n-plus-one"):
        path, score = write_partial(name, folder)
        expected[path.stem] = score
    hostile = sorted(FIXTURES.glob("hostile-*.ipynb"))
    expected.update({p.stem: expected_score(p) for p in hostile})
    assert len(expected) >= 10
    out = tmp_path / "out"
    result = grade(
        [*sorted(folder.glob("*.ipynb")), *hostile],
        out,
        *("--workers", "2", "--cell-timeout", "10", "--timeout", "180", "--memory-mb", "1536"),
    )
    check_class(result, out, expected)
    memory = (out / "hostile-memory" / "feedback.md").read_text()
    assert "MemoryError" in memory
    output = (out / "hostile-prints-megabytes" / "notebook-output.txt").read_bytes()
    assert len(output) < 100_000 and b"more bytes of output dropped" in output
    loop = (out / "hostile-loop-ignores-timeout" / "feedback.md").read_text()
    assert "ran longer than 10 s" in loop
