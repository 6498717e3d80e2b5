"""Reward over-optimisation as Gao, Schulman and Hilton (2022) measured it.

Optimise a *proxy* reward model and watch the *gold* reward (here: the labeler's true utility).
Against the distance from the initial policy, ``d = sqrt(KL(pi || pi_init))``, the gold score
first rises with the proxy, peaks, and falls while the proxy keeps rising. The paper's
functional forms, with ``R`` measured from the initial policy's value (``R(0) = 0``):

    best-of-n:  R_bon(d) = d * (alpha_bon - beta_bon * d)
    RL:         R_RL(d)  = d * (alpha_RL  - beta_RL * log d)

Both are linear in ``(alpha, beta)``, so the least-squares fit is a 2 x 2 linear solve:
``R = alpha * d - beta * d^2`` and ``R = alpha * d - beta * d log d``. The best-of-n curve peaks
at ``d* = alpha / (2 beta)``, the RL curve at ``d* = exp(alpha / beta - 1)``. For best-of-n the
KL is the analytic ``log n - (n - 1) / n``, an upper bound (Beirami et al. 2024).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["GaoFit", "fit_gao", "gao_curve"]

FORMS = ("bon", "rl")


@dataclass(frozen=True)
class GaoFit:
    """A fitted curve: ``form`` ('bon' or 'rl'), ``alpha``, ``beta``, and where it peaks."""

    form: str
    alpha: float
    beta: float

    @property
    def peak_sqrt_kl(self) -> float:
        """``d`` at the gold score's maximum (inf when ``beta <= 0``: no peak)."""
        if self.beta <= 0:
            return math.inf
        if self.form == "bon":
            return self.alpha / (2 * self.beta)
        return math.exp(self.alpha / self.beta - 1)

    def __call__(self, sqrt_kl: np.ndarray | Sequence[float] | float) -> np.ndarray:
        return gao_curve(self.form, sqrt_kl, self.alpha, self.beta)


def _basis(form: str, d: np.ndarray) -> np.ndarray:
    if form == "bon":
        return np.stack([d, -(d**2)], axis=1)
    # d log d -> 0 as d -> 0
    return np.stack([d, -np.where(d > 0, d * np.log(np.where(d > 0, d, 1.0)), 0.0)], axis=1)


def gao_curve(
    form: str, sqrt_kl: np.ndarray | Sequence[float] | float, alpha: float, beta: float
) -> np.ndarray:
    """``R_bon(d)`` or ``R_RL(d)`` at ``d = sqrt_kl``."""
    if form not in FORMS:
        raise ValueError(f"form must be 'bon' or 'rl', got {form!r}")
    d = np.atleast_1d(np.asarray(sqrt_kl, dtype=np.float64))
    if np.any(d < 0) or not np.all(np.isfinite(d)):
        raise ValueError("sqrt_kl must be finite and >= 0")
    return _basis(form, d) @ np.array([alpha, beta])


def fit_gao(
    form: str, sqrt_kl: np.ndarray | Sequence[float], gold: np.ndarray | Sequence[float]
) -> GaoFit:
    """Least-squares ``(alpha, beta)`` of Gao et al.'s form to gold scores.

    ``gold`` must already be measured from the initial policy (``gold - gold_at_d0``): the forms
    have no intercept. Needs at least two points with ``d > 0``.
    """
    if form not in FORMS:
        raise ValueError(f"form must be 'bon' or 'rl', got {form!r}")
    d = np.asarray(sqrt_kl, dtype=np.float64)
    r = np.asarray(gold, dtype=np.float64)
    if d.shape != r.shape or d.ndim != 1:
        raise ValueError(f"sqrt_kl {d.shape} and gold {r.shape} must be 1-D of the same length")
    if np.any(d < 0) or not (np.all(np.isfinite(d)) and np.all(np.isfinite(r))):
        raise ValueError("sqrt_kl must be >= 0 and every value finite")
    if np.count_nonzero(d > 0) < 2:
        raise ValueError("a fit needs at least two points with sqrt_kl > 0")
    (alpha, beta), *_ = np.linalg.lstsq(_basis(form, d), r, rcond=None)
    return GaoFit(form, float(alpha), float(beta))
