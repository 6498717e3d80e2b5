"""The manifest (course/course.toml), the notebooks, the graded tests and the references agree.

See course/AUTHORING.md for the contract these tests enforce.
"""

import inspect
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import pytest

from rlhf_edu.grading.assign import assign
from rlhf_edu.grading.collect import collect_graded_tests
from rlhf_edu.grading.manifest import import_reference, load_manifest
from rlhf_edu.grading.notebooks import (
    BEGIN_SOLUTION,
    END_SOLUTION,
    cell_source,
    notebook_exercises,
    read_notebook,
)

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = load_manifest(ROOT / "course" / "course.toml")
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
GRADED_NOTEBOOKS = [
    p for p in SOLUTIONS if any(m.notebook == p.name and m.exercises for m in MANIFEST.modules)
]
EXERCISES = MANIFEST.exercises


def module_of(notebook: Path):
    module = MANIFEST.module_for_notebook(notebook.name)
    assert module is not None and module.notebook == notebook.name, (
        f"solutions/{notebook.name} is not a module's notebook in course/course.toml"
    )
    return module


def test_manifest_module_ids_are_unique_and_every_notebook_and_lesson_exists():
    ids = [m.id for m in MANIFEST.modules]
    assert len(ids) == len(set(ids)), f"duplicate module ids: {ids}"
    exercise_ids = [e.id for e in EXERCISES]
    assert len(exercise_ids) == len(set(exercise_ids)), f"duplicate exercise ids: {exercise_ids}"
    missing = [
        str(path.relative_to(ROOT))
        for m in MANIFEST.modules
        for path in (
            ROOT / "solutions" / m.notebook,
            ROOT / "notebooks" / m.notebook,
            *([ROOT / "course" / m.lesson] if m.lesson else []),
        )
        if not path.exists()
    ]
    assert not missing, f"files named in course/course.toml that do not exist: {missing}"
    for module in MANIFEST.modules:
        assert module.notebook.startswith(f"{module.id}-{module.slug}"), module


@pytest.mark.parametrize("notebook", SOLUTIONS, ids=[p.name for p in SOLUTIONS])
def test_notebook_exercise_cells_match_the_manifest(notebook: Path):
    module = module_of(notebook)
    declared = notebook_exercises(read_notebook(notebook))
    got = sorted((e.id, e.title, e.points, e.function) for e in declared)
    want = sorted((e.id, e.title, e.points, e.function) for e in module.exercises)
    assert got == want, (
        f"{notebook.name}: exercise cells (id, title, points, function) {got} "
        f"but course/course.toml says {want}"
    )


#: Issue #12: students write the agents, so the graded solutions hold at least this much code.
MIN_GRADED_SOLUTION_LINES = 900


def graded_solution_lines(notebook: Path) -> int:
    """Non-blank lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` in the notebook's
    exercise cells (the code a student writes)."""
    nb = read_notebook(notebook)
    count = 0
    for exercise in notebook_exercises(nb):
        inside = False
        for line in cell_source(nb.cells[exercise.cell_index]).splitlines():
            marker = line.strip()
            if marker in (BEGIN_SOLUTION, END_SOLUTION):
                inside = marker == BEGIN_SOLUTION
            elif inside and marker:
                count += 1
    return count


def test_graded_solution_code_is_at_least_900_lines():
    lines = {notebook.name: graded_solution_lines(notebook) for notebook in GRADED_NOTEBOOKS}
    assert all(n > 0 for n in lines.values()), f"a graded notebook with no solution code: {lines}"
    assert sum(lines.values()) >= MIN_GRADED_SOLUTION_LINES, (
        f"the graded solutions hold {sum(lines.values())} non-blank lines, fewer than "
        f"{MIN_GRADED_SOLUTION_LINES}: {lines}"
    )


def test_graded_tests_exist_for_every_exercise_and_their_points_add_up_to_the_manifest():
    tests = collect_graded_tests([ROOT / "tests" / "graded"], cwd=ROOT)
    points = defaultdict(float)
    for test in tests:
        assert test.exercise in {e.id for e in EXERCISES}, (
            f"{test.nodeid} is graded for exercise {test.exercise!r}, not in course/course.toml"
        )
        module = MANIFEST.modules[
            [m.id for m in MANIFEST.modules].index(MANIFEST.exercise(test.exercise).module_id)
        ]
        assert Path(test.nodeid.split("::")[0]).name.startswith(f"test_{module.id}_"), (
            f"{test.nodeid}: tests of exercise {test.exercise} belong in "
            f"tests/graded/test_{module.id}_*.py"
        )
        points[test.exercise] += test.points
    for exercise in EXERCISES:
        assert points[exercise.id] == pytest.approx(exercise.points), (
            f"exercise {exercise.id}: graded tests are worth {points[exercise.id]} points, "
            f"the manifest says {exercise.points}"
        )


@pytest.mark.parametrize("exercise", EXERCISES, ids=[e.id for e in EXERCISES])
def test_reference_is_importable_and_has_the_notebook_functions_signature(exercise):
    reference = import_reference(exercise.reference)
    assert callable(reference)
    assert reference.__name__ == exercise.function, (
        f"{exercise.reference} should be named {exercise.function}"
    )
    module = next(m for m in MANIFEST.modules if m.id == exercise.module_id)
    path = ROOT / "solutions" / module.notebook
    if not path.exists():
        pytest.fail(f"exercise {exercise.id}: solutions/{module.notebook} does not exist")
    nb = read_notebook(path)
    cell = nb.cells[next(e.cell_index for e in notebook_exercises(nb) if e.id == exercise.id)]
    namespace: dict = {}
    source = "\n".join(
        line for line in cell_source(cell).splitlines() if not line.lstrip().startswith(("%", "!"))
    )
    exec(compile(_signature_stub(source, exercise.function), "<signature>", "exec"), namespace)
    notebook_params = list(inspect.signature(namespace[exercise.function]).parameters)
    reference_params = list(inspect.signature(reference).parameters)
    assert notebook_params == reference_params, (
        f"exercise {exercise.id}: notebook signature {notebook_params} != reference "
        f"{exercise.reference} {reference_params}"
    )


def _signature_stub(source: str, function: str) -> str:
    """Only the ``def`` of ``function`` with an empty body and no annotations or defaults' values
    (so the check needs none of the cell's imports)."""
    import ast

    from rlhf_edu.grading.dependencies import to_python

    for node in ast.parse(to_python(source)).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == function:
            args = node.args
            for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
                if arg is not None:
                    arg.annotation = None
            args.defaults = [ast.Constant(None) for _ in args.defaults]
            args.kw_defaults = [None if d is None else ast.Constant(None) for d in args.kw_defaults]
            node.decorator_list, node.returns, node.body = [], None, [ast.Pass()]
            return ast.unparse(ast.fix_missing_locations(node))
    raise AssertionError(f"the exercise cell defines no function {function!r}")


@pytest.mark.parametrize(
    "test_file", sorted((ROOT / "tests" / "graded").glob("test_*.py")), ids=lambda p: p.name
)
def test_graded_tests_import_nothing_from_the_projects_test_helpers(test_file: Path):
    """rlhf-edu grade runs graded tests without ``pythonpath = ["tests"]`` (AUTHORING.md)."""
    import ast

    for node in ast.walk(ast.parse(test_file.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        for name in names:
            assert name.split(".")[0] not in {"helpers", "tests", "conftest"}, (
                f"{test_file.name}:{node.lineno} imports {name}, which the grader cannot import"
            )


def test_student_notebooks_are_in_sync_with_solutions():
    report = assign(ROOT / "solutions", ROOT / "notebooks", check=True)
    assert report.in_sync, "\n".join(
        report.out_of_sync + ["run 'rlhf-edu assign' to regenerate notebooks/"]
    )


def _graded_outcomes(notebook: Path, tmp_path: Path) -> dict[str, str]:
    module = module_of(ROOT / "solutions" / notebook.name)
    test_files = sorted((ROOT / "tests" / "graded").glob(f"test_{module.id}_*.py"))
    assert test_files, f"no tests/graded/test_{module.id}_*.py for {notebook.name}"
    junit = tmp_path / "junit.xml"
    env = {**os.environ, "RLHF_EDU_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    env.pop("PYTEST_XDIST_WORKER", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *(str(p.relative_to(ROOT)) for p in test_files),
            f"--submission={notebook}",
            "--submission-definitions-only",
            "-p",
            "no:cacheprovider",
            "-q",
            f"--junitxml={junit}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert junit.exists(), result.stdout[-4000:] + result.stderr[-4000:]
    outcomes = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        failed = case.find("failure") is not None or case.find("error") is not None
        skipped = case.find("skipped") is not None
        outcomes[case.get("name")] = "skipped" if skipped else ("failed" if failed else "passed")
    return outcomes


@pytest.mark.slow  # runs pytest twice per notebook
@pytest.mark.parametrize("notebook", GRADED_NOTEBOOKS, ids=[p.name for p in GRADED_NOTEBOOKS])
def test_solution_earns_every_point_and_the_student_version_none(notebook: Path, tmp_path: Path):
    """Graded tests pass on the solution notebook's exercise functions and fail on the untouched
    student version (run on the notebooks' definitions only, so this stays fast)."""
    solved = _graded_outcomes(notebook, tmp_path)
    assert solved and set(solved.values()) == {"passed"}, f"{notebook.name}: {solved}"
    student = _graded_outcomes(ROOT / "notebooks" / notebook.name, tmp_path)
    assert set(student) == set(solved) and set(student.values()) == {"failed"}, (
        f"notebooks/{notebook.name}: every graded test must fail before the exercises are done; "
        f"got {student}"
    )
