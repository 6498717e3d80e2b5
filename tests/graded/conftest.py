"""Fixtures of the graded tests (see course/AUTHORING.md).

- ``solution``: ``solution.<function>`` is the exercise's reference implementation from rlhf_edu,
  or the student's function under ``pytest --submission nb.ipynb`` / ``rlhf-edu grade``.
- ``graded_rng``: a ``numpy.random.Generator`` from the run's seed (``--graded-seed``, printed in
  the header) and the test's name; draw the test's inputs from it.
"""

import numpy as np
import pytest

from rlhf_edu.grading.pytest_plugin import Solution, graded_rng_for, solution_for


@pytest.fixture
def solution(request: pytest.FixtureRequest) -> Solution:
    return solution_for(request)


@pytest.fixture
def graded_rng(request: pytest.FixtureRequest) -> np.random.Generator:
    return graded_rng_for(request)
