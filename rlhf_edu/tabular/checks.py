"""Argument checks shared by the tabular learners: each error names the argument and its range.

The tabular names for ``rlhf_edu.utils.validation``'s checks: a wrong type raises ``TypeError``,
a value out of range ``ValueError``.
"""

from __future__ import annotations

import numpy as np

from rlhf_edu.tabular.dp import check_gamma
from rlhf_edu.utils.validation import check_float, check_int, check_probability

__all__ = ["check_alpha", "check_epsilon", "check_gamma", "check_n_episodes", "check_rng"]


def check_alpha(alpha: object, name: str = "alpha") -> float:
    """A step size in (0, 1]."""
    return check_float(name, alpha, 0.0, 1.0, low_open=True)


def check_epsilon(epsilon: object, name: str = "epsilon") -> float:
    """An exploration probability in [0, 1]."""
    return check_probability(name, epsilon)


def check_n_episodes(n_episodes: object, name: str = "n_episodes") -> int:
    """A count >= 1."""
    return check_int(name, n_episodes, 1)


def check_rng(rng: object) -> np.random.Generator:
    """A ``numpy.random.Generator``."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return rng
