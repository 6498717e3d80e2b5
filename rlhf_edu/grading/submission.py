"""Grading one submission: attempts until every graded test has an outcome decided by the grader.

A cell that ends or hangs the worker is recorded and skipped by the next attempt, so exercises
before and after it are still graded; a graded test whose call hangs or crashes the worker fails
alone, and the next attempt runs the tests that remain. Points come from the grader's own
collection of the tests (``collect``) and outcomes from its own test runner, never from the
sandbox.
"""

from __future__ import annotations

import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from rlhf_edu.grading import isolation
from rlhf_edu.grading.attempt import Attempt, Stop, run_attempt
from rlhf_edu.grading.collect import GradedTest
from rlhf_edu.grading.delegation import delegated_exercises
from rlhf_edu.grading.execution import CodeCell, SubmissionError, load_code_cells
from rlhf_edu.grading.manifest import Module
from rlhf_edu.grading.results import CellReport, CellStatus, Flag, SubmissionResult, TestResult
from rlhf_edu.grading.workspace import make_workspace


@dataclass
class Setting:
    """What every submission of a class shares (built by ``autograder.grade_class``)."""

    root: Path  # the project: course/, tests/graded/
    options: object  # autograder.GradeOptions
    seed: int
    isolation: isolation.Isolation
    weak_user: tuple[int, int] | None  # (uid, gid) of the weak sandbox's user, as root
    keep_read: bool  # the weak sandbox keeps CAP_DAC_READ_SEARCH (Python not world-readable)
    workspaces: Path  # a private folder for every submission's workspace


def _describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "the process did not exit"
    if returncode < 0:
        sig = -returncode
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        extra = " (it was killed: out of memory, or the notebook killed it)" if sig == 9 else ""
        return f"the process was killed by signal {name}{extra}"
    return f"the process exited with status {returncode} (sys.exit / os._exit in the notebook?)"


def _why(attempt: Attempt, options) -> str:
    test_timeout = options.test_timeout or options.cell_timeout
    return {
        Stop.DEADLINE: f"the notebook ran out of time ({options.timeout:g} s in all)",
        Stop.CELL_TIME: f"the cell ran longer than {options.cell_timeout:g} s",
        Stop.TEST_TIME: f"the test ran longer than {test_timeout:g} s",
        Stop.UNRESPONSIVE: "the grader's worker stopped responding",
        Stop.MEMORY: f"its processes used more than {options.memory_mb} MB of memory in all",
    }.get(attempt.stop) or _describe_exit(attempt.returncode)


def _passed(reports: list[dict]) -> bool:
    return any(r["when"] == "call" and r["outcome"] == "passed" for r in reports) and not any(
        r["outcome"] in ("failed", "skipped") for r in reports
    )


def _output(reports: list[dict]) -> str:
    parts = []
    for r in reports:
        if r["outcome"] == "skipped":
            parts.append(f"skipped: {str(r.get('output', '')).strip()}")
        elif r["outcome"] == "failed":
            prefix = "" if r["when"] == "call" else f"[{r['when']}] "
            parts.append(prefix + str(r.get("output", "")).strip())
    return "\n".join(parts)


def grade_submission(
    path: Path, name: str, module: Module | None, tests: list[GradedTest], test_files, setting
) -> SubmissionResult:
    """Grade one notebook; never raises for the notebook's faults."""
    options = setting.options
    result = SubmissionResult(name=name, path=path, module=module, seed=setting.seed)
    result.isolation = setting.isolation.mode
    if setting.isolation.mode != isolation.SEALED:
        result.flag(Flag.WEAK_ISOLATION)
    started = time.monotonic()
    outcomes: dict[str, TestResult] = {}

    def finish(reason: str) -> SubmissionResult:
        result.tests = [outcomes.get(t.nodeid) or TestResult(t, False, reason) for t in tests]
        result.execution_time = round(time.monotonic() - started, 2)
        return result

    if not path.is_file():
        result.readable = False
        result.flag(Flag.UNREADABLE)
        result.problems.append(f"file not found: {path}")
        return finish("not graded: the file was not found")
    if module is None:
        result.problems.append(
            "could not tell which course notebook this is (no exercise cells, unknown file name)"
        )
        return finish("not graded: unknown notebook")
    try:
        cells: list[CodeCell] = load_code_cells(path)
    except (SubmissionError, OSError, RecursionError, ValueError) as err:
        result.readable = False
        result.flag(Flag.UNREADABLE)
        result.problems.append(str(err) if isinstance(err, SubmissionError) else repr(err)[:300])
        return finish("not graded: the notebook could not be read")
    if not tests:
        result.problems.append(f"module {module.id} has no graded tests")
        return finish("no graded tests")
    exercise_of = {c.index: c.exercise for c in cells if c.exercise}
    code_indices = {c.index for c in cells}
    functions = {e.id: e.function for e in module.exercises}
    result.delegated = delegated_exercises([c.source for c in cells], functions)
    for test in tests:
        if test.exercise in result.delegated:
            outcomes[test.nodeid] = TestResult(
                test, False, f"0 points: {result.delegated[test.exercise]}"
            )
    if result.delegated:
        result.flag(Flag.DELEGATED)
    known = {t.nodeid for t in tests}
    deselect = set(outcomes)
    if deselect == known:
        return finish("")
    owner = setting.weak_user if setting.isolation.mode != isolation.SEALED else None
    ws = make_workspace(path, setting.root, test_files, setting.workspaces, owner)
    deadline = time.monotonic() + options.timeout
    sealed = setting.isolation.mode == isolation.SEALED
    worker_config = {
        "notebook": isolation.INSIDE_NOTEBOOK if sealed else str(ws.notebook),
        "workdir": isolation.INSIDE_WORKDIR if sealed else str(ws.work),
        "uid": owner[0] if owner else None,
        "gid": owner[1] if owner else None,
        "keep_read": bool(owner) and setting.keep_read,
        "memory_mb": options.memory_mb,
        "cpu_seconds": int(options.timeout) + 10,
        "file_size_mb": options.file_size_mb,
        "extra_processes": options.extra_processes,
        "cell_timeout": options.cell_timeout,
        "test_timeout": options.test_timeout or options.cell_timeout,
    }
    runner_config = {
        "rootdir": str(ws.root),
        "ini": str(ws.tests / "pytest.ini"),
        "test_files": [str(ws.tests / "graded" / p.name) for p in test_files],
        "seed": setting.seed,
        "test_timeout": options.test_timeout or options.cell_timeout,
    }
    limits = {
        "cell": options.cell_timeout,
        "test": options.test_timeout or options.cell_timeout,
        "deadline": deadline,
        "memory_mb": options.memory_mb,
    }
    skip: set[int] = set()
    output_parts: list[str] = []
    try:
        while result.attempts < options.max_attempts and time.monotonic() < deadline:
            result.attempts += 1
            attempt = run_attempt(
                ws,
                {**worker_config, "skip_cells": sorted(skip)},
                {**runner_config, "deselect": sorted(deselect)},
                limits,
                isolation.sandbox_uid() if sealed else False,
            )
            text = attempt.output.decode("utf-8", "replace")
            if attempt.output_dropped:
                text += f"\n[... {attempt.output_dropped} more bytes of output dropped]"
            output_parts.append(text)
            for index, cell in attempt.cell_results.items():
                if index not in skip and index in code_indices:
                    cell.exercise = exercise_of.get(index)
                    result.cells[index] = cell
            for nodeid in attempt.finished_tests & known:
                test = next(t for t in tests if t.nodeid == nodeid)
                reports = attempt.test_reports.get(nodeid, [])
                outcomes[nodeid] = TestResult(test, _passed(reports), _output(reports))
            deselect |= attempt.finished_tests & known
            if attempt.done and known <= deselect:
                break
            if attempt.runner_failed:
                detail = attempt.runner_error.strip().splitlines()[-1:] or ["no message"]
                result.problems.append(f"the grader's test runner failed: {detail[0][:300]}")
                break
            # Cells that timed out in-process are skipped next time too (they cost time).
            skip |= {i for i, c in attempt.cell_results.items() if c.status == CellStatus.TIMEOUT}
            if attempt.worker_lost:  # the failed test is recorded; the rest run in a new sandbox
                result.problems.append(f"{attempt.worker_lost}; graded the remaining tests again")
                continue
            why = _why(attempt, options)
            current = attempt.current
            if current and current[0] == "cell" and not attempt.cells_done:
                index = current[1]
                status = (
                    CellStatus.TIMEOUT if attempt.stop == Stop.CELL_TIME else CellStatus.CRASHED
                )
                result.cells[index] = CellReport(index, status, why, exercise_of.get(index))
                skip.add(index)
                result.problems.append(f"cell {index}: {why}; graded again without this cell")
            elif current and current[0] == "test" and current[1] in known:
                test = next(t for t in tests if t.nodeid == current[1])
                outcomes[current[1]] = TestResult(
                    test, False, f"this test stopped the grader: {why}"
                )
                deselect.add(current[1])
            elif attempt.done:
                result.problems.append("the graded tests did not all run")
                break
            else:
                detail = attempt.worker_error or attempt.runner_error.strip()[-300:]
                if not detail and not attempt.started:  # it never started: say what it printed
                    lines = attempt.output.decode("utf-8", "replace").strip().splitlines()
                    detail = lines[-1][:300] if lines else ""
                result.problems.append(
                    f"the grader's worker failed: {why}" + (f"; {detail}" if detail else "")
                )
                if not attempt.cells_done or attempt.runner_error:
                    break
        else:
            if time.monotonic() >= deadline:
                result.problems.append(f"the notebook ran out of time ({options.timeout:g} s)")
            else:
                result.problems.append(f"gave up after {result.attempts} attempts")
    finally:
        shutil.rmtree(ws.root, ignore_errors=True)
    result.output = "\n".join(p for p in output_parts if p.strip())
    if result.failed_cells:
        result.flag(Flag.FAILED_CELLS)
    _explain_failures(result, outcomes)
    return finish("the test did not run (the grader stopped: see the problems above)")


def _explain_failures(result: SubmissionResult, outcomes: dict[str, TestResult]) -> None:
    """Point a failed test at the exercise cell that raised, if any."""
    failed = {c.exercise: c for c in result.failed_cells if c.exercise}
    for outcome in outcomes.values():
        cell = failed.get(outcome.test.exercise)
        if cell is not None and not outcome.passed:
            last = [line for line in cell.error.strip().splitlines() if line.strip()][-1:] or [""]
            outcome.output = (
                f"the cell of exercise {cell.exercise} (cell {cell.index}) did not run: "
                f"{cell.status}: {last[0][:300]}\n\n{outcome.output}"
            )
