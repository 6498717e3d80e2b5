"""Every notebook runs: solutions/ with their stored outputs compared (nbval, strict), notebooks/
(the generated student versions) from top to bottom (nbval-lax, exceptions only where tagged).

Each notebook is one test that runs nbval in its own pytest subprocess, so ``pytest -n 2`` checks
two notebooks at a time, each kernel in its own process with one thread. They are marked slow:
``-m "not slow"`` leaves them out.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SANITIZE = ROOT / "course" / "nbval_sanitize.cfg"
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
STUDENT = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT = 600


def run_nbval(notebook: Path, *mode: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(
        RLHF_EDU_NO_PROGRESS="1",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        PYTHONHASHSEED="0",
    )
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("MPLBACKEND", None)  # keep the kernel's inline backend: the stored outputs have figures
    command = [
        sys.executable,
        "-m",
        "pytest",
        *mode,
        str(notebook.relative_to(ROOT)),
        f"--nbval-cell-timeout={CELL_TIMEOUT}",
        "-p",
        "no:cacheprovider",
        "-q",
        "--no-header",
    ]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)


def _report(result: subprocess.CompletedProcess) -> str:
    return (result.stdout[-8000:] + "\n" + result.stderr[-2000:]).strip()


@pytest.mark.slow
@pytest.mark.parametrize("notebook", SOLUTIONS, ids=[p.name for p in SOLUTIONS])
def test_solution_notebook_reproduces_its_stored_outputs(notebook: Path):
    result = run_nbval(notebook, "--nbval", "--nbval-sanitize-with", str(SANITIZE))
    assert result.returncode == 0, f"nbval --nbval {notebook.name} failed:\n{_report(result)}"


@pytest.mark.slow
@pytest.mark.parametrize("notebook", STUDENT, ids=[p.name for p in STUDENT])
def test_student_notebook_runs_top_to_bottom_with_exercises_unfinished(notebook: Path):
    result = run_nbval(notebook, "--nbval-lax")
    assert result.returncode == 0, f"nbval --nbval-lax {notebook.name} failed:\n{_report(result)}"
