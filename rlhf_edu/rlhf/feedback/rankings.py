"""Rankings of k responses and the Plackett-Luce model.

A ranking ``pi`` of ``k`` responses (best first) is chosen as a sequence of softmax draws: first
the best among all ``k``, then the best among the remaining ``k - 1``, and so on. With
reward-model scores ``s``,

    P(pi) = prod_{i=1..k} exp(s_{pi_i}) / sum_{j >= i} exp(s_{pi_j})
    -log P(pi) = sum_i [ log sum_{j >= i} exp(s_{pi_j}) - s_{pi_i} ]

For ``k = 2`` this is Bradley-Terry's ``-log sigmoid(s_chosen - s_rejected)``. Its gradient: the
item at position ``i`` takes part in the softmax draws of stages ``m = 1..i``, so

    d(-log P(pi)) / d s_{pi_i} = sum_{m <= i} softmax_{j >= m}(s_{pi_j})[i] - 1

(each stage pushes every remaining item down by its probability of being drawn, and the item
actually drawn up by 1). Sampling a ranking from the model is sorting ``s + Gumbel noise`` (the
Gumbel-max trick applied k times).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["check_ranking", "plackett_luce_gradient", "plackett_luce_loss", "sample_ranking"]


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


def plackett_luce_gradient(scores: torch.Tensor, ranking: torch.Tensor) -> torch.Tensor:
    """The gradient of each row's negative log-likelihood ``-log P(pi)`` in ``scores``: (batch, k).

    ``d(-log P) / d s_{pi_i} = sum_{m <= i} exp(s_{pi_i} - log sum_{j >= m} exp(s_{pi_j})) - 1``
    (the module docstring). Per row, not averaged over the batch: the gradient of
    :func:`plackett_luce_loss` is this divided by ``batch``. For ``k = 2`` it is Bradley-Terry's,
    ``-sigmoid(s_l - s_w)`` for the winner and ``+sigmoid(s_l - s_w)`` for the loser.
    """
    if scores.ndim != 2 or scores.shape[1] < 2:
        raise ValueError(f"scores must have shape (batch, k >= 2), got {tuple(scores.shape)}")
    k = scores.shape[1]
    ranking = check_ranking(ranking, k)
    ordered = scores.detach().gather(1, ranking)  # (batch, k), best first
    tail_logsumexp = ordered.flip(1).logcumsumexp(dim=1).flip(1)  # (batch, k): stage m's normaliser
    # p[b, m, i] = P(stage m draws position i) for i >= m, else 0: (batch, k, k)
    drawable = torch.ones(k, k, dtype=torch.bool, device=scores.device).triu()
    p = torch.exp(ordered[:, None, :] - tail_logsumexp[:, :, None]) * drawable
    grad_ordered = p.sum(dim=1) - 1.0  # (batch, k), by position
    return torch.zeros_like(grad_ordered).scatter(1, ranking, grad_ordered)


def sample_ranking(scores: np.ndarray, rng: np.random.Generator) -> list[int]:
    """A Plackett-Luce draw: indices of ``scores`` (k,) best first, by sorting scores + Gumbel."""
    scores = np.asarray(scores, dtype=np.float64)
    return [int(i) for i in np.argsort(-(scores + rng.gumbel(size=scores.shape)), kind="stable")]
