"""One place to make a run repeatable: same seed, same numbers (on the CPU).

Randomness in this package never comes from a hidden global generator: functions take a
``seed`` and build their own ``numpy.random.Generator`` / ``torch.Generator``. ``seed_everything``
is still useful at the top of a notebook or script, because libraries we call (torch layer
initialisation, gymnasium's action-space sampling) draw from the global ones.
"""

from __future__ import annotations

import os
import random

import numpy as np

from rlhf_edu.utils.validation import check_int

#: The CPU thread count ``seed_everything`` fixes by default. Reductions on several threads can
#: sum in a different order from machine to machine; one thread gives the same floats everywhere.
DEFAULT_NUM_THREADS = 1


def check_seed(seed: object, name: str = "seed") -> int:
    """Return ``seed`` if it is a non-negative int that fits numpy's seeding, else raise.

    Raises:
        TypeError: the seed is not an int (a bool or a float like 1.0 is refused too).
        ValueError: the seed is negative or does not fit in 32 bits.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(seed).__name__} {seed!r}")
    if not 0 <= int(seed) < 2**32:
        raise ValueError(f"{name} must be in [0, 2**32 - 1], got {seed}")
    return int(seed)


def seed_everything(
    seed: int, *, deterministic: bool = True, num_threads: int | None = None
) -> int:
    """Seed Python's ``random``, NumPy's and torch's global generators.

    Args:
        seed: a non-negative int.
        deterministic: also ask torch for deterministic algorithms (an error is raised by torch if an
            operation has no deterministic version) and fix the CPU thread count.
        num_threads: torch CPU threads; defaults to ``DEFAULT_NUM_THREADS`` when ``deterministic``.

    Returns:
        The seed, so ``seed = seed_everything(0)`` reads naturally.
    """
    seed = check_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(
        seed
    )  # for subprocesses; this process's hash is fixed at start
    import torch

    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        threads = DEFAULT_NUM_THREADS if num_threads is None else num_threads
        threads = check_int("num_threads", threads, 1)
        torch.set_num_threads(threads)
        if torch.cuda.is_available():
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
    return seed
