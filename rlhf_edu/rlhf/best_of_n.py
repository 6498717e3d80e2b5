"""Best-of-n sampling: draw ``n`` responses, keep the one the reward model scores highest.

The simplest way to use a reward model at inference time, with no training at all. It is also a
strong baseline: Stiennon et al. (2020) and Gao et al. (2023) compare RL against it at equal KL.
The KL of best-of-n from the base policy is at most (Stiennon et al. 2020, appendix, gave it as
the KL; Beirami et al. 2024, *Theoretical guarantees on the best-of-n alignment policy*, prove it
is an upper bound, reached only in the limit of many distinct responses)::

    KL(pi_best_of_n || pi_ref) <= log n - (n - 1) / n

so ``n = 1`` costs nothing, ``n = 4`` at most 0.64 nats, ``n = 16`` at most 1.83 nats: the KL grows
only logarithmically with ``n`` while the compute grows linearly. On a small discrete problem
:func:`best_of_n_distribution` gives the exact best-of-n policy, hence the exact KL.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from rlhf_edu.rlhf.generation import (
    check_pad_token,
    check_prompts,
    check_scores,
    decode_responses,
    encode_prompts,
    response_mask_from_tokens,
    sample_responses,
)
from rlhf_edu.utils import check_seed
from rlhf_edu.utils.validation import check_int

__all__ = [
    "BestOfNResult",
    "best_of_n",
    "best_of_n_distribution",
    "best_of_n_kl",
    "best_of_n_pick",
]


def best_of_n_kl(n: int) -> float:
    """``log n - (n - 1) / n``: an upper bound on the KL (nats) of best-of-n sampling from its
    base policy (Beirami et al. 2024)."""
    n = check_int("n", n)
    return math.log(n) - (n - 1) / n


def best_of_n_pick(
    candidates: Sequence[Sequence[str]], scores: torch.Tensor
) -> tuple[list[str], list[float]]:
    """For each prompt keep its highest-scoring candidate (the first one on a tie).

    ``candidates``: P lists of n responses; ``scores``: ``(P, n)``. Returns ``(responses,
    best_scores)``: P strings and P floats.
    """
    scores = torch.as_tensor(scores)
    if scores.ndim != 2 or scores.shape[0] != len(candidates):
        raise ValueError(
            f"scores must be (prompts, n) = ({len(candidates)}, n), got {tuple(scores.shape)}"
        )
    best = scores.argmax(dim=1).tolist()  # torch's argmax returns the first maximum
    responses = [list(row)[b] for row, b in zip(candidates, best)]
    return responses, [float(scores[i, b]) for i, b in enumerate(best)]


def best_of_n_distribution(ref_probs, rewards, n: int) -> np.ndarray:
    """The exact best-of-n policy on K discrete responses with distinct rewards: ``(K,)``.

    The best of n draws from ``ref_probs`` is response k when every draw has a reward <= r_k
    and not all are < r_k: ``P(k) = F(k)^n - F(k-)^n``, where ``F(k)`` sums ``ref_probs`` over
    the responses with reward <= r_k and ``F(k-)`` over those with reward < r_k.
    """
    n = check_int("n", n)
    ref_probs = np.asarray(ref_probs, dtype=np.float64)
    rewards = np.asarray(rewards, dtype=np.float64)
    if ref_probs.ndim != 1 or ref_probs.shape != rewards.shape:
        raise ValueError("ref_probs and rewards must be 1-d arrays of the same length")
    if len(np.unique(rewards)) != len(rewards):
        raise ValueError("rewards must be distinct (ties would need a tie-breaking rule)")
    order = np.argsort(rewards)
    cdf = np.cumsum(ref_probs[order])  # F(k) in reward order
    below = np.concatenate([[0.0], cdf[:-1]])  # F(k-)
    probs = np.empty_like(ref_probs)
    probs[order] = cdf**n - below**n
    return probs


@dataclass
class BestOfNResult:
    """The chosen response per prompt and its score; ``candidates[i]`` / ``candidate_scores[i]``
    hold all ``n`` samples of prompt ``i``."""

    prompts: list[str]
    responses: list[str]
    scores: list[float]
    candidates: list[list[str]]
    candidate_scores: list[list[float]]
    n: int

    @property
    def kl(self) -> float:
        return best_of_n_kl(self.n)


@torch.no_grad()
def best_of_n(
    policy,
    tokenizer,
    prompts: Sequence[str],
    reward,
    n: int,
    max_new_tokens: int = 32,
    temperature: float = 1.0,
    seed: int = 0,
    batch_size: int = 128,
    pick=None,
) -> BestOfNResult:
    """For each prompt sample ``n`` responses from ``policy`` and keep the highest-scoring one.

    Args:
        reward: ``reward(prompts, responses) -> (batch,)`` or an object with ``.score`` (a
            ``RewardModel``).
        n: candidates per prompt, >= 1 (``n = 1`` is plain sampling).
        seed: seeds the sampling.
        pick: ``pick(candidates, scores) -> (responses, best_scores)`` chooses among each
            prompt's candidates (default :func:`best_of_n_pick`; notebook 11 passes the student's).
    """
    pick_fn = best_of_n_pick if pick is None else pick
    n = check_int("n", n)
    check_int("batch_size", batch_size)
    seed = check_seed(seed)
    prompts = check_prompts(prompts)
    pad, eos = check_pad_token(tokenizer)
    score_fn = reward.score if hasattr(reward, "score") else reward
    device = next(policy.parameters()).device
    context = int(getattr(policy.config, "n_positions", 1024))
    generator = torch.Generator().manual_seed(seed)
    repeated = [p for p in prompts for _ in range(n)]  # prompt i's candidates are rows i*n..i*n+n-1
    texts: list[str] = []
    for start in range(0, len(repeated), batch_size):
        chunk = repeated[start : start + batch_size]
        batch = encode_prompts(tokenizer, chunk, max_new_tokens, context, device)
        ids = sample_responses(policy, batch, max_new_tokens, temperature, eos, pad, generator)
        texts += decode_responses(tokenizer, ids, response_mask_from_tokens(ids, eos))
    scores = check_scores(score_fn(repeated, texts), len(repeated)).view(len(prompts), n)
    candidates = [texts[i * n : (i + 1) * n] for i in range(len(prompts))]
    responses, best_scores = pick_fn(candidates, scores)
    return BestOfNResult(
        prompts=prompts,
        responses=list(responses),
        scores=[float(x) for x in best_scores],
        candidates=candidates,
        candidate_scores=scores.tolist(),
        n=n,
    )
