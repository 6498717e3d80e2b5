"""A submission's private folder on the host, and the environment its worker starts with.

The folder (inside the class's ``rlhf-edu-grade-*`` temporary folder, removed after grading)
holds a read-only copy of the notebook, which the seal binds at ``/grading/submission.ipynb``;
the trusted runner's copy of ``tests/graded/`` (root only); and the weak sandbox's working folder.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

PYTEST_INI = (
    "[pytest]\nmarkers =\n"
    "    graded(exercise, points): a graded test worth points for one exercise\n"
    "    slow: a slow test\naddopts =\nfilterwarnings =\n    ignore::DeprecationWarning\n"
)


@dataclass
class Workspace:
    """A submission's private folder on the host: its notebook, and the runner's tests."""

    root: Path
    notebook: Path
    tests: Path  # the runner's copy of tests/graded
    work: Path  # the weak sandbox's working folder


def make_workspace(
    submission: Path, root: Path, test_files: list[Path], parent: Path, owner: tuple | None
) -> Workspace:
    """Copy ``submission`` and the graded tests of ``test_files`` into a new folder in ``parent``;
    ``owner`` (uid, gid) gets the weak sandbox's working folder."""
    base = Path(parent) / os.urandom(12).hex()
    base.mkdir(mode=0o711)
    notebook = base / "submission.ipynb"
    shutil.copyfile(submission, notebook)
    os.chmod(notebook, 0o444)
    tests = base / "tests"
    tests.mkdir(mode=0o700)
    (tests / "graded").mkdir(mode=0o700)
    for path in sorted((root / "tests" / "graded").iterdir()):
        if path.is_file() and (not path.name.startswith("test_") or path in test_files):
            shutil.copyfile(path, tests / "graded" / path.name)
    (tests / "pytest.ini").write_text(PYTEST_INI)
    work = base / "work"
    work.mkdir(mode=0o700)
    if owner is not None:
        os.chown(work, *owner)
    return Workspace(base, notebook, tests, work)


def worker_env(home: str) -> dict[str, str]:
    """A minimal environment: no variable of the grader's but the cache and the venv."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": home,
        "USER": "student",
        "LOGNAME": "student",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": f"{home}/.matplotlib",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MALLOC_ARENA_MAX": "2",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "RLHF_EDU_NO_PROGRESS": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "LANG": "C.UTF-8",
    }
    for name in ("RLHF_EDU_CACHE", "VIRTUAL_ENV"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env
