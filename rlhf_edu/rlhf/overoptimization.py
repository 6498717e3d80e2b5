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

Best-of-n for every ``n`` from one set of samples: draw ``N`` responses per prompt once, then
:func:`best_of_n_estimate` gives the expected gold and proxy score of the best of ``n`` of them
(``n <= N``) without resampling. Sorted by proxy score, the sample of rank ``i`` (0-based,
ascending) is the best of a random ``n``-subset with probability ``C(i, n - 1) / C(N, n)``, so

    E[gold of best-of-n] = sum_i C(i, n - 1) / C(N, n) * gold_(i)

is an unbiased estimate (Nakano et al. 2021, appendix; Gao et al. 2022 use it too).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["GaoFit", "best_of_n_estimate", "fit_gao", "fit_gao_coefficients", "gao_curve"]

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
    return GaoFit(form, *fit_gao_coefficients(form, sqrt_kl, gold))


def fit_gao_coefficients(
    form: str, sqrt_kl: np.ndarray | Sequence[float], gold: np.ndarray | Sequence[float]
) -> tuple[float, float]:
    """``(alpha, beta)`` minimising ``sum_i (R(d_i) - gold_i)^2`` for ``R = alpha * d - beta *
    d^2`` (``form="bon"``) or ``R = alpha * d - beta * d log d`` (``form="rl"``): a linear
    least-squares problem on the basis ``[d, -d^2]`` or ``[d, -d log d]`` (``0 log 0 = 0``)."""
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
    return float(alpha), float(beta)


def best_of_n_estimate(
    proxy: np.ndarray | Sequence[Sequence[float]],
    gold: np.ndarray | Sequence[Sequence[float]],
    n: int,
) -> tuple[float, float]:
    """Expected ``(proxy, gold)`` score of best-of-``n`` by proxy, from ``N >= n`` samples per prompt.

    ``proxy`` and ``gold``: ``(n_prompts, N)`` scores of the same samples. For each prompt the
    samples are sorted by proxy score; the one of rank ``i`` (0-based, ascending) is the best of a
    uniformly random ``n``-subset with probability ``C(i, n - 1) / C(N, n)``. Returns the means
    over prompts of the weighted proxy and gold scores (``n = 1``: the plain means; ``n = N``: the
    proxy's argmax). Ties in the proxy are broken by sample order.
    """
    proxy = np.asarray(proxy, dtype=np.float64)
    gold = np.asarray(gold, dtype=np.float64)
    if proxy.ndim != 2 or proxy.shape != gold.shape:
        raise ValueError(
            f"proxy {proxy.shape} and gold {gold.shape} must both be (n_prompts, N) arrays"
        )
    n_samples = proxy.shape[1]
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= n_samples:
        raise ValueError(f"n must be an int in [1, N={n_samples}], got {n!r}")
    ranks = np.arange(n_samples)
    log_weights = np.full(n_samples, -np.inf)
    ok = ranks >= n - 1  # C(i, n - 1) = 0 below
    lgamma = np.vectorize(math.lgamma)
    log_total = math.lgamma(n_samples + 1) - math.lgamma(n + 1) - math.lgamma(n_samples - n + 1)
    log_weights[ok] = (
        lgamma(ranks[ok] + 1.0) - math.lgamma(n) - lgamma(ranks[ok] - n + 2.0) - log_total
    )
    weights = np.exp(log_weights)  # (N,), sums to 1
    order = np.argsort(proxy, axis=1, kind="stable")
    proxy_sorted = np.take_along_axis(proxy, order, axis=1)
    gold_sorted = np.take_along_axis(gold, order, axis=1)
    return float((proxy_sorted @ weights).mean()), float((gold_sorted @ weights).mean())
