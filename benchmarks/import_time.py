"""How long ``import rlhf_edu.<package>`` takes, and which heavy libraries it loads.

Run from the repository root (each import is timed in a fresh interpreter, best of ``--repeats``):

    .venv/bin/python benchmarks/import_time.py              # add --repeats 5 for steadier numbers

A learner on the tabular track should not wait for torch, and one on the neural track not for
transformers: ``rlhf_edu.envs`` and ``rlhf_edu.tabular`` load neither, ``rlhf_edu.neural`` loads
torch but not transformers, and the package ``__init__``s of ``rlhf_edu.rlhf`` and ``rlhf_edu.core``
import their modules on first use. The first run after a reboot (cold disk cache) is slower.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

PACKAGES = (
    "rlhf_edu.utils",
    "rlhf_edu.envs",
    "rlhf_edu.tabular",
    "rlhf_edu.neural",
    "rlhf_edu.rlhf",
    "rlhf_edu.rlhf.kl_control",
    "rlhf_edu.rlhf.ppo",
)
HEAVY = ("torch", "transformers", "matplotlib", "gymnasium")

_PROBE = """
import sys, time
start = time.perf_counter()
import {module}
seconds = time.perf_counter() - start
print(seconds, ",".join(m for m in {heavy!r} if m in sys.modules))
"""


def time_import(module: str) -> tuple[float, str]:
    """Seconds to import ``module`` in a fresh interpreter, and the heavy libraries it loaded."""
    code = _PROBE.format(module=module, heavy=HEAVY)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[0]), (out[1] if len(out) > 1 else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{'import':<28} {'seconds':>8}  loads")
    for module in PACKAGES:
        runs = [time_import(module) for _ in range(args.repeats)]
        seconds = min(s for s, _ in runs)
        print(f"{module:<28} {seconds:>8.2f}  {runs[0][1] or '-'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
