"""Helpers of the grader's own tests: small generated submissions for module 00 (the tour)."""

from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "submissions"

#: Wrong answers to exercise 0.1 and the points they should earn (of 2).
PARTIALS = {
    "partial-no-validation": (
        [
            "    if isinstance(n_episodes, bool) or not isinstance(n_episodes, (int, np.integer)) "
            "or n_episodes < 1:\n",
            '        raise ValueError(f"n_episodes must be an int >= 1, got {n_episodes!r}")\n',
        ],
        ["", ""],
        1,
    ),
    "partial-same-seed-every-episode": (
        ["env.reset(seed=seed + episode)"],
        ["env.reset(seed=seed)"],
        1,
    ),
    "partial-divides-by-n-plus-one": (
        ["return successes / n_episodes"],
        ["return successes / (n_episodes + 1)"],
        0,
    ),
}


def correct_exercise_notebook() -> nbformat.NotebookNode:
    """A small notebook: set-up, then a correct ``estimate_success_rate`` (exercise 0.1)."""
    nb = nbformat.read(FIXTURES / "hostile-raises.ipynb", as_version=4)
    nb.cells = [
        c for c in nb.cells if c.cell_type != "code" or "raise RuntimeError" not in c.source
    ]
    return nb


def exercise_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.get("metadata", {}).get("rlhf_edu"))


@pytest.fixture
def write_partial(tmp_path):
    """``write_partial(name) -> (path, expected points)`` for a name in ``PARTIALS``."""

    def write(name: str, folder: Path | None = None) -> tuple[Path, int]:
        olds, news, expected = PARTIALS[name]
        nb = correct_exercise_notebook()
        cell = exercise_cell(nb)
        for old, new in zip(olds, news):
            assert old in cell.source, (name, old)
            cell.source = cell.source.replace(old, new)
        path = (folder or tmp_path) / f"{name}.ipynb"
        nbformat.write(nb, path)
        return path, expected

    return write
