"""Rankings of k responses and the Plackett-Luce model.

A ranking ``pi`` of ``k`` responses (best first) is chosen as a sequence of softmax draws: first
the best among all ``k``, then the best among the remaining ``k - 1``, and so on. With
reward-model scores ``s``,

    P(pi) = prod_{i=1..k} exp(s_{pi_i}) / sum_{j >= i} exp(s_{pi_j})
    -log P(pi) = sum_i [ log sum_{j >= i} exp(s_{pi_j}) - s_{pi_i} ]

For ``k = 2`` this is Bradley-Terry's ``-log sigmoid(s_chosen - s_rejected)``. Sampling a ranking
from the model is sorting ``s + Gumbel noise`` (the Gumbel-max trick applied k times).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["check_ranking", "plackett_luce_loss", "sample_ranking"]


def check_ranking(ranking: torch.Tensor, k: int, name: str = "ranking") -> torch.Tensor:
    """``ranking`` must be (batch, k) long indices, each row a permutation of ``0..k-1``."""
    if ranking.dtype != torch.long:
        raise TypeError(f"{name} must be a long tensor of indices, got {ranking.dtype}")
    if ranking.ndim != 2 or ranking.shape[1] != k:
        raise ValueError(f"{name} must have shape (batch, {k}), got {tuple(ranking.shape)}")
    expected = torch.arange(k, device=ranking.device)
    bad = (ranking.sort(dim=1).values != expected).any(dim=1)
    if bool(bad.any()):
        row = int(bad.nonzero()[0])
        raise ValueError(
            f"{name}[{row}] = {ranking[row].tolist()} is not a permutation of 0..{k - 1}"
        )
    return ranking


def plackett_luce_loss(scores: torch.Tensor, ranking: torch.Tensor) -> torch.Tensor:
    """Mean Plackett-Luce negative log-likelihood of ``ranking`` under ``scores``.

    ``scores`` is (batch, k); ``ranking`` (batch, k) holds indices into ``k``, best first. Per row:
    ``sum_i [ log sum_{j >= i} exp(s_{pi_j}) - s_{pi_i} ]``.
    """
    if scores.ndim != 2 or scores.shape[1] < 2:
        raise ValueError(f"scores must have shape (batch, k >= 2), got {tuple(scores.shape)}")
    ranking = check_ranking(ranking, scores.shape[1])
    ordered = scores.gather(1, ranking)  # (batch, k): the scores from best to worst
    # log sum_{j >= i} exp(ordered_j): a log-cumsum-exp from the right
    tail_logsumexp = ordered.flip(1).logcumsumexp(dim=1).flip(1)
    return (tail_logsumexp - ordered).sum(dim=1).mean()


def sample_ranking(scores: np.ndarray, rng: np.random.Generator) -> list[int]:
    """A Plackett-Luce draw: indices of ``scores`` (k,) best first, by sorting scores + Gumbel."""
    scores = np.asarray(scores, dtype=np.float64)
    return [int(i) for i in np.argsort(-(scores + rng.gumbel(size=scores.shape)), kind="stable")]
