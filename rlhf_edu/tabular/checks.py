"""Argument checks shared by the tabular learners: each error names the argument and its range."""

from __future__ import annotations

import numbers

import numpy as np

from rlhf_edu.tabular.dp import check_gamma

__all__ = ["check_alpha", "check_epsilon", "check_gamma", "check_n_episodes", "check_rng"]


def _check_number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if not np.isfinite(float(value)):
        raise ValueError(f"{name} must be finite, got {value}")
    return float(value)


def check_alpha(alpha: object, name: str = "alpha") -> float:
    """A step size in (0, 1]."""
    alpha = _check_number(alpha, name)
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"{name} must be in (0, 1], got {alpha}")
    return alpha


def check_epsilon(epsilon: object, name: str = "epsilon") -> float:
    """An exploration probability in [0, 1]."""
    epsilon = _check_number(epsilon, name)
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {epsilon}")
    return epsilon


def check_n_episodes(n_episodes: object, name: str = "n_episodes") -> int:
    """A count >= 1."""
    if isinstance(n_episodes, bool) or not isinstance(n_episodes, (int, np.integer)):
        raise TypeError(
            f"{name} must be an int >= 1, got {type(n_episodes).__name__} {n_episodes!r}"
        )
    if n_episodes < 1:
        raise ValueError(f"{name} must be >= 1, got {n_episodes}")
    return int(n_episodes)


def check_rng(rng: object) -> np.random.Generator:
    """A ``numpy.random.Generator``."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return rng
