"""Test order: the longest tests first, so that ``pytest -n 2`` ends with short ones.

pytest-xdist hands tests to its workers in collection order. A seven-minute test collected last
would start when everything else is done and stretch the run by its whole length; started first,
it runs while the other worker clears the short tests. The README's command adds
``--dist worksteal``, so a worker that runs out of tests takes pending ones from the other
(with the default ``load`` scheduling, one worker once sat idle for ten minutes while the other
ran four CartPole trainings queued to it). The order is a fixed function of the node ids, so
every worker collects the same list (xdist requires it).
"""

from __future__ import annotations

import pytest

#: Node-id prefixes of the long tests, longest first (measured in CI with ``--durations``).
LONG_FIRST = (
    "tests/grading/test_class.py::test_a_class_of_honest",
    "tests/test_notebooks.py::test_solution_notebook",
    "tests/neural/test_slow_results.py",
    "tests/test_notebooks.py::test_student_notebook",
    "tests/browser/",  # JupyterLab, Chromium and the site (built once for all workers)
    "tests/website/",
    "tests/rlhf/test_ppo_results.py",
    "tests/grading/",
    "tests/test_manifest.py::test_solution_earns",
)


def _rank(item: pytest.Item) -> int:
    for rank, prefix in enumerate(LONG_FIRST):
        if item.nodeid.startswith(prefix):
            return rank
    return len(LONG_FIRST) + (0 if item.get_closest_marker("slow") else 1)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Sort the long tests to the front; Python's sort is stable, so the rest keep their order."""
    items.sort(key=_rank)
