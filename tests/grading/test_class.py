"""rlhf-edu grade on a class: every student gets exactly the expected score, whatever the others
submitted; no hostile notebook earns a mark it did not earn, escapes its sandbox, outlives the
grading, leaves files behind or changes the checkout.

The hostile notebooks are in tests/fixtures/submissions/ (``make_fixtures.py`` writes them; each
states its expected score in its metadata); the perfect and blank submissions are the tour's
solution and student notebooks; the partial ones are generated here (conftest.PARTIALS).
"""

import csv
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from rlhf_edu.grading import isolation
from rlhf_edu.grading.manifest import load_manifest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "submissions"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
PROTECTED = [
    ROOT / "conftest.py",
    ROOT / "tests" / "graded" / "conftest.py",
    ROOT / "tests" / "graded" / "test_00_tour.py",
]
UNREADABLE = {"hostile-not-json", "hostile-not-a-notebook", "hostile-nbformat-3"}
SEALED = isolation.detect().mode == isolation.SEALED
needs_seal = pytest.mark.skipif(not SEALED, reason="bubblewrap cannot seal a sandbox here")
HOST_PORT = 47613  # make_fixtures.HOST_PORT
#: Every submission here is the tour's (module 00); each graded test counts its points.
TOUR_POINTS = sum(e.points for m in load_manifest().modules if m.id == "00" for e in m.exercises)


def expected_score(path: Path) -> float:
    if path.stem in UNREADABLE:
        return 0
    return json.loads(path.read_text())["metadata"]["rlhf_edu_test"]["expected_score"]


def grade(submissions, out: Path, *options: str, env=None, python=sys.executable):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RLHF_EDU_NO_PROGRESS": "1", **(env or {})}
    env.pop("PYTEST_XDIST_WORKER", None)
    command = [python, "-m", "rlhf_edu.cli", "grade", *map(str, submissions)]
    command += ["--out", str(out), "--seed", "12345", "--notebook", "00", *options]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500)


def read_rows(out: Path) -> dict[str, dict]:
    with open(out / "grades.csv", newline="") as fh:
        return {row["submission"]: row for row in csv.DictReader(fh)}


def digest(paths) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def check_class(result, out: Path, expected: dict[str, float], returncode: int = 0) -> None:
    assert result.returncode == returncode, result.stdout[-3000:] + result.stderr[-3000:]
    grades = {name: float(row["score"]) for name, row in read_rows(out).items()}
    assert grades == expected, {
        k: (grades.get(k), v) for k, v in expected.items() if grades.get(k) != v
    }
    for name, score in expected.items():
        data = json.loads((out / name / "results.json").read_text())
        assert data["score"] == score
        assert sum(t["max_score"] for t in data["tests"]) == TOUR_POINTS
        assert (out / name / "feedback.md").read_text().startswith(f"# Feedback: {name}")
        assert name in result.stdout  # the class summary table


def escapees() -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes()
        except OSError:
            continue
        if b"rlhf-edu-escapee" in text and b"pytest" not in text:
            found.append(int(cmdline.parent.name))
    return found


def test_crashing_and_unreadable_submissions_cost_only_their_own_points(tmp_path, write_partial):
    submissions = [
        FIXTURES / "hostile-not-json.ipynb",
        FIXTURES / "hostile-os-exit.ipynb",
        FIXTURES / "hostile-exercise-exits-when-called.ipynb",
        FIXTURES / "hostile-background-process.ipynb",
    ]
    partial, partial_score = write_partial("partial-no-validation")
    out = tmp_path / "out"
    result = grade([*submissions, partial], out, "--workers", "2", "--cell-timeout", "30")
    expected = {p.stem: expected_score(p) for p in submissions}
    expected[partial.stem] = partial_score
    check_class(result, out, expected, returncode=1)  # one submission could not be read
    feedback = (out / "hostile-os-exit" / "feedback.md").read_text()
    assert "exited with status 0" in feedback and "graded again without this cell" in feedback
    tests = json.loads((out / "hostile-exercise-exits-when-called" / "results.json").read_text())
    first = [t for t in tests["tests"] if t["number"] == "0.1"]  # the exercise that exits
    assert first and all("stopped answering in estimate_success_rate" in t["output"] for t in first)
    assert "not valid JSON" in (out / "hostile-not-json" / "feedback.md").read_text()
    rows = read_rows(out)
    assert "unreadable" in rows["hostile-not-json"]["flags"].split()
    assert "failed-cells" in rows["hostile-os-exit"]["flags"].split()
    assert rows["hostile-os-exit"]["problems"]  # the failed cell is named in the CSV
    assert "could not be read" in result.stdout
    assert not escapees(), "a process started by a submission outlived its grading"


def test_names_never_collide_and_a_missing_file_is_named_with_a_failing_exit(tmp_path):
    folder = tmp_path / "submissions"
    for relative in ("a/alice.ipynb", "b/alice.ipynb", "alice-2.ipynb", "grades.csv.ipynb"):
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(FIXTURES / "hostile-not-json.ipynb", folder / relative)
    paths = [folder / "a/alice.ipynb", folder / "b/alice.ipynb", folder / "alice-2.ipynb"]
    paths += [folder / "grades.csv.ipynb", folder / "missing.ipynb"]
    out = tmp_path / "out"
    result = grade(paths, out)
    assert result.returncode == 1, result.stderr[-2000:]
    rows = read_rows(out)
    assert len(rows) == 5 and sorted(row["path"] for row in rows.values()) == sorted(
        map(str, paths)
    )
    for name in rows:
        assert (out / name / "results.json").is_file() and name.lower() != "grades.csv"
    assert (out / "grades.csv").is_file()
    missing = next(row for row in rows.values() if row["path"].endswith("missing.ipynb"))
    assert "file not found" in missing["problems"]


@pytest.mark.skipif(not IS_ROOT, reason="the project is protected by user ids only as root")
def test_sandboxed_code_cannot_write_the_project_the_tests_or_the_results(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    canary = out / "canary.txt"
    canary.write_text("results of someone else\n")
    before = digest([*PROTECTED, canary])
    attackers = ["hostile-overwrites-tests-and-results", "hostile-deletes-files"]
    result = grade(
        [FIXTURES / f"{name}.ipynb" for name in attackers],
        out,
        *("--workers", "2", "--cell-timeout", "30"),
    )
    check_class(result, out, {name: 2 for name in attackers})
    assert digest([*PROTECTED, canary]) == before
    assert not (ROOT / "tests" / "graded" / "test_00_zzz.py").exists()
    for name in attackers:
        feedback = (out / name / "feedback.md").read_text()
        line = next(
            line for line in feedback.splitlines() if line.startswith("RuntimeError: ATTACKS")
        )
        attempts = json.loads(line.split("ATTACKS ", 1)[1])
        assert len(attempts) >= 3 and "DONE" not in attempts.values(), attempts


def leftovers() -> set[str]:
    found = set()
    for folder in ("/tmp", "/var/tmp", "/dev/shm"):
        for entry in Path(folder).glob("*"):
            if entry.name.startswith(("rlhf-edu-leftover", "rlhf-edu-grade-")):
                found.add(str(entry))
    return found


def checkout_state() -> str:
    status = subprocess.run(
        ["git", "status", "--porcelain", "--", "tests/graded", "tests/fixtures", "solutions"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return status.stdout


@needs_seal
@pytest.mark.slow
def test_a_class_of_honest_and_hostile_submissions_gets_exactly_the_marks_it_earned(
    tmp_path, write_partial
):
    folder = tmp_path / "submissions"
    folder.mkdir()
    shutil.copy(ROOT / "solutions" / "00-tour.ipynb", folder / "perfect.ipynb")
    shutil.copy(ROOT / "notebooks" / "00-tour.ipynb", folder / "blank.ipynb")
    expected = {"perfect": TOUR_POINTS, "blank": 0}
    for name in ("partial-same-seed-every-episode", "partial-divides-by-n-plus-one"):
        path, score = write_partial(name, folder)
        expected[path.stem] = score
    hostile = sorted(FIXTURES.glob("hostile-*.ipynb"))
    expected.update({p.stem: expected_score(p) for p in hostile})
    assert len(expected) >= 25
    before_leftovers, before_checkout = leftovers(), checkout_state()
    before = digest(PROTECTED)
    out = tmp_path / "out"
    with socket.socket() as listener:  # a host service that no sandbox may reach
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", HOST_PORT))
        listener.listen()
        listener.settimeout(0)
        result = grade(
            [*sorted(folder.glob("*.ipynb")), *hostile],
            out,
            *("--workers", "2", "--cell-timeout", "20", "--timeout", "240"),
            *("--memory-mb", "1536"),
        )
        with pytest.raises(BlockingIOError):
            listener.accept()
    check_class(result, out, expected, returncode=1)  # three submissions are not notebooks
    # Nothing outlives the grading, nothing is left in the shared temporary folders, the
    # checkout is as it was.
    assert not escapees(), "a process started by a submission outlived its grading"
    assert leftovers() <= before_leftovers
    assert checkout_state() == before_checkout and digest(PROTECTED) == before
    rows = read_rows(out)
    assert "isolation: sealed" in result.stdout
    for name in ("hostile-imports-the-reference", "hostile-wraps-the-reference"):
        assert "delegated" in rows[name]["flags"].split()
        assert "reference" in (out / name / "feedback.md").read_text()
    probes = (out / "hostile-probes-the-host" / "notebook-output.txt").read_text()
    found = json.loads(probes.split("PROBES ", 1)[1].splitlines()[0])
    for what in ("shadow", "solutions", "tests", "tcp"):
        assert found[what].endswith("Error"), (what, found[what])
    assert found["processes"] <= 5 and int(found["uid"]) != 0
    flood = out / "hostile-floods-the-grader"
    assert (flood / "feedback.md").stat().st_size < 300_000
    assert (flood / "results.json").stat().st_size < 1_100_000
    markdown = (out / "hostile-markdown-in-errors" / "feedback.md").read_text()
    assert "```\n# Full marks" not in markdown and "'''" in markdown
    children = (out / "hostile-memory-in-children" / "feedback.md").read_text()
    assert "used more than 1536 MB of memory in all" in children
    memory = (out / "hostile-memory" / "feedback.md").read_text()
    assert "MemoryError" in memory or "memory" in memory
    output = (out / "hostile-prints-megabytes" / "notebook-output.txt").read_bytes()
    assert len(output) < 100_000 and b"more bytes of output dropped" in output
    perfect = (out / "perfect" / "notebook-output.txt").read_text()
    assert "exact success rate of the random agent" in perfect  # what the notebook printed
    loop = (out / "hostile-loop-ignores-timeout" / "feedback.md").read_text()
    assert "ran longer than 20 s" in loop
    for name in expected:
        assert str(ROOT) not in (out / name / "feedback.md").read_text()


DISTRIBUTION_PYTHON = Path("/usr/bin/python3")


def distribution_python_matches() -> bool:
    if not DISTRIBUTION_PYTHON.exists():
        return False
    version = subprocess.run(
        [DISTRIBUTION_PYTHON, "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return version == str(tuple(sys.version_info[:2]))


@pytest.mark.slow
@pytest.mark.skipif(not IS_ROOT, reason="the set-up of issue 11: the grader runs as root")
@pytest.mark.skipif(
    not distribution_python_matches(), reason="no /usr/bin/python3 of this Python's version"
)
@pytest.mark.parametrize("mode", ["auto", "weak"])
def test_a_perfect_notebook_earns_full_marks_from_a_world_readable_distribution_python(
    tmp_path_factory, mode
):
    """The usual Docker / Gradescope set-up: the project installed on the distribution's python3,
    which the sandbox's user can read (here the grader's own user ids never hide the problem).

    The virtual environment is built on /usr/bin/python3 with ``--without-pip`` and a ``.pth``
    file that adds this environment's site-packages: installing torch and the rest again with pip
    would take minutes and gigabytes, and what matters here is whose interpreter runs and who can
    read it.
    """
    import sysconfig
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="rlhf-edu-venv-"))  # /tmp, readable by everyone
    try:
        os.chmod(base, 0o755)
        venv = base / "venv"
        subprocess.run([DISTRIBUTION_PYTHON, "-m", "venv", "--without-pip", str(venv)], check=True)
        version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
        site = venv / "lib" / version / "site-packages"
        packages = sysconfig.get_paths()["purelib"]  # with its own .pth files (editable install)
        (site / "project-packages.pth").write_text(f"import site; site.addsitedir({packages!r})\n")
        for path in [base, *base.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o005)
        out = tmp_path_factory.mktemp("out")
        env = {"RLHF_EDU_GRADE_ISOLATION": mode}
        result = grade(
            [ROOT / "solutions" / "00-tour.ipynb"],
            out,
            "--cell-timeout",
            "60",
            env=env,
            python=str(venv / "bin" / "python"),
        )
        check_class(result, out, {"00-tour": TOUR_POINTS})
        isolation_of = json.loads((out / "00-tour" / "results.json").read_text())["extra_data"]
        assert isolation_of["isolation"] == ("weak" if mode == "weak" or not SEALED else "sealed")
    finally:
        shutil.rmtree(base, ignore_errors=True)
