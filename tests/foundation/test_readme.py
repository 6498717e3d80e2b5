"""The README's two quick-start commands are the ones CI runs."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_readme_quick_start_has_exactly_two_commands():
    commands = quick_start_commands()
    assert len(commands) == 2
    assert commands[0].endswith("rlhf-edu demo")
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_install_and_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    install_and_test = quick_start_commands()[1]
    venv, install, test = (part.strip() for part in install_and_test.split("&&"))
    assert venv in ci
    assert install.replace("pip install", "pip install --quiet") in ci
    assert test in ci


def test_cpu_constraint_pins_the_small_torch_build():
    pins = [
        line
        for line in (ROOT / "constraints" / "cpu.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert "torch==2.13.0" in pins  # the CPU wheel; never a "+cu..." build
    assert not [p for p in pins if p.lower().startswith(("nvidia-", "triton"))], pins
