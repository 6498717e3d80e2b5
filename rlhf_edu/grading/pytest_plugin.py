"""The pytest side of grading: ``--submission``, ``--graded-seed`` and the graded fixtures.

Graded tests (``tests/graded/test_NN_*.py``) take two fixtures (defined in
``tests/graded/conftest.py`` with the helpers below):

- ``solution``: ``solution.q_learning_update`` is the reference implementation (the manifest's
  ``reference``) by default, or the function the student's notebook defines under
  ``pytest --submission nb.ipynb``;
- ``graded_rng``: a ``numpy.random.Generator`` seeded from the run's seed and the test's name,
  so every run draws new inputs (hard-coded answers fail) yet a run can be replayed with
  ``--graded-seed N`` (the seed is printed in pytest's header and in every report).

``pytest --submission nb.ipynb`` runs the notebook's code cells in this process (fine for your
own work) and keeps only the graded tests of the exercises that notebook contains. To grade
notebooks you do not trust, use ``rlhf-edu grade``, which runs the same thing in a sandbox.

Under ``--submission`` the run ends with the student's self-check (``rlhf_edu.grading.selfcheck``):
a points table per exercise and one line per failed test (what it checked, the input in words, a
hint); the tracebacks are shown with ``-v`` or an explicit ``--tb=``.
"""

from __future__ import annotations

import os
import secrets
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rlhf_edu.grading import selfcheck
from rlhf_edu.grading.execution import (
    ExecutedNotebook,
    SubmissionError,
    execute_cells,
    load_code_cells,
)
from rlhf_edu.grading.manifest import import_reference, load_manifest

SEED_ENV = "RLHF_EDU_GRADED_SEED"
GRADED_MARKER = "graded"

#: The submission the ``solution`` fixture serves (None: the reference implementations).
_submission: ExecutedNotebook | None = None
_submission_exercises: set[str] | None = None


def set_submission(executed: ExecutedNotebook | None, exercises: set[str] | None = None) -> None:
    """Serve ``executed``'s functions to the graded tests (None: back to the references)."""
    global _submission, _submission_exercises
    _submission = executed
    _submission_exercises = exercises


class MissingFunction(AssertionError):
    """The submission does not define the function a graded test needs."""


class Solution:
    """Attribute access gives an exercise function: the submission's, or the reference."""

    def __init__(self, submission: ExecutedNotebook | None = None) -> None:
        self._submission = submission

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if self._submission is not None:
            function = self._submission.function(name)
            if function is None:
                raise MissingFunction(
                    f"the notebook does not define a function named {name!r} "
                    "(did its cell raise? keep the name and signature the notebook gives)"
                )
            return function
        exercise = load_manifest().by_function(name)
        if exercise is None:
            raise AttributeError(f"no exercise in the manifest has function {name!r}")
        return import_reference(exercise.reference)

    def __repr__(self) -> str:
        return "Solution(reference)" if self._submission is None else "Solution(submission)"


def solution_for(request: pytest.FixtureRequest) -> Solution:
    return Solution(_submission)


def graded_seed(config: pytest.Config) -> int:
    return int(config.getoption("graded_seed"))


def graded_rng_for(request: pytest.FixtureRequest) -> np.random.Generator:
    """A generator from the run's seed and the test's file and name (order-independent)."""
    key = f"{Path(str(request.node.path)).name}::{request.node.name}"
    return np.random.default_rng([graded_seed(request.config), zlib.crc32(key.encode())])


# --- hooks (registered by the project's root conftest.py, or with -p rlhf_edu.grading.pytest_plugin)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rlhf_edu", "rlhf_edu graded tests")
    group.addoption(
        "--submission",
        metavar="NOTEBOOK",
        default=None,
        help="run the graded tests against the functions this notebook defines "
        "(executes it in this process; use 'rlhf-edu grade' for untrusted notebooks)",
    )
    group.addoption(
        "--graded-seed",
        type=int,
        default=None,
        help=f"seed of the graded tests' random inputs (default: ${SEED_ENV}, else random)",
    )
    group.addoption(
        "--submission-cell-timeout",
        type=float,
        default=120.0,
        help="seconds per notebook cell under --submission (default 120)",
    )
    group.addoption(
        "--submission-definitions-only",
        action="store_true",
        help="under --submission run only the notebook's imports, definitions and constants "
        "(fast: checks the exercise functions without the experiments)",
    )


def pytest_configure(config: pytest.Config) -> None:
    seed = config.getoption("graded_seed")
    if seed is None:
        seed = int(os.environ.get(SEED_ENV) or secrets.randbelow(2**32))
        config.option.graded_seed = seed
    os.environ[SEED_ENV] = str(seed)  # xdist workers and subprocesses see the same seed
    path = config.getoption("submission")
    if path and _submission is None:
        try:
            cells = load_code_cells(path)
        except SubmissionError as err:
            raise pytest.UsageError(str(err)) from None
        timeout = config.getoption("submission_cell_timeout")
        executed = execute_cells(
            cells,
            cell_timeout=timeout,
            only_definitions=config.getoption("submission_definitions_only"),
        )
        set_submission(executed, _exercises_of(path, executed))
        config._rlhf_edu_cell_errors = [c for c in executed.cells if c.status != "ok"]
    if path:
        selfcheck.register(config)  # the points table and one feedback line per failed test


def _exercises_of(path: str | os.PathLike, executed: ExecutedNotebook) -> set[str] | None:
    if executed.exercises:
        return set(executed.exercises)
    try:
        module = load_manifest().module_for_notebook(str(path))
    except (OSError, ValueError):
        return None
    return {e.id for e in module.exercises} if module else None


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = [f"rlhf_edu graded tests: seed {config.getoption('graded_seed')} (--graded-seed)"]
    path = config.getoption("submission")
    if path:
        lines.append(f"rlhf_edu submission: {path}")
        for cell in getattr(config, "_rlhf_edu_cell_errors", []):
            first = cell.error.strip().splitlines()[-1:] or [""]
            lines.append(f"  cell {cell.index}: {cell.status}: {first[0][:200]}")
    return lines


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``--submission``: keep only the graded tests of the submission's exercises."""
    if not config.getoption("submission"):
        return
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker(GRADED_MARKER)
        exercise = str(marker.kwargs.get("exercise")) if marker else None
        if marker and (_submission_exercises is None or exercise in _submission_exercises):
            keep.append(item)
        else:
            drop.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
