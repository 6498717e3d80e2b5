"""Running a notebook's cells to collect its functions: step past failures, time limits, input
checks; the graded fixtures; the grader's report parsing and Gradescope output."""

import json
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from rlhf_edu.grading.autograder import GradeOptions
from rlhf_edu.grading.collect import GradedTest
from rlhf_edu.grading.execution import (
    CodeCell,
    SubmissionError,
    definitions_only,
    execute_cells,
    load_code_cells,
)
from rlhf_edu.grading.manifest import load_manifest
from rlhf_edu.grading.protocol import parse_event
from rlhf_edu.grading.pytest_plugin import Solution, graded_rng_for
from rlhf_edu.grading.reports import feedback_markdown, results_json, summary_table
from rlhf_edu.grading.results import CellReport, SubmissionResult, TestResult

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "submissions"


def cells(*sources):
    return [CodeCell(i, s) for i, s in enumerate(sources)]


def test_cells_after_a_failing_cell_still_run_and_every_failure_is_recorded():
    executed = execute_cells(
        cells(
            "def before():\n    return 1",
            "raise ValueError('boom')",
            "def broken(:",
            "import sys\nsys.exit(2)",
            "exit()",
            "def after():\n    return 2",
        ),
        cell_timeout=10,
    )
    assert [c.status for c in executed.cells] == ["ok", "error", "error", "error", "error", "ok"]
    assert "ValueError: boom" in executed.cells[1].error
    assert "SyntaxError" in executed.cells[2].error
    assert "SystemExit" in executed.cells[3].error
    assert executed.function("before")() == 1 and executed.function("after")() == 2


def test_an_endless_loop_is_stopped_at_the_cell_time_limit():
    start = time.monotonic()
    executed = execute_cells(cells("while True:\n    pass", "x = 1"), cell_timeout=0.5)
    assert time.monotonic() - start < 5
    assert executed.cells[0].status == "timeout" and executed.namespace["x"] == 1


def test_printed_output_is_capped_and_magics_do_nothing():
    executed = execute_cells(
        cells("%matplotlib inline\nfiles = !ls\nfor _ in range(100):\n    print('x' * 10_000)"),
        output_limit=1000,
    )
    assert executed.cells[0].status == "ok"
    assert len(executed.source) < 1200 and "more characters of output dropped" in executed.source


def test_skipped_cells_are_not_run():
    executed = execute_cells(cells("x = 1", "x = 2"), skip=[1])
    assert executed.namespace["x"] == 1 and executed.cells[1].status == "skipped"


def test_definitions_only_keeps_imports_functions_and_constants():
    kept = definitions_only("import math\nN = 3\nresult = train()\ndef f():\n    return N\nf()")
    assert "train" not in kept and "f()" not in kept.replace("def f()", "")
    namespace = {}
    exec(kept, namespace)
    assert namespace["f"]() == 3


@pytest.mark.parametrize(
    "name, message",
    [
        ("hostile-not-json.ipynb", "not valid JSON"),
        ("hostile-not-a-notebook.ipynb", "not a Jupyter notebook"),
        ("hostile-nbformat-3.ipynb", "nbformat 3"),
        ("does-not-exist.ipynb", "cannot read"),
    ],
)
def test_files_that_are_not_notebooks_are_refused_with_the_reason(name, message):
    with pytest.raises(SubmissionError, match=message):
        load_code_cells(FIXTURES / name)


def test_solution_fixture_serves_references_by_default_and_the_notebook_otherwise():
    from rlhf_edu.envs.evaluation import estimate_success_rate

    assert Solution().estimate_success_rate is estimate_success_rate
    executed = execute_cells(cells("def estimate_success_rate(*a):\n    return 0.5"))
    assert Solution(executed).estimate_success_rate() == 0.5
    with pytest.raises(AssertionError, match="does not define a function named 'nope'"):
        Solution(executed).nope  # noqa: B018


def test_graded_rng_depends_on_the_run_seed_and_the_test_not_on_order():
    def request(seed, name):
        return SimpleNamespace(
            node=SimpleNamespace(path="tests/graded/test_03_x.py", name=name),
            config=SimpleNamespace(getoption=lambda option: seed),
        )

    draw = lambda seed, name: graded_rng_for(request(seed, name)).random(3)  # noqa: E731
    assert np.array_equal(draw(1, "test_a"), draw(1, "test_a"))
    assert not np.array_equal(draw(1, "test_a"), draw(2, "test_a"))
    assert not np.array_equal(draw(1, "test_a"), draw(1, "test_b"))


@pytest.mark.parametrize(
    "line",
    [
        b"not json",
        b'{"event": "unknown"}',
        b'{"event": "cell_end", "index": "3", "status": "ok", "error": "", "exercise": null}',
        b'{"event": "test_report", "nodeid": "x", "when": "call", "outcome": "passed"}',
        b'{"event": "cell_end", "index": 1, "status": "passed!", "error": ""}',
        b'{"event": "cell_start", "index": true}',
        b'{"event": "started", "padding": "' + b"x" * 70_000 + b'"}',
        b"[1, 2]",
        b"\xff\xfe",
    ],
)
def test_malformed_or_unknown_reports_from_the_sandbox_are_ignored(line):
    assert parse_event(line) is None


def test_results_follow_gradescopes_schema_and_feedback_names_the_failing_cell():
    tests = [
        TestResult(GradedTest("t.py::test_a", "test_a", "0.1", 1), True, ""),
        TestResult(GradedTest("t.py::test_b", "test_b", "0.1", 2), False, "assert 1 == 2"),
    ]
    manifest = load_manifest()
    result = SubmissionResult(
        "alice", Path("alice.ipynb"), manifest.modules[0], seed=7, tests=tests
    )
    result.cells[3] = CellReport(3, "crashed", "the process was killed by signal SIGKILL", "0.1")
    data = json.loads(json.dumps(results_json(result)))
    assert data["score"] == 1 and data["extra_data"]["max_score"] == 3
    assert {"score", "execution_time", "output", "tests"} <= set(data)
    for test in data["tests"]:
        assert {"name", "score", "max_score", "output", "visibility", "status", "number"} <= set(
            test
        )
    assert [t["status"] for t in data["tests"]] == ["passed", "failed"]
    feedback = feedback_markdown(result)
    assert "Cell 3 (exercise 0.1): crashed" in feedback and "assert 1 == 2" in feedback
    assert "--graded-seed=7" in feedback
    assert "alice" in summary_table([result]) and "1/3" in summary_table([result])


def test_grade_options_check_their_limits():
    with pytest.raises(ValueError, match="cell_timeout"):
        GradeOptions(cell_timeout=0)
    with pytest.raises(ValueError, match="memory_mb"):
        GradeOptions(memory_mb=10)
