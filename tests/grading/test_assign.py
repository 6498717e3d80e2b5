"""rlhf-edu assign: solutions stripped, outputs cleared, dependent cells tagged, output stable."""

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from rlhf_edu.cli import main as cli
from rlhf_edu.grading.assign import RAISES_TAG, assign, make_student_notebook
from rlhf_edu.grading.notebooks import MarkerError, dumps_notebook, strip_solutions

EXERCISE = '''import numpy as np


def td_target(r, v_next, gamma):
    """r + gamma * v_next."""
    ### BEGIN SOLUTION
    return r + gamma * v_next
    ### END SOLUTION


class Agent:
    def act(self, s):
        if s > 0:
            ### BEGIN SOLUTION
            return 1
            ### END SOLUTION
        return 0
'''


def exercise_cell(source=EXERCISE, exercise="3.2", title="TD target"):
    return new_code_cell(
        source, metadata={"rlhf_edu": {"exercise": exercise, "title": title, "points": 2}}
    )


def make_solution(*code_cells):
    nb = new_notebook()
    nb.cells = [new_markdown_cell("# A lesson"), *code_cells]
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.execution_count = 1
            cell.outputs = [new_output("stream", name="stdout", text="1.0\n")]
    return nb


def tags_by_source(student):
    return {
        c.source.splitlines()[0]: RAISES_TAG in c.metadata.get("tags", [])
        for c in student.cells
        if c.cell_type == "code"
    }


def test_each_marked_region_becomes_an_indented_raise_keeping_signature_and_docstring():
    student = strip_solutions(EXERCISE, "3.2", 'TD "target"')
    assert "### BEGIN SOLUTION" not in student and "return r + gamma" not in student
    assert (
        'def td_target(r, v_next, gamma):\n    """r + gamma * v_next."""\n    raise Not' in student
    )
    assert '\n            raise NotImplementedError("Exercise 3.2: TD \\"target\\"")\n' in student
    assert "        return 0" in student
    namespace = {}
    exec(student, namespace)  # still valid Python
    with pytest.raises(NotImplementedError, match='Exercise 3.2: TD "target"'):
        namespace["td_target"](1.0, 2.0, 0.9)


@pytest.mark.parametrize(
    "source",
    [
        "### BEGIN SOLUTION\nx = 1\n",
        "x = 1\n### END SOLUTION\n",
        "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n",
    ],
    ids=["begin-without-end", "end-without-begin", "nested"],
)
def test_unbalanced_markers_are_an_error_naming_the_cell(source):
    with pytest.raises(MarkerError, match="nb, cell 1"):
        make_student_notebook(make_solution(exercise_cell(source)), "nb")


def test_markers_outside_an_exercise_cell_and_exercises_without_markers_are_errors():
    with pytest.raises(MarkerError, match="without metadata"):
        make_student_notebook(make_solution(new_code_cell(EXERCISE)), "nb")
    with pytest.raises(MarkerError, match="no '### BEGIN SOLUTION' region"):
        make_student_notebook(make_solution(exercise_cell("def f():\n    return 1\n")), "nb")


def test_cells_that_need_an_unfinished_exercise_are_tagged_and_only_those():
    solution = make_solution(
        new_code_cell("%matplotlib inline\nimport math\nfiles = !ls\ngamma = 0.9"),
        exercise_cell(),
        new_code_cell("# clean: uses only set-up names\nprint(math.pi * gamma)"),
        new_code_cell("# direct call\ntarget = td_target(1.0, 0.5, gamma)"),
        new_code_cell("# through a name computed from it\nprint(target + 1)"),
        new_code_cell(
            "# defines a helper calling it: runs fine\ndef run():\n    return td_target(0, 0, gamma)"
        ),
        new_code_cell("# calls the helper\nrun()"),
        new_code_cell(
            "# a lambda body is not run when defined\nlater = lambda: td_target(0, 0, 1)"
        ),
        new_code_cell("# a class using the exercise class\nagent = Agent()\nagent.act(1)"),
        new_code_cell("# re-defined cleanly: no longer tainted\ntarget = 3.0\nprint(target)"),
        new_code_cell("%%time\nx = td_target(1, 1, 1)"),
        exercise_cell("### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION\n", "3.3", "Top level"),
        new_code_cell("# uses the top-level answer\nprint(answer)"),
    )
    tags = tags_by_source(make_student_notebook(solution, "nb"))
    assert tags == {
        "%matplotlib inline": False,
        "import numpy as np": False,
        "# clean: uses only set-up names": False,
        "# direct call": True,
        "# through a name computed from it": True,
        "# defines a helper calling it: runs fine": False,
        "# calls the helper": True,
        "# a lambda body is not run when defined": False,
        "# a class using the exercise class": True,
        "# re-defined cleanly: no longer tainted": False,
        "%%time": True,
        'raise NotImplementedError("Exercise 3.3: Top level")': True,
        "# uses the top-level answer": True,
    }


def test_a_name_defined_before_the_failing_statement_of_a_cell_stays_usable():
    solution = make_solution(
        exercise_cell(),
        new_code_cell("# env first, then the call\nenv = 'lake'\nvalue = td_target(1, 1, 1)"),
        new_code_cell("# env is fine\nprint(env)"),
        new_code_cell("# value never got defined\nprint(value)"),
    )
    tags = tags_by_source(make_student_notebook(solution, "nb"))
    assert tags["# env is fine"] is False
    assert tags["# value never got defined"] is True


def test_student_notebook_has_no_outputs_and_keeps_metadata_and_author_tags():
    clean = new_code_cell(
        "print(1)", metadata={"tags": ["raises-exception", "hide"], "scrolled": True}
    )
    student = make_student_notebook(make_solution(exercise_cell(), clean), "nb")
    for cell in student.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    assert student.cells[1].metadata["rlhf_edu"]["exercise"] == "3.2"
    assert student.cells[2].metadata == {"tags": ["hide", "raises-exception"]}
    nbformat.validate(student)


def test_generation_is_byte_identical_and_check_reports_every_difference(tmp_path, capsys):
    solutions, out = tmp_path / "solutions", tmp_path / "notebooks"
    solutions.mkdir()
    nbformat.write(make_solution(exercise_cell()), solutions / "03-td.ipynb")
    args = ["assign", "--solutions", str(solutions), "--out", str(out)]
    assert cli([*args, "--check"]) == 1  # missing
    assert cli(args) == 0
    first = (out / "03-td.ipynb").read_bytes()
    assert first.endswith(b"}\n") and b'"nbformat_minor": 5' in first
    assert cli(args) == 0
    assert (out / "03-td.ipynb").read_bytes() == first
    assert cli([*args, "--check"]) == 0
    assert dumps_notebook(nbformat.reads(first.decode(), as_version=4)).encode() == first

    (out / "03-td.ipynb").write_bytes(first.replace(b"TD target", b"TD torget"))
    (out / "99-stale.ipynb").write_bytes(first)
    report = assign(solutions, out, check=True)
    assert len(report.out_of_sync) == 2
    assert cli([*args, "--check"]) == 1
    assert "out of sync" in capsys.readouterr().err
    assert cli(args) == 0
    assert sorted(p.name for p in out.iterdir()) == ["03-td.ipynb"]
    assert (out / "03-td.ipynb").read_bytes() == first
