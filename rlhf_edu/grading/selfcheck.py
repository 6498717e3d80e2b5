"""The student's self-check: a points table and one line of feedback per failed graded test.

``pytest --submission=notebooks/NN.ipynb`` ends with a table of the points earned per exercise
and, for each failed test, one line: what the test checked, the input it tried (in words), what
went wrong and a hint. The tracebacks are left out unless asked for (``-v``, or any ``--tb=``).
Runs without ``--submission`` (the project's own tests) are not changed.

A graded test says what it checks and what a failure most likely means in its marker, and in
words which input it is trying with ``given``; an assertion can carry a more specific hint::

    from rlhf_edu.grading.selfcheck import failure, given

    @pytest.mark.graded(
        exercise="3.2", points=1,
        checks="the TD target of a terminal step",
        hint="a terminal step's target is r alone: does it bootstrap from a terminal state?",
    )
    def test_q_learning_does_not_bootstrap_from_terminal_states(solution, graded_rng):
        given("a random 5x3 Q-table, a terminal step with r = 1.5")
        ...
        assert got == pytest.approx(want), failure(
            f"Q[s, a] = {got:.4g}, expected {want:.4g}", hint="Q[s_next] must not be used"
        )

- ``checks=`` (marker): what the test checks, a few words. Default: the first line of the test's
  docstring, else its name in words.
- ``hint=`` (marker): the likely bug when the test fails. ``failure(message, hint)`` (an
  assertion message ending in a line ``hint: ...``) overrides it for that assertion.
- ``given(text)``: the input the test is about to try; the last one before a failure is shown.

The same line is added to the failure's traceback (a section ``rlhf_edu self-check``), so
``rlhf-edu grade``'s feedback.md and results.json show it too.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

import pytest

GRADED_MARKER = "graded"
PLUGIN_NAME = "rlhf_edu_selfcheck"
SECTION = "rlhf_edu self-check"
HINT_PREFIX = "hint: "
#: ``report.user_properties`` keys (they travel with the report, also from xdist workers).
GRADED_KEY = "rlhf_edu_graded"
FEEDBACK_KEY = "rlhf_edu_feedback"

NOT_WRITTEN_HINT = (
    "not written yet: replace the `raise NotImplementedError(...)` line of the exercise's cell "
    "with your code"
)
MISSING_HINT = (
    "keep the function's name and signature as the notebook gives them; did its cell run?"
)
DID_NOT_RAISE_HINT = "the docstring asks for an exception on this input: check the arguments"
DEFAULT_HINT = "compare with the docstring's example; run with -v for the full traceback"

_given = ""


def given(description: str) -> None:
    """Say in words which input the graded test tries next (shown if the test then fails)."""
    global _given
    _given = " ".join(str(description).split())


def failure(message: str, hint: str) -> str:
    """An assertion message that carries a hint: ``assert ok, failure("got 3, expected 2", "...")``."""
    return f"{message}\n{HINT_PREFIX}{' '.join(str(hint).split())}"


@dataclass
class Feedback:
    """What the self-check says about one failed graded test."""

    exercise: str
    test: str
    checked: str
    input: str
    problem: str
    hint: str

    def line(self) -> str:
        parts = [f"checked: {_short(self.checked, 110)}"]
        if self.input:
            parts.append(f"input: {_short(self.input, 140)}")
        if self.problem:
            parts.append(f"got: {_short(self.problem, 140)}")
        parts.append(f"hint: {_short(self.hint, 180)}")
        return " | ".join(parts)


def _short(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def checked_of(item: pytest.Item) -> str:
    """What a graded test checks: its marker's ``checks=``, its docstring's first line, its name."""
    marker = item.get_closest_marker(GRADED_MARKER)
    if marker is not None and marker.kwargs.get("checks"):
        return str(marker.kwargs["checks"])
    doc = getattr(getattr(item, "function", None), "__doc__", None) or ""
    first = doc.strip().splitlines()[0].strip() if doc.strip() else ""
    if first:
        return first
    name = re.sub(r"\[.*\]$", "", item.name)
    return re.sub(r"^test_", "", name).replace("_", " ")


def _message_lines(excinfo: pytest.ExceptionInfo[BaseException]) -> list[str]:
    return [line.strip() for line in str(excinfo.value).splitlines() if line.strip()]


def feedback_for(item: pytest.Item, excinfo: pytest.ExceptionInfo[BaseException]) -> Feedback:
    """The one-line feedback of ``item``, failed with ``excinfo``."""
    marker = item.get_closest_marker(GRADED_MARKER)
    kwargs = marker.kwargs if marker is not None else {}
    lines = _message_lines(excinfo)
    hints = [line[len(HINT_PREFIX) :] for line in lines if line.startswith(HINT_PREFIX)]
    text = [line for line in lines if not line.startswith(HINT_PREFIX)]
    problem = text[0] if text else ""
    kind = excinfo.type.__name__
    whole = str(excinfo.value)
    if isinstance(excinfo.value, NotImplementedError) or "raised NotImplementedError" in whole:
        hint = NOT_WRITTEN_HINT
        problem = "NotImplementedError: " + (text[-1] if text else "")
    elif any(cls.__name__ == "MissingFunction" for cls in excinfo.type.__mro__):
        # pytest_plugin.MissingFunction, by name: that module imports this one
        hint = MISSING_HINT
    elif hints:
        hint = hints[-1]
    elif kwargs.get("hint"):
        hint = str(kwargs["hint"])
    elif problem.startswith("DID NOT RAISE"):
        hint = DID_NOT_RAISE_HINT
    else:
        hint = DEFAULT_HINT
    if not isinstance(excinfo.value, AssertionError) and not problem.startswith(kind):
        problem = f"{kind}: {problem}" if problem else kind
    return Feedback(
        exercise=str(kwargs.get("exercise", "")),
        test=item.name,
        checked=checked_of(item),
        input=_given,
        problem=problem,
        hint=hint,
    )


@dataclass
class _Outcome:
    exercise: str
    points: float
    passed: bool = True
    feedback: dict[str, Any] | None = None


class SelfCheck:
    """pytest plugin (registered under ``--submission``): feedback lines and the points table."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.outcomes: dict[str, _Outcome] = {}
        # Short output for the student unless a traceback style or -v was asked for.
        self.short = config.option.verbose <= 0 and config.option.tbstyle == "auto"
        if self.short:
            config.option.tbstyle = "no"

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        given("")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]):
        outcome = yield
        report = outcome.get_result()
        marker = item.get_closest_marker(GRADED_MARKER)
        if marker is None:
            return
        graded = {
            "exercise": str(marker.kwargs.get("exercise")),
            "points": float(marker.kwargs.get("points", 0)),
        }
        report.user_properties.append((GRADED_KEY, graded))
        if report.failed and call.excinfo is not None:
            feedback = feedback_for(item, call.excinfo)
            report.user_properties.append((FEEDBACK_KEY, asdict(feedback)))
            if hasattr(report.longrepr, "addsection"):
                report.longrepr.addsection(SECTION, feedback.line())

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        properties = dict(report.user_properties)
        graded = properties.get(GRADED_KEY)
        if graded is None:
            return
        entry = self.outcomes.setdefault(
            report.nodeid, _Outcome(graded["exercise"], graded["points"])
        )
        if report.failed or report.skipped:
            entry.passed = False
            if entry.feedback is None and FEEDBACK_KEY in properties:
                entry.feedback = properties[FEEDBACK_KEY]
            elif entry.feedback is None and report.skipped:
                entry.feedback = {"checked": "", "input": "", "problem": "skipped", "hint": ""}

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if self.short and reporter is not None:
            # Our lines replace the "short test summary info" of failures and errors.
            reporter.reportchars = reporter.reportchars.replace("f", "").replace("E", "")

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.outcomes:
            return
        for line in summary_lines(self.outcomes, self.short):
            terminalreporter.write_line(line)


def _titles() -> dict[str, str]:
    try:
        from rlhf_edu.grading.manifest import load_manifest

        return {e.id: e.title for e in load_manifest().exercises}
    except (OSError, ValueError, KeyError):
        return {}


def _fmt(points: float) -> str:
    return f"{points:g}"


def summary_lines(outcomes: dict[str, _Outcome], short: bool = True) -> list[str]:
    """The points table per exercise, then one line per failed test."""
    titles = _titles()
    per_exercise: dict[str, list[float]] = {}
    for outcome in outcomes.values():
        got, most = per_exercise.setdefault(outcome.exercise, [0.0, 0.0])
        per_exercise[outcome.exercise] = [
            got + (outcome.points if outcome.passed else 0.0),
            most + outcome.points,
        ]
    rows = [
        (exercise, _short(titles.get(exercise, ""), 56), f"{_fmt(got)} / {_fmt(most)}")
        for exercise, (got, most) in sorted(per_exercise.items(), key=lambda kv: _order(kv[0]))
    ]
    total = sum(g for g, _ in per_exercise.values()), sum(m for _, m in per_exercise.values())
    rows.append(("total", "", f"{_fmt(total[0])} / {_fmt(total[1])}"))
    width = [max(len(r[i]) for r in [("exercise", "title", "points"), *rows]) for i in range(3)]
    lines = ["", "=" * 24 + " rlhf_edu self-check: points " + "=" * 24]
    header = ("exercise", "title", "points")
    for n, row in enumerate([header, *rows]):
        if n == len(rows):  # before the total
            lines.append("-" * (width[0] + width[1] + width[2] + 4))
        lines.append(f"{row[0]:<{width[0]}}  {row[1]:<{width[1]}}  {row[2]:>{width[2]}}")
    failed = [(nodeid, o) for nodeid, o in outcomes.items() if not o.passed]
    if failed:
        lines += ["", f"{len(failed)} failed test(s), one line each:"]
        for nodeid, outcome in sorted(failed, key=lambda kv: _order(kv[1].exercise)):
            name = nodeid.rsplit("::", 1)[-1]  # shown with -v; the line says what it checks
            data = outcome.feedback or {}
            text = Feedback(
                exercise=outcome.exercise,
                test=name,
                checked=data.get("checked", "") or name,
                input=data.get("input", ""),
                problem=data.get("problem", ""),
                hint=data.get("hint", "") or DEFAULT_HINT,
            ).line()
            lines.append(f"FAIL {outcome.exercise} ({_fmt(outcome.points)} pt): {text}")
        if short:
            lines.append("(the full tracebacks: run again with -v)")
    return lines


def _order(exercise: str) -> tuple:
    """Exercise ids in numeric order (0.2 before 0.10)."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in exercise.split("."))


def register(config: pytest.Config) -> None:
    """Register the self-check once (the root conftest and ``-p`` may both configure us)."""
    if not config.pluginmanager.has_plugin(PLUGIN_NAME):
        config.pluginmanager.register(SelfCheck(config), PLUGIN_NAME)
