"""``rlhf-edu site build --out DIR``: the course website, built offline from the repository.

The site's sources are gathered into a staging folder, and Sphinx with MyST-NB (the Jupyter
Book 1 stack) turns them into static HTML in ``DIR`` (open ``DIR/index.html``):

- ``course/site/``: the Sphinx configuration, the home page, the API reference page (autodoc
  and autosummary over the library's docstrings) and the instructor pages;
- ``course/syllabus.md`` and every lesson, ``course/lessons/NN-name.md``, with its equations;
- ``course/INSTRUCTORS.md`` and ``course/AUTHORING.md``, the instructor guide;
- one page per notebook, made by :func:`notebook_page`: the student notebook's cells with the
  executed solution's stored outputs and figures, and the student notebook to download.

Nothing is executed: the pages show the stored outputs that ``tests/test_notebooks.py`` keeps
current. Warnings are errors (``-W --keep-going``), so a broken cross-reference, a docstring
Sphinx cannot parse or a missing image fails the build. The site works offline: MathJax is
copied into it, search is Sphinx's client-side index, and no page loads a script, stylesheet
or font from another host (``tests/website/test_site_build.py`` checks every built page).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

#: Where the site's own sources live, relative to the repository root.
SITE_SOURCE = Path("course") / "site"


def notebook_page(solution: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """The site's page for one notebook: the student's cells with the solution's outputs.

    ``make_student_notebook`` (what ``rlhf-edu assign`` writes) maps cell ``i`` of the solution
    to cell ``i`` of the student version, so each student code cell takes the outputs and
    execution count of the solution cell it came from: an exercise shows its stub, the cells
    after it the figures and numbers the finished code reproduces. A markdown cell after the
    title links the student notebook (``../student/NAME``, staged by :func:`stage_sources`).

    Args:
        solution: an executed solution notebook (``solutions/NN-name.ipynb``).
        name: its file name, ``NN-name.ipynb``.

    Raises:
        ValueError: the student version does not have one cell per solution cell.
    """
    from rlhf_edu.grading.assign import make_student_notebook

    page = make_student_notebook(solution, name)
    if len(page.cells) != len(solution.cells):
        raise ValueError(
            f"solution {name}: the student version has {len(page.cells)} cells, the solution "
            f"{len(solution.cells)}; the page could not pair their outputs"
        )
    for student_cell, solution_cell in zip(page.cells, solution.cells, strict=True):
        if student_cell.cell_type == "code":
            student_cell.outputs = solution_cell.get("outputs", [])
            student_cell.execution_count = solution_cell.get("execution_count")
    download = nbformat.v4.new_markdown_cell(
        f"**Student notebook:** {{download}}`{name} <../student/{name}>` (open it in "
        "JupyterLab and fill in the exercises). The outputs and figures below are the "
        "executed solution's: what your finished notebook should show."
    )
    download.id = f"{Path(name).stem}-download"
    first = page.cells[0] if page.cells else None
    at = 1 if first is not None and first.cell_type == "markdown" else 0
    page.cells.insert(at, download)
    return page


def stage_sources(root: Path, stage: Path) -> list[str]:
    """Gather the site's sources from the repository ``root`` into ``stage``.

    Returns the notebook names staged, in order.

    Raises:
        FileNotFoundError: ``root`` is not the course repository (no ``course/site/conf.py``).
    """
    root = Path(root)
    site = root / SITE_SOURCE
    if not (site / "conf.py").is_file():
        raise FileNotFoundError(
            f"--root {root}: no {SITE_SOURCE / 'conf.py'} there; run from the course "
            "repository (the folder with course/, solutions/ and notebooks/) or pass --root"
        )
    shutil.copytree(site, stage, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    course = root / "course"
    shutil.copy2(course / "syllabus.md", stage / "syllabus.md")
    for guide in ("INSTRUCTORS.md", "AUTHORING.md"):
        shutil.copy2(course / guide, stage / "instructors" / guide)
    (stage / "lessons").mkdir(exist_ok=True)
    for lesson in sorted((course / "lessons").glob("*.md")):
        shutil.copy2(lesson, stage / "lessons" / lesson.name)
    (stage / "notebooks").mkdir(exist_ok=True)
    (stage / "student").mkdir(exist_ok=True)
    names = []
    for solution_path in sorted((root / "solutions").glob("*.ipynb")):
        name = solution_path.name
        solution = nbformat.read(solution_path, as_version=4)
        nbformat.write(notebook_page(solution, name), stage / "notebooks" / name)
        student_path = root / "notebooks" / name
        if not student_path.is_file():
            raise FileNotFoundError(
                f"{student_path}: no student version of solutions/{name}; run rlhf-edu assign"
            )
        shutil.copy2(student_path, stage / "student" / name)
        names.append(name)
    return names


def _prepare_out(out: Path) -> None:
    """Empty ``out`` if it holds an earlier site; refuse to write into any other folder."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not (out / ".buildinfo").is_file():
            raise ValueError(
                f"--out {out}: the folder is not empty and holds no earlier site build "
                "(no .buildinfo); choose a new or empty folder"
            )
        shutil.rmtree(out)


def build_site(out: Path, root: Path = Path("."), quiet: bool = True) -> Path:
    """Build the course website into ``out``; return the path of its ``index.html``.

    Args:
        out: the site folder: new, empty, or a site built before (it is replaced).
        root: the course repository (with ``course/``, ``solutions/``, ``notebooks/``).
        quiet: print only warnings and errors (Sphinx's ``-q``).

    Raises:
        RuntimeError: Sphinx reported a warning or an error (each is printed).
        ModuleNotFoundError: Sphinx or MyST-NB is not installed.
        ValueError: ``out`` is unusable.
    """
    out = Path(out).resolve()
    _prepare_out(out)
    try:
        from sphinx.cmd.build import build_main
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            "the site needs Sphinx and MyST-NB: pip install -c constraints/cpu.txt -e '.[site]'"
        ) from err
    with tempfile.TemporaryDirectory(prefix="rlhf-edu-site-") as tmp:
        stage = Path(tmp) / "source"
        stage_sources(Path(root), stage)
        # One process: sphinx-mathjax-offline does not declare itself safe for parallel reading.
        argv = ["-b", "html", "-W", "--keep-going", "-d", str(Path(tmp) / "doctrees")]
        status = build_main([*argv, *(["-q"] if quiet else []), str(stage), str(out)])
    if status != 0:
        raise RuntimeError(f"the site build failed (Sphinx exit status {status}; see above)")
    index = out / "index.html"
    if not index.is_file():
        raise RuntimeError(f"the site build wrote no {index}")
    return index


def run_site_build(args: argparse.Namespace) -> int:
    """``rlhf-edu site build``: build the site and print where it is."""
    start = time.perf_counter()
    try:
        index = build_site(args.out, root=args.root)
    except (RuntimeError, ModuleNotFoundError) as err:
        print(f"rlhf-edu site build: error: {err}", file=sys.stderr)
        return 1
    print(f"site built in {time.perf_counter() - start:.0f} s: {index}")
    return 0
