"""Graded notebooks: solutions as the single source, student versions, and a sandboxed autograder.

- ``notebooks``: solution markers (``### BEGIN SOLUTION`` / ``### END SOLUTION``), exercise cell
  metadata, deterministic notebook files;
- ``assign``: ``rlhf-edu assign`` — student notebooks from solution notebooks, with the cells that
  need an unfinished exercise found by static analysis (``dependencies``) and tagged;
- ``manifest``: ``course/course.toml`` (modules, exercises, points, reference implementations);
- ``execution`` and ``pytest_plugin``: run a notebook's cells and serve its functions to the graded
  tests (``pytest --submission=nb.ipynb``, fixtures ``solution`` and ``graded_rng``);
- ``rlhf-edu grade``, in parts: ``results`` (what grading produces), ``protocol`` (the worker's
  events and the calls' plain-data codec, shared by both ends), ``isolation`` and ``workspace``
  (the bubblewrap seal or the weak rlimit sandbox), ``limits`` (rlimits, the weak drop to
  ``nobody``), ``sandbox`` (the worker: the notebook as a
  function server), ``runner`` and ``remote`` (the graded tests in a trusted process, calling
  into the sandbox), ``delegation`` (exercises handed to the references), ``attempt`` and
  ``submission`` (one submission's workers and deadlines), ``autograder`` (the class) and
  ``reports`` (Gradescope ``results.json``, ``feedback.md``, ``grades.csv``).
"""

from rlhf_edu.grading.assign import AssignReport, assign, make_student_notebook
from rlhf_edu.grading.autograder import GradeOptions, SubmissionResult, grade_class
from rlhf_edu.grading.manifest import Manifest, import_reference, load_manifest
from rlhf_edu.grading.notebooks import (
    BEGIN_SOLUTION,
    END_SOLUTION,
    MarkerError,
    read_notebook,
    strip_solutions,
    write_notebook,
)

__all__ = [
    "BEGIN_SOLUTION",
    "END_SOLUTION",
    "AssignReport",
    "GradeOptions",
    "Manifest",
    "MarkerError",
    "SubmissionResult",
    "assign",
    "grade_class",
    "import_reference",
    "load_manifest",
    "make_student_notebook",
    "read_notebook",
    "strip_solutions",
    "write_notebook",
]
