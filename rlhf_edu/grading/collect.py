"""Which graded tests exist, and what each is worth: pytest's own collection, in a subprocess.

``python -m rlhf_edu.grading.collect tests/graded/test_00_tour.py ...`` prints a JSON list of
``{"nodeid", "name", "exercise", "points"}`` (a parametrized test counts once per case). The
autograder takes points from this trusted list, never from a sandbox's report.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class GradedTest:
    nodeid: str
    name: str
    exercise: str
    points: float

    def to_dict(self) -> dict:
        return asdict(self)


class _Collector:
    def __init__(self) -> None:
        self.tests: list[GradedTest] = []
        self.errors: list[str] = []

    def pytest_collection_modifyitems(self, items) -> None:
        for item in items:
            marker = item.get_closest_marker("graded")
            if marker is None:
                continue
            self.tests.append(
                GradedTest(
                    nodeid=item.nodeid,
                    name=item.name,
                    exercise=str(marker.kwargs.get("exercise")),
                    points=marker.kwargs.get("points", 0),
                )
            )

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            self.errors.append(f"{report.nodeid}: {report.longreprtext[-2000:]}")


def collect_in_process(
    paths: Sequence[str], rootdir: str | None = None
) -> tuple[list[GradedTest], list[str]]:
    import pytest

    collector = _Collector()
    args = ["--collect-only", "-q", "-p", "no:cacheprovider", *map(str, paths)]
    if rootdir:
        args += ["--rootdir", rootdir]
    with open(os.devnull, "w") as devnull:
        stdout = sys.stdout
        sys.stdout = devnull
        try:
            pytest.main(args, plugins=[collector])
        finally:
            sys.stdout = stdout
    return collector.tests, collector.errors


def collect_graded_tests(
    paths: Sequence[str | Path], cwd: str | Path | None = None
) -> list[GradedTest]:
    """The graded tests in ``paths``, collected by pytest in a fresh subprocess.

    Raises:
        RuntimeError: the test files do not import or collect (the message has pytest's report).
    """
    result = subprocess.run(
        [sys.executable, "-m", "rlhf_edu.grading.collect", *map(str, paths)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTEST_ADDOPTS": ""},
    )
    if result.returncode != 0:
        raise RuntimeError(f"collecting {list(map(str, paths))} failed:\n{result.stderr[-4000:]}")
    return [GradedTest(**row) for row in json.loads(result.stdout.strip().splitlines()[-1])]


def main(argv: Sequence[str] | None = None) -> int:
    paths = list(sys.argv[1:] if argv is None else argv)
    tests, errors = collect_in_process(paths)
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    print(json.dumps([t.to_dict() for t in tests]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
