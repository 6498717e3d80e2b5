"""Monte Carlo estimators of a KL divergence from samples (Schulman 2020, "Approximating KL
divergence", http://joschu.net/blog/kl-approx.html).

RLHF needs ``KL(pi || pi_ref)`` of the policy ``pi`` from the reference ``pi_ref``, but it only
has samples ``x ~ pi`` (the sampled responses) and both log-probabilities of each sample. With
the ratio ``r = pi_ref(x) / pi(x)``::

    k1 = -log r                 unbiased, high variance, negative on some samples
    k2 = (log r)^2 / 2          biased, low variance (exact to second order as pi -> pi_ref)
    k3 = (r - 1) - log r        unbiased (E_pi[r] = 1), low variance, never negative

``k1`` is the per-token penalty of the RLHF reward (Ziegler et al. 2019); ``k3`` is the
``approx_kl`` diagnostic that CleanRL and TRL log. ``kl_estimator_sweep`` measures their bias and
spread against the exact KL of a small categorical distribution.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from rlhf_edu.utils.validation import check_int

ESTIMATORS = ("k1", "k2", "k3")


def kl_estimators(
    logprobs: torch.Tensor, ref_logprobs: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Schulman's per-sample estimators ``(k1, k2, k3)`` of ``KL(pi || pi_ref)``, each shaped like
    the inputs, from samples ``x ~ pi``: with ``log r = ref_logprobs - logprobs``,
    ``k1 = -log r``, ``k2 = (log r)^2 / 2``, ``k3 = (r - 1) - log r``.

    Args:
        logprobs: ``log pi(x)`` of each sample, any shape.
        ref_logprobs: ``log pi_ref(x)`` of the same samples, the same shape.
    """
    if logprobs.shape != ref_logprobs.shape:
        raise ValueError(
            f"logprobs and ref_logprobs must have the same shape, got {tuple(logprobs.shape)} "
            f"and {tuple(ref_logprobs.shape)}"
        )
    log_ratio = ref_logprobs - logprobs
    k1 = -log_ratio
    k2 = 0.5 * log_ratio**2
    k3 = torch.expm1(log_ratio) - log_ratio  # expm1: exact for r near 1, where k3 ~ (log r)^2 / 2
    return k1, k2, k3


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max())
    return z / z.sum()


def kl_estimator_sweep(
    ref_logits: Sequence[float],
    direction: Sequence[float],
    scales: Sequence[float],
    n_samples: int,
    seed: int,
) -> dict[str, np.ndarray]:
    """Bias and spread of ``k1, k2, k3`` against the exact KL, for policies moving away from a
    reference on a small categorical distribution.

    For each ``scale`` (in order): ``pi = softmax(ref_logits + scale * direction)``,
    ``pi_ref = softmax(ref_logits)``, the exact ``KL(pi || pi_ref) = sum_x pi(x) log(pi(x) /
    pi_ref(x))``, and ``n_samples`` draws ``x ~ pi`` from ONE generator
    ``np.random.default_rng(seed)`` (``rng.choice(K, size=n_samples, p=pi)``, scales in order) whose
    estimators (``kl_estimators``, in float64) give a sample mean and a sample standard deviation
    (``ddof=1``).

    Returns:
        ``{"exact": (S,), "mean": (3, S), "std": (3, S)}`` with rows ``k1, k2, k3``.
    """
    ref_logits = np.asarray(ref_logits, dtype=np.float64)
    direction = np.asarray(direction, dtype=np.float64)
    if ref_logits.ndim != 1 or direction.shape != ref_logits.shape:
        raise ValueError(
            f"ref_logits and direction must be 1-D of the same length, got {ref_logits.shape} "
            f"and {direction.shape}"
        )
    n_samples = check_int("n_samples", n_samples, 2)
    rng = np.random.default_rng(seed)
    ref_probs = _softmax(ref_logits)
    exact, means, stds = [], [], []
    for scale in scales:
        probs = _softmax(ref_logits + float(scale) * direction)
        exact.append(float(np.sum(probs * (np.log(probs) - np.log(ref_probs)))))
        x = rng.choice(len(probs), size=n_samples, p=probs)
        ks = kl_estimators(torch.as_tensor(np.log(probs)[x]), torch.as_tensor(np.log(ref_probs)[x]))
        means.append([k.mean().item() for k in ks])
        stds.append([k.std().item() for k in ks])
    return {
        "exact": np.asarray(exact),
        "mean": np.asarray(means).T.reshape(3, -1),
        "std": np.asarray(stds).T.reshape(3, -1),
    }
