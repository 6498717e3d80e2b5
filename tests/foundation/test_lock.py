"""constraints/cpu.txt is a lock: every distribution that rlhf_edu[dev] needs is pinned there.

The quick start installs with ``-c constraints/cpu.txt``; a dependency added to pyproject.toml
without regenerating the lock (``bash constraints/update.sh``) would be resolved afresh on every
new install, so a student could get a stack CI never tested.
"""

from __future__ import annotations

import os
import re
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "constraints" / "cpu.txt"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock() -> dict[str, str]:
    pins = {}
    for number, line in enumerate(LOCK.read_text().splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep and version, f"{LOCK.name} line {number} is not an exact pin: {line!r}"
        pins[canonical(name)] = version
    return pins


def needed_distributions(extras: set[str]) -> set[str]:
    """rlhf_edu and everything it requires, transitively, with ``extras``, as installed here."""
    seen: set[str] = set()
    todo = [(canonical("rlhf_edu"), frozenset(extras))]
    while todo:
        name, wanted = todo.pop()
        key = f"{name}[{','.join(sorted(wanted))}]"
        if key in seen:
            continue
        seen.add(key)
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            marker = requirement.marker
            active = marker is None or any(
                marker.evaluate({"extra": extra}) for extra in (wanted or {""})
            )
            if active:
                todo.append((canonical(requirement.name), frozenset(requirement.extras)))
    return {key.split("[")[0] for key in seen} - {"rlhf-edu"}


def test_every_distribution_the_dev_install_needs_is_pinned_exactly_in_the_lock():
    pins = read_lock()
    missing = sorted(needed_distributions({"dev"}) - set(pins))
    assert not missing, f"not pinned in {LOCK.name} (run bash constraints/update.sh): {missing}"


@pytest.mark.skipif(not os.environ.get("CI"), reason="a developer's own environment may differ")
def test_ci_installed_exactly_the_locked_versions():
    pins = read_lock()
    differ = []
    for name in sorted(needed_distributions({"dev"})):
        installed = metadata.version(name).split("+")[0]
        if pins.get(name) != installed:
            differ.append(f"{name}: installed {installed}, locked {pins.get(name)}")
    assert not differ, "\n".join(differ)
