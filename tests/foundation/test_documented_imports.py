"""Every ``rlhf_edu`` import that the README, the lessons and the notebooks show still works (a
moved module leaves a re-export behind, so learners' code does not break)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMPORT = re.compile(r"^\s*(from rlhf_edu[\w.]* import [\w, ()]+|import rlhf_edu[\w.]*)", re.M)


def documented_imports() -> set[str]:
    texts = [ROOT / "README.md", *sorted((ROOT / "course" / "lessons").glob("*.md"))]
    found = set()
    for path in texts:
        found |= {m.strip() for m in IMPORT.findall(path.read_text())}
    for folder in ("solutions", "notebooks"):
        for path in sorted((ROOT / folder).glob("*.ipynb")):
            for cell in json.loads(path.read_text())["cells"]:
                if cell["cell_type"] == "code":
                    found |= {m.strip() for m in IMPORT.findall("".join(cell["source"]))}
    return {line for line in found if "(" not in line}  # one-line imports (not "import (...)")


def test_the_documents_show_imports_at_all():
    assert len(documented_imports()) > 20


def test_every_documented_import_works():
    lines = sorted(documented_imports())
    code = "\n".join(
        f"try:\n    {line}\nexcept Exception as e:\n    print({line!r}, e)" for line in lines
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout == "", f"imports that fail:\n{result.stdout}"


@pytest.mark.parametrize(
    "statement",
    [
        "from rlhf_edu.cli import main, build_parser",
        "from rlhf_edu.neural.returns import compute_gae, discounted_returns",
        "from rlhf_edu.rlhf.ppo_results import load_ppo_curves",
        "from rlhf_edu.tabular.td import epsilon_greedy, epsilon_for_episode, TabularResult",
        "from rlhf_edu.neural.dqn import linear_epsilon",
    ],
)
def test_moved_names_are_re_exported_from_their_old_modules(statement):
    subprocess.run([sys.executable, "-c", statement], check=True, cwd=ROOT)
