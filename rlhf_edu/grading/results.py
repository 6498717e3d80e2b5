"""What grading a submission produces: per-test and per-cell results, and the submission's grade.

The statuses are fields (``CellStatus``, ``Flag``), never phrases to look for in a message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rlhf_edu.grading.collect import GradedTest
from rlhf_edu.grading.manifest import Module


class CellStatus:
    OK = "ok"
    ERROR = "error"  # raised, or a syntax error
    TIMEOUT = "timeout"  # stopped at the cell time limit
    CRASHED = "crashed"  # ended or killed the worker
    SKIPPED = "skipped"  # not run again after it crashed or hung an earlier worker


class Flag:
    """Marks on a submission for the instructor (the ``flags`` column of grades.csv)."""

    UNREADABLE = "unreadable"  # missing, not JSON, not a notebook
    FAILED_CELLS = "failed-cells"
    DELEGATED = "delegated"  # an exercise handed to the course's reference
    WEAK_ISOLATION = "weak-isolation"
    TRUNCATED = "truncated"  # a report was cut to its size limit


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
    status: str  # a CellStatus
    error: str = ""
    exercise: str | None = None


@dataclass
class SubmissionResult:
    """One student's grade and everything the feedback says."""

    name: str  # the submission's output folder (unique in the class)
    path: Path  # the submission as given on the command line
    module: Module | None
    seed: int
    tests: list[TestResult] = field(default_factory=list)
    cells: dict[int, CellReport] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    delegated: dict[str, str] = field(default_factory=dict)  # exercise id -> why
    isolation: str = "sealed"
    readable: bool = True
    execution_time: float = 0.0
    attempts: int = 0
    output: str = ""  # what the notebook printed

    @property
    def score(self) -> float:
        return float(sum(t.score for t in self.tests))

    @property
    def max_score(self) -> float:
        return float(sum(t.test.points for t in self.tests))

    @property
    def failed_cells(self) -> list[CellReport]:
        return [
            c
            for c in sorted(self.cells.values(), key=lambda c: c.index)
            if c.status != CellStatus.OK
        ]

    def flag(self, flag: str) -> None:
        if flag not in self.flags:
            self.flags.append(flag)


def clip(text: str, limit: int) -> str:
    """The start and the end of ``text`` (where errors and summaries are), at most ``limit``."""
    if len(text) <= limit:
        return text
    half = max((limit - 60) // 2, 0)
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters left out ...]\n{text[-half:]}"
