"""``rlhf-edu grade``: grade a class of notebooks, each in its own sandboxed process.

For every submission the grader
1. reads it as JSON and finds its code cells (a file that is not a notebook scores 0, with the
   reason in the feedback);
2. builds a sandbox: a fresh temporary folder with a copy of the notebook and of the module's
   graded tests (read-only), and a working folder for the student's code;
3. runs the worker (``rlhf_edu.grading.sandbox``) in a new session with resource limits, as an
   unprivileged user when the grader is root, and reads its per-cell and per-test reports with
   a deadline for each cell, each test and the whole notebook;
4. if the worker dies or hangs in a cell (``os._exit``, a killed kernel, memory, an endless loop
   that ignores the timeout), records why, and starts a fresh worker that skips that cell — so
   the exercises defined before and after it are still graded; a test that kills or hangs the
   worker fails, and the next worker runs the remaining tests;
5. scores each graded test with the points of its marker (from the grader's own collection, never
   from the sandbox), and writes ``DIR/<name>/results.json`` (Gradescope's schema),
   ``DIR/<name>/feedback.md`` and, for the class, ``DIR/grades.csv``.

Submissions are graded in parallel (``--workers``); each has its own process, folder and
deadline, so one student's notebook cannot change another's grade.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pwd
import re
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlhf_edu.grading.collect import GradedTest, collect_graded_tests
from rlhf_edu.grading.execution import (
    MAX_NOTEBOOK_BYTES,
    CodeCell,
    SubmissionError,
    load_code_cells,
)
from rlhf_edu.grading.manifest import Manifest, Module, load_manifest, project_root

GRACE_SECONDS = 5.0
STARTUP_SECONDS = 90.0
MAX_EVENT_LINE = 1 << 20
OUTPUT_KEEP = 64 * 1024


@dataclass
class GradeOptions:
    """Limits and choices of a grading run (``rlhf-edu grade --help`` lists them)."""

    notebook: str | None = None  # module id ("03") or notebook name; default: guess
    cell_timeout: float = 60.0  # wall seconds per cell
    timeout: float = 600.0  # wall seconds per notebook, all attempts together
    test_timeout: float | None = None  # wall seconds per graded test (default: cell_timeout)
    memory_mb: int = 2048  # address space of the worker process
    file_size_mb: int = 64  # largest file the notebook may write
    extra_processes: int = 64  # processes/threads the notebook may start
    seed: int | None = None  # seed of the graded tests' random inputs (default: random)
    workers: int = 1  # submissions graded in parallel
    user: str = "nobody"  # who runs student code when the grader is root
    max_attempts: int = 6  # workers started per submission (one per crashing cell or test)
    root: Path | None = None  # project folder (course/, tests/graded/); default: this checkout
    drop_privileges: bool = True  # as root, run student code as ``user`` (set by grade_class)

    def __post_init__(self) -> None:
        for name in ("cell_timeout", "timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0 seconds, got {getattr(self, name)}")
        if self.memory_mb < 256:
            raise ValueError(f"memory_mb must be >= 256, got {self.memory_mb}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")


@dataclass
class TestResult:
    __test__ = False  # not a pytest test class

    test: GradedTest
    passed: bool
    output: str

    @property
    def score(self) -> float:
        return self.test.points if self.passed else 0.0


@dataclass
class CellReport:
    index: int
    status: str  # "ok", "error", "timeout", "crashed", "skipped"
    error: str = ""
    exercise: str | None = None


@dataclass
class SubmissionResult:
    """One student's grade and everything the feedback says."""

    name: str
    path: Path
    module: Module | None
    seed: int
    tests: list[TestResult] = field(default_factory=list)
    cells: dict[int, CellReport] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    execution_time: float = 0.0
    attempts: int = 0
    output: str = ""

    @property
    def score(self) -> float:
        return float(sum(t.score for t in self.tests))

    @property
    def max_score(self) -> float:
        return float(sum(t.test.points for t in self.tests))


# --- which module, which tests ----------------------------------------------------------------


def _exercise_ids(path: Path) -> set[str]:
    try:
        return {c.exercise for c in load_code_cells(path) if c.exercise}
    except (SubmissionError, OSError, ValueError, RecursionError):
        return set()


def guess_module(path: Path, manifest: Manifest) -> Module | None:
    """The module a submission belongs to: from its exercise cells' metadata, else its name."""
    ids = _exercise_ids(path)
    if ids:
        counts = Counter(e.module_id for e in manifest.exercises if e.id in ids)
        if counts:
            module_id = counts.most_common(1)[0][0]
            return next(m for m in manifest.modules if m.id == module_id)
    return manifest.module_for_notebook(path.name)


def graded_test_files(root: Path, module: Module) -> list[Path]:
    return sorted((root / "tests" / "graded").glob(f"test_{module.id}_*.py"))


# --- the sandbox ------------------------------------------------------------------------------


def _sandbox_user(name: str) -> tuple[int, int] | None:
    """(uid, gid) to run student code as, or None when we are not root (nothing to drop)."""
    if os.geteuid() != 0:
        return None
    entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid


def _others_can_read(path: Path) -> bool:
    """Can a user with no relation to the files read ``path`` (o+x on every parent, o+r)?"""
    path = path.resolve()
    try:
        if not path.stat().st_mode & 0o004:
            return False
        return all(parent.stat().st_mode & 0o001 for parent in path.parents)
    except OSError:
        return False


def python_readable_by_others() -> bool:
    """Whether an unprivileged user can run this Python with its packages and this project."""
    import numpy

    import rlhf_edu

    paths = [
        Path(os.__file__).parent,  # the standard library
        Path(numpy.__file__).parents[1],  # site-packages
        Path(rlhf_edu.__file__).parent,
        Path(sys.executable),
    ]
    return all(_others_can_read(p) for p in paths)


def probe_privilege_drop(user: tuple[int, int], keep_read: bool) -> str:
    """Try dropping to ``user`` in a throwaway process; '' if it works, else the reason."""
    config = json.dumps({"uid": user[0], "gid": user[1], "keep_read": keep_read})
    try:
        result = subprocess.run(
            [sys.executable, "-I", "-m", "rlhf_edu.grading.sandbox", "--probe"],
            input=config,
            capture_output=True,
            text=True,
            timeout=120,
            cwd="/",
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return str(err)
    if result.returncode == 0 and result.stdout.strip() == "ok":
        return ""
    return _last_line(result.stderr) or f"exit status {result.returncode}"


def _copy_readonly(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    os.chmod(dst, 0o444)


@dataclass
class _Sandbox:
    root: Path
    work: Path
    notebook: Path
    test_files: list[str]
    ini: Path


def make_sandbox(
    submission: Path,
    root: Path,
    test_files: list[Path],
    user: tuple[int, int] | None,
    parent: Path | None = None,
) -> _Sandbox:
    """A fresh folder for one submission, inside ``parent`` (a folder the sandbox user may enter
    but not list, so one submission cannot find another's folder)."""
    if parent is None:
        base = Path(tempfile.mkdtemp(prefix="rlhf-edu-grade-"))
    else:
        base = parent / secrets.token_hex(16)
        base.mkdir(mode=0o711)
    os.chmod(base, 0o711)  # the sandbox user may enter, not list
    notebook = base / "submission.ipynb"
    _copy_readonly(submission, notebook)
    graded = root / "tests" / "graded"
    copied = []
    for path in sorted(graded.iterdir()):
        if path.is_file() and (not path.name.startswith("test_") or path in test_files):
            if path.suffix in (".py", ".json", ".npz", ".npy", ".txt", ".csv"):
                _copy_readonly(path, base / "tests" / "graded" / path.name)
                if path in test_files:
                    copied.append(str(base / "tests" / "graded" / path.name))
    for folder in (base / "tests", base / "tests" / "graded"):
        os.chmod(folder, 0o755)
    ini = base / "pytest.ini"
    ini.write_text(
        "[pytest]\n"
        "markers =\n"
        "    graded(exercise, points): a graded test worth points for one exercise\n"
        "    slow: a slow test\n"
        "addopts =\n"
        "filterwarnings =\n"
        "    ignore::DeprecationWarning\n"
    )
    os.chmod(ini, 0o444)
    work = base / "work"
    work.mkdir(mode=0o700)
    if user is not None:
        os.chown(work, *user)
    return _Sandbox(base, work, notebook, copied, ini)


def _worker_env(work: Path) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        "TMPDIR": str(work),
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": str(work / ".matplotlib"),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MALLOC_ARENA_MAX": "2",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "RLHF_EDU_NO_PROGRESS": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "LANG": "C.UTF-8",
    }
    for name in ("RLHF_EDU_CACHE", "RLHF_EDU_ROOT", "VIRTUAL_ENV"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


@dataclass
class _Attempt:
    """What one worker process reported before it finished, died or was stopped."""

    cell_results: dict[int, CellReport] = field(default_factory=dict)
    test_reports: dict[str, list[dict]] = field(default_factory=dict)
    finished_tests: set[str] = field(default_factory=set)
    current: tuple[str, Any] | None = None  # ("cell", index) or ("test", nodeid)
    done: bool = False
    cells_done: bool = False
    worker_error: str = ""
    stopped: str = ""  # why the parent stopped it
    returncode: int | None = None
    output: bytes = b""
    output_dropped: int = 0
    started: bool = False


def _describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "the process did not exit"
    if returncode < 0:
        sig = -returncode
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        extra = ""
        if sig == signal.SIGKILL:
            extra = " (it was killed: out of memory, or the notebook killed its own process)"
        elif sig == signal.SIGXCPU:
            extra = " (CPU time limit)"
        return f"the process was killed by signal {name}{extra}"
    return f"the process exited with status {returncode} (sys.exit / os._exit in the notebook?)"


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
    except ProcessLookupError:
        pass


def run_attempt(
    sandbox: _Sandbox,
    config: dict[str, Any],
    options: GradeOptions,
    deadline: float,
) -> _Attempt:
    """Run one worker until it is done, dies, or overruns a deadline."""
    attempt = _Attempt()
    read_fd, write_fd = os.pipe()
    token = secrets.token_hex(16)
    config = {**config, "event_fd": write_fd}
    test_timeout = options.test_timeout or options.cell_timeout
    env = _worker_env(sandbox.work)
    env[SANDBOX_TOKEN_ENV] = token
    proc = subprocess.Popen(
        # The configuration comes on stdin, not the command line (which anyone can read).
        [sys.executable, "-I", "-m", "rlhf_edu.grading.sandbox", "-"],
        cwd=sandbox.work,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        pass_fds=(write_fd,),
        start_new_session=True,
    )
    os.close(write_fd)
    try:
        proc.stdin.write(json.dumps(config).encode())
        proc.stdin.close()
    except OSError:
        pass
    selector = selectors.DefaultSelector()
    selector.register(read_fd, selectors.EVENT_READ, "events")
    selector.register(proc.stdout.fileno(), selectors.EVENT_READ, "output")
    buffer = b""
    phase_started = time.monotonic()
    phase_limit = STARTUP_SECONDS
    open_streams = 2
    try:
        while open_streams:
            now = time.monotonic()
            limit_at = min(phase_started + phase_limit, deadline)
            if now >= limit_at:
                if now >= deadline:
                    attempt.stopped = f"the notebook ran out of time ({options.timeout:g} s in all)"
                elif attempt.current and attempt.current[0] == "cell":
                    attempt.stopped = f"the cell ran longer than {options.cell_timeout:g} s"
                elif attempt.current and attempt.current[0] == "test":
                    attempt.stopped = f"the test ran longer than {test_timeout:g} s"
                else:
                    attempt.stopped = "the grader's worker stopped responding"
                break
            for key, _ in selector.select(timeout=max(0.05, limit_at - now)):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fd)
                    open_streams -= 1
                    continue
                if key.data == "output":
                    room = OUTPUT_KEEP - len(attempt.output)
                    attempt.output += chunk[: max(room, 0)]
                    attempt.output_dropped += max(0, len(chunk) - max(room, 0))
                    continue
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                if len(buffer) > MAX_EVENT_LINE:
                    attempt.stopped = "the notebook wrote garbage into the grader's report pipe"
                    open_streams = 0
                    break
                for line in lines:
                    event = _parse_event(line)
                    if event is None:
                        continue
                    kind = event["event"]
                    phase_started = time.monotonic()
                    if kind == "started":
                        attempt.started = True
                        phase_limit = STARTUP_SECONDS
                    elif kind == "cell_start":
                        attempt.current = ("cell", event["index"])
                        phase_limit = options.cell_timeout + GRACE_SECONDS
                    elif kind == "cell_end":
                        attempt.cell_results[event["index"]] = CellReport(
                            event["index"], event["status"], event["error"], event["exercise"]
                        )
                        attempt.current = None
                        phase_limit = STARTUP_SECONDS
                    elif kind == "cells_done":
                        attempt.cells_done = True
                        phase_limit = STARTUP_SECONDS
                    elif kind == "test_start":
                        attempt.current = ("test", event["nodeid"])
                        phase_limit = test_timeout + GRACE_SECONDS
                    elif kind == "test_report":
                        attempt.test_reports.setdefault(event["nodeid"], []).append(event)
                    elif kind == "test_end":
                        attempt.finished_tests.add(event["nodeid"])
                        attempt.current = None
                        phase_limit = STARTUP_SECONDS
                    elif kind == "done":
                        attempt.done = True
                        phase_limit = GRACE_SECONDS
                    elif kind == "worker_error":
                        attempt.worker_error = event["error"]
    finally:
        _kill_group(proc)
        try:
            attempt.returncode = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            attempt.returncode = None
        selector.close()
        os.close(read_fd)
        proc.stdout.close()
        sweep_escaped_processes(token, sandbox.root)
    return attempt


SANDBOX_TOKEN_ENV = "RLHF_EDU_SANDBOX_TOKEN"


def sweep_escaped_processes(token: str, folder: Path) -> int:
    """Kill what a worker left behind outside its process group (``setsid`` and fork): every
    process whose environment carries the worker's token or whose working folder is in its
    sandbox. Returns how many were killed."""
    marker = f"{SANDBOX_TOKEN_ENV}={token}".encode()
    folder_text = str(folder)
    killed = 0
    me = os.getpid()
    for entry in Path("/proc").glob("[0-9]*"):
        pid = int(entry.name)
        if pid == me:
            continue
        try:
            environ = (entry / "environ").read_bytes()
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if (
            marker in environ.split(b"\0")
            or cwd == folder_text
            or cwd.startswith(folder_text + "/")
        ):
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
    return killed


_EVENT_FIELDS = {
    "started": {},
    "cell_start": {"index": int},
    "cell_end": {"index": int, "status": str, "error": str, "exercise": (str, type(None))},
    "cells_done": {},
    "test_start": {"nodeid": str},
    "test_report": {"nodeid": str, "when": str, "outcome": str, "output": str},
    "test_end": {"nodeid": str},
    "done": {},
    "worker_error": {"error": str},
}


def _parse_event(line: bytes) -> dict | None:
    """A report from the worker, or None if it is not one of the expected shapes."""
    try:
        event = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(event, dict) or event.get("event") not in _EVENT_FIELDS:
        return None
    for name, kind in _EVENT_FIELDS[event["event"]].items():
        if not isinstance(event.get(name), kind) or isinstance(event.get(name), bool):
            return None
    return event


# --- one submission ---------------------------------------------------------------------------


def _test_passed(reports: list[dict]) -> bool:
    return any(r["when"] == "call" and r["outcome"] == "passed" for r in reports) and not any(
        r["outcome"] in ("failed", "skipped") for r in reports
    )


def _test_output(reports: list[dict]) -> str:
    parts = []
    for r in reports:
        if r["outcome"] == "skipped":
            parts.append(f"skipped: {r['output'].strip()}")
        elif r["outcome"] == "failed":
            prefix = "" if r["when"] == "call" else f"[{r['when']}] "
            parts.append(prefix + r["output"].strip())
    return "\n".join(parts)


def grade_submission(
    path: Path,
    name: str,
    module: Module | None,
    tests: list[GradedTest],
    test_files: list[Path],
    options: GradeOptions,
    seed: int,
    root: Path,
    sandbox_parent: Path | None = None,
) -> SubmissionResult:
    """Grade one notebook (see the module docstring); never raises for the notebook's faults."""
    result = SubmissionResult(name=name, path=path, module=module, seed=seed)
    started = time.monotonic()
    outcomes: dict[str, TestResult] = {}

    def finish(reason: str | None = None) -> SubmissionResult:
        for test in tests:
            if test.nodeid not in outcomes:
                outcomes[test.nodeid] = TestResult(test, False, reason or "the test did not run")
        result.tests = [outcomes[t.nodeid] for t in tests]
        result.execution_time = round(time.monotonic() - started, 2)
        return result

    if module is None:
        result.problems.append(
            "could not tell which course notebook this is (no exercise cells, unknown file name)"
        )
        return finish("not graded: unknown notebook")
    try:
        cells: list[CodeCell] = load_code_cells(path)
    except SubmissionError as err:
        result.problems.append(str(err))
        return finish(f"not graded: {err}")
    except (OSError, RecursionError, ValueError) as err:
        result.problems.append(f"could not read the notebook: {type(err).__name__}: {err}")
        return finish("not graded: unreadable notebook")
    if not tests:
        result.problems.append(f"module {module.id} has no graded tests")
        return finish()
    exercise_cells = {c.index: c.exercise for c in cells if c.exercise}
    user = _sandbox_user(options.user) if options.drop_privileges else None
    sandbox = make_sandbox(path, root, test_files, user, parent=sandbox_parent)
    deadline = time.monotonic() + options.timeout
    config = {
        "notebook": str(sandbox.notebook),
        "workdir": str(sandbox.work),
        "rootdir": str(sandbox.root),
        "ini": str(sandbox.ini),
        "test_files": sandbox.test_files,
        "uid": user[0] if user else None,
        "keep_read": bool(user) and not python_readable_by_others(),
        "gid": user[1] if user else None,
        "memory_mb": options.memory_mb,
        "cpu_seconds": int(options.timeout) + 10,
        "file_size_mb": options.file_size_mb,
        "extra_processes": options.extra_processes,
        "cell_timeout": options.cell_timeout,
        "test_timeout": options.test_timeout or options.cell_timeout,
        "seed": seed,
    }
    skip: set[int] = set()
    deselect: set[str] = set()
    known = {t.nodeid for t in tests}
    output_parts: list[str] = []
    try:
        while result.attempts < options.max_attempts and time.monotonic() < deadline:
            result.attempts += 1
            attempt = run_attempt(
                sandbox,
                {**config, "skip_cells": sorted(skip), "deselect": sorted(deselect)},
                options,
                deadline,
            )
            text = attempt.output.decode("utf-8", "replace")
            if attempt.output_dropped:
                text += f"\n[... {attempt.output_dropped} more bytes of output dropped]"
            output_parts.append(text)
            for index, cell in attempt.cell_results.items():
                if index not in skip:
                    cell.exercise = exercise_cells.get(index)
                    result.cells[index] = cell
            for nodeid, reports in attempt.test_reports.items():
                if nodeid in known and nodeid in attempt.finished_tests:
                    test = next(t for t in tests if t.nodeid == nodeid)
                    outcomes[nodeid] = TestResult(
                        test, _test_passed(reports), _test_output(reports)
                    )
            missing = known - deselect - attempt.finished_tests
            if attempt.done and not missing:
                break
            if attempt.cells_done and not attempt.current:
                # The tests could not run at all: most often the notebook left no memory.
                hogs = {
                    i
                    for i, c in attempt.cell_results.items()
                    if c.status == "error" and "MemoryError" in c.error and i not in skip
                }
                if hogs:
                    skip |= hogs
                    result.problems.append(
                        f"the graded tests could not run after cell(s) {sorted(hogs)} used up "
                        "the memory; graded again without them"
                    )
                    continue
                if attempt.done:
                    tail = _last_line(text) or "no output"
                    result.problems.append(f"the graded tests did not run ({tail})")
                    break
            why = attempt.stopped or _describe_exit(attempt.returncode)
            if attempt.worker_error and not attempt.stopped:
                why = f"{why}; {attempt.worker_error}"
            if attempt.current and attempt.current[0] == "cell":
                index = attempt.current[1]
                status = "timeout" if "longer than" in why else "crashed"
                result.cells[index] = CellReport(index, status, why, exercise_cells.get(index))
                skip.add(index)
                result.problems.append(f"cell {index}: {why}; graded again without this cell")
            elif attempt.current and attempt.current[0] == "test":
                nodeid = attempt.current[1]
                if nodeid in known:
                    test = next(t for t in tests if t.nodeid == nodeid)
                    outcomes[nodeid] = TestResult(
                        test, False, f"this test stopped the grader: {why}"
                    )
                deselect.add(nodeid)
            else:
                result.problems.append(f"the grader's worker failed: {why}")
                if not attempt.started or attempt.cells_done or attempt.worker_error:
                    break
            # Cells that timed out in-process are skipped next time too (they cost time).
            skip |= {i for i, c in attempt.cell_results.items() if c.status == "timeout"}
            deselect |= {n for n in attempt.finished_tests}
        else:
            if time.monotonic() >= deadline:
                result.problems.append(f"the notebook ran out of time ({options.timeout:g} s)")
            else:
                result.problems.append(f"gave up after {result.attempts} attempts")
    finally:
        shutil.rmtree(sandbox.root, ignore_errors=True)
    result.output = "\n".join(p for p in output_parts if p.strip())
    _explain_failures(result, outcomes)
    return finish("the test did not run (the grader stopped: see the problems above)")


def _explain_failures(result: SubmissionResult, outcomes: dict[str, TestResult]) -> None:
    """Point a failed test at the exercise cell that raised, if any."""
    failed_cells = {c.exercise: c for c in result.cells.values() if c.exercise and c.status != "ok"}
    for outcome in outcomes.values():
        cell = failed_cells.get(outcome.test.exercise)
        if cell is not None and not outcome.passed:
            outcome.output = (
                f"the cell of exercise {cell.exercise} (cell {cell.index}) did not run: "
                f"{cell.status}: {_last_line(cell.error)}\n\n{outcome.output}"
            )


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


# --- the class --------------------------------------------------------------------------------


def _unique_names(paths: list[Path]) -> list[str]:
    names, seen = [], Counter()
    for path in paths:
        base = re.sub(r"[^\w.-]+", "_", path.stem).strip("._") or "submission"
        seen[base] += 1
        names.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return names


def grade_class(
    submissions: list[Path], out: Path, options: GradeOptions | None = None
) -> list[SubmissionResult]:
    """Grade every submission and write the reports into ``out`` (see the module docstring).

    Raises:
        ValueError: no submissions, or no course notebook could be identified for any of them.
    """
    from rlhf_edu.grading.reports import write_class_reports, write_submission_reports

    options = options or GradeOptions()
    submissions = [Path(p) for p in submissions]
    if not submissions:
        raise ValueError("no submissions to grade")
    root = Path(options.root) if options.root else project_root()
    manifest = load_manifest(root / "course" / "course.toml")
    seed = options.seed if options.seed is not None else secrets.randbelow(2**32)
    if options.notebook:
        forced = manifest.module_for_notebook(options.notebook)
        if forced is None:
            raise ValueError(f"--notebook {options.notebook!r} is not a module of {manifest.path}")
        modules: list[Module | None] = [forced] * len(submissions)
    else:
        modules = [guess_module(p, manifest) for p in submissions]
        known = [m.id for m in modules if m is not None]
        if not known:
            raise ValueError("cannot tell which course notebook these are; pass --notebook NN")
        majority = next(m for m in manifest.modules if m.id == Counter(known).most_common(1)[0][0])
        modules = [m or majority for m in modules]
    tests_of: dict[str, tuple[list[GradedTest], list[Path]]] = {}
    for module in {m.id: m for m in modules if m}.values():
        files = graded_test_files(root, module)
        tests_of[module.id] = (collect_graded_tests(files, cwd=root) if files else [], files)
    out.mkdir(parents=True, exist_ok=True)
    names = _unique_names(submissions)

    user = _sandbox_user(options.user)
    if user is not None:
        problem = probe_privilege_drop(user, keep_read=not python_readable_by_others())
        if problem:
            print(
                f"rlhf-edu grade: WARNING: cannot run student code as {options.user!r} "
                f"({problem}); it runs as root with the other limits only",
                file=sys.stderr,
            )
            options = dataclasses.replace(options, drop_privileges=False)
    sandboxes = Path(tempfile.mkdtemp(prefix="rlhf-edu-grade-"))
    os.chmod(sandboxes, 0o711)

    def grade_one(i: int) -> SubmissionResult:
        module = modules[i]
        tests, files = tests_of.get(module.id, ([], [])) if module else ([], [])
        result = grade_submission(
            submissions[i], names[i], module, tests, files, options, seed, root, sandboxes
        )
        write_submission_reports(result, out / names[i])
        with contextlib.suppress(OSError):
            if submissions[i].stat().st_size <= MAX_NOTEBOOK_BYTES:
                shutil.copyfile(submissions[i], out / names[i] / "submission.ipynb")
        return result

    try:
        with ThreadPoolExecutor(max_workers=options.workers) as pool:
            results = list(pool.map(grade_one, range(len(submissions))))
    finally:
        shutil.rmtree(sandboxes, ignore_errors=True)
    write_class_reports(results, out)
    return results


def print_summary(results: list[SubmissionResult], out: Path, file=None) -> None:
    from rlhf_edu.grading.reports import summary_table

    print(summary_table(results), file=file or sys.stdout)
    if results:
        print(
            f"graded tests' random inputs: seed {results[0].seed} (--seed to regrade)",
            file=file or sys.stdout,
        )
    print(
        f"\nresults: {out}/<name>/results.json and feedback.md; class: {out}/grades.csv",
        file=file or sys.stdout,
    )
