"""Import cost: each track loads only what it needs (checked in a fresh interpreter)."""

import subprocess
import sys

import pytest


def modules_loaded_by(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize("package", ["rlhf_edu.envs", "rlhf_edu.tabular", "rlhf_edu.utils"])
def test_tabular_track_loads_neither_torch_nor_transformers(package):
    loaded = modules_loaded_by(f"import {package}")
    assert "torch" not in loaded
    assert "transformers" not in loaded


def test_neural_track_loads_no_transformers():
    loaded = modules_loaded_by("import rlhf_edu.neural")
    assert "torch" in loaded
    assert "transformers" not in loaded


@pytest.mark.parametrize(
    "statement",
    [
        "import rlhf_edu.rlhf",
        "from rlhf_edu.rlhf.kl_control import AdaptiveKLController",
        "import rlhf_edu.core",
        "import rlhf_edu.data",
    ],
)
def test_light_packages_load_neither_torch_nor_transformers(statement):
    loaded = modules_loaded_by(statement)
    assert "torch" not in loaded
    assert "transformers" not in loaded


def test_the_library_loads_no_plotting_and_no_application_code():
    loaded = modules_loaded_by(
        "import rlhf_edu.envs, rlhf_edu.tabular, rlhf_edu.neural, rlhf_edu.core\n"
        "import rlhf_edu.rlhf.ppo, rlhf_edu.rlhf.dpo, rlhf_edu.rlhf.best_of_n"
    )
    assert not {m for m in loaded if m.startswith(("rlhf_edu.app", "rlhf_edu.viz"))}
    assert "matplotlib" not in loaded
    assert "rlhf_edu.cli" not in loaded
