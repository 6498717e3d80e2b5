"""``rlhf-edu grade``: grade a class of notebooks, each sealed off in its own sandbox.

For the class, the grader
1. finds each submission's course notebook (exercise metadata, else the file name, else the
   class's majority; ``--notebook`` makes it explicit) and collects that module's graded tests
   with their points in a subprocess of its own (``collect``);
2. chooses the isolation once (``isolation.detect``): the bubblewrap seal, or the weak rlimit
   sandbox with a warning;
3. grades the submissions in parallel (``--workers``), each with ``submission.grade_submission``:
   the notebook runs sealed as a function server, the graded tests run in a trusted runner;
4. writes one folder per submission (``results.json``, ``feedback.md``, ``notebook-output.txt``,
   ``submission.ipynb``) and ``grades.csv`` (``reports``). Folder names are unique within the
   class and never a name the grader writes itself; the CSV gives each one's original path.

Each submission has its own processes, folders and deadline, so one student's notebook cannot
change another's grade.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from rlhf_edu.grading import isolation
from rlhf_edu.grading.collect import GradedTest, collect_graded_tests
from rlhf_edu.grading.execution import MAX_NOTEBOOK_BYTES, SubmissionError, load_code_cells
from rlhf_edu.grading.manifest import Manifest, Module, load_manifest, project_root
from rlhf_edu.grading.reports import RESERVED_NAMES, write_class_reports, write_submission_reports
from rlhf_edu.grading.results import CellReport, SubmissionResult, TestResult
from rlhf_edu.grading.submission import Setting, grade_submission

__all__ = [
    "CellReport",
    "GradeOptions",
    "SubmissionResult",
    "TestResult",
    "grade_class",
    "print_summary",
]


@dataclass
class GradeOptions:
    """Limits and choices of a grading run (``rlhf-edu grade --help`` lists them)."""

    notebook: str | None = None  # module id ("03") or notebook name; default: guess
    cell_timeout: float = 60.0  # wall seconds per cell
    timeout: float = 600.0  # wall seconds per notebook, all attempts together
    test_timeout: float | None = None  # wall seconds per graded test (default: cell_timeout)
    memory_mb: int = 2048  # memory of the submission's processes, all together
    file_size_mb: int = 64  # largest file the notebook may write
    extra_processes: int = 64  # processes/threads the notebook may start
    seed: int | None = None  # seed of the graded tests' random inputs (default: random)
    workers: int = 1  # submissions graded in parallel
    user: str = "nobody"  # who runs student code in the weak sandbox when the grader is root
    max_attempts: int = 6  # workers started per submission (one per crashing cell or test)
    root: Path | None = None  # project folder (course/, tests/graded/); default: this checkout
    isolation: str = "auto"  # "auto" (sealed where possible), "sealed" or "weak"

    def __post_init__(self) -> None:
        for name in ("cell_timeout", "timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0 seconds, got {getattr(self, name)}")
        if self.memory_mb < 256:
            raise ValueError(f"memory_mb must be >= 256, got {self.memory_mb}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.isolation not in ("auto", "sealed", "weak"):
            raise ValueError(f"isolation must be auto, sealed or weak, got {self.isolation!r}")


# --- which module, which tests ----------------------------------------------------------------


def guess_module(path: Path, manifest: Manifest) -> Module | None:
    """The module a submission belongs to: from its exercise cells' metadata, else its name."""
    try:
        ids = {c.exercise for c in load_code_cells(path) if c.exercise}
    except (SubmissionError, OSError, ValueError, RecursionError):
        ids = set()
    if ids:
        counts = Counter(e.module_id for e in manifest.exercises if e.id in ids)
        if counts:
            module_id = counts.most_common(1)[0][0]
            return next(m for m in manifest.modules if m.id == module_id)
    return manifest.module_for_notebook(path.name)


def graded_test_files(root: Path, module: Module) -> list[Path]:
    return sorted((root / "tests" / "graded").glob(f"test_{module.id}_*.py"))


def unique_names(paths: list[Path]) -> list[str]:
    """A folder name per submission: its file name's stem, made unique in the class (case
    folded) and never one of the names the grader writes itself (``RESERVED_NAMES``)."""
    taken = {name.lower() for name in RESERVED_NAMES}
    names = []
    for path in paths:
        base = re.sub(r"[^\w.-]+", "_", path.stem).strip("._-")[:80] or "submission"
        name, n = base, 1
        while name.lower() in taken:
            n += 1
            name = f"{base}-{n}"
        taken.add(name.lower())
        names.append(name)
    return names


# --- the weak sandbox's user ------------------------------------------------------------------


def _weak_user(name: str) -> tuple[int, int] | None:
    """(uid, gid) to run student code as in the weak sandbox, or None when we are not root."""
    if os.geteuid() != 0:
        return None
    entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid


def _others_can_read(path: Path) -> bool:
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
        Path(os.__file__).parent,
        Path(numpy.__file__).parents[1],
        Path(rlhf_edu.__file__).parent,
        Path(sys.executable),
    ]
    return all(_others_can_read(p) for p in paths)


def probe_privilege_drop(user: tuple[int, int], keep_read: bool) -> str:
    """Try dropping to ``user`` in a throwaway process; '' if it works, else the reason."""
    import json

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
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else f"exit status {result.returncode}"


def choose_isolation(options: GradeOptions) -> tuple[isolation.Isolation, tuple | None, bool]:
    """The class's isolation, the weak sandbox's user, and whether it keeps the read capability;
    warns on stderr whenever the seal is not used."""
    found = (
        isolation.detect()
        if options.isolation != "weak"
        else isolation.Isolation(isolation.WEAK, "--isolation weak")
    )
    if options.isolation == "sealed" and found.mode != isolation.SEALED:
        raise ValueError(f"cannot seal the sandboxes: {found.reason}")
    if found.mode == isolation.SEALED:
        return found, None, False
    print(
        f"rlhf-edu grade: WARNING: weak isolation ({found.reason}): student code runs in "
        "rlimited processes that share this machine's file system, network and process table; "
        "see course/INSTRUCTORS.md",
        file=sys.stderr,
    )
    user, keep_read = _weak_user(options.user), False
    if user is not None:
        keep_read = not python_readable_by_others()
        problem = probe_privilege_drop(user, keep_read)
        if problem:
            print(
                f"rlhf-edu grade: WARNING: cannot run student code as {options.user!r} "
                f"({problem}); it runs as root with the other limits only",
                file=sys.stderr,
            )
            user = None
    return found, user, keep_read


# --- the class --------------------------------------------------------------------------------


def grade_class(
    submissions: list[Path], out: Path, options: GradeOptions | None = None
) -> list[SubmissionResult]:
    """Grade every submission and write the reports into ``out`` (see the module docstring).

    Raises:
        ValueError: no submissions, or no course notebook could be identified for any of them.
    """
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
            missing = [str(p) for p in submissions if not p.is_file()]
            if missing:
                raise ValueError(f"file not found: {', '.join(missing[:10])}")
            raise ValueError("cannot tell which course notebook these are; pass --notebook NN")
        majority = next(m for m in manifest.modules if m.id == Counter(known).most_common(1)[0][0])
        modules = [m or majority for m in modules]
    tests_of: dict[str, tuple[list[GradedTest], list[Path]]] = {}
    for module in {m.id: m for m in modules if m}.values():
        files = graded_test_files(root, module)
        tests_of[module.id] = (collect_graded_tests(files, cwd=root) if files else [], files)
    out.mkdir(parents=True, exist_ok=True)
    names = unique_names(submissions)
    found, weak_user, keep_read = choose_isolation(options)
    workspaces = Path(tempfile.mkdtemp(prefix="rlhf-edu-grade-"))
    os.chmod(workspaces, 0o711)  # the weak sandbox's user may enter its folder, not list others
    setting = Setting(root, options, seed, found, weak_user, keep_read, workspaces)

    def grade_one(i: int) -> SubmissionResult:
        module = modules[i]
        tests, files = tests_of.get(module.id, ([], [])) if module else ([], [])
        result = grade_submission(submissions[i], names[i], module, tests, files, setting)
        write_submission_reports(result, out / names[i])
        with contextlib.suppress(OSError):
            if submissions[i].stat().st_size <= MAX_NOTEBOOK_BYTES:
                shutil.copyfile(submissions[i], out / names[i] / "submission.ipynb")
        return result

    try:
        with ThreadPoolExecutor(max_workers=options.workers) as pool:
            results = list(pool.map(grade_one, range(len(submissions))))
    finally:
        shutil.rmtree(workspaces, ignore_errors=True)
    write_class_reports(results, out)
    return results


def print_summary(results: list[SubmissionResult], out: Path, file=None) -> None:
    from rlhf_edu.grading.reports import summary_table

    file = file or sys.stdout
    print(summary_table(results), file=file)
    if results:
        print(f"graded tests' random inputs: seed {results[0].seed} (--seed to regrade)", file=file)
    print(
        f"\nresults: {out}/<name>/results.json and feedback.md; class: {out}/grades.csv",
        file=file,
    )
