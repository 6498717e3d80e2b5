"""Best-of-n sampling: draw ``n`` responses, keep the one the reward model scores highest.

The simplest way to use a reward model at inference time, with no training at all. It is also a
strong baseline: Stiennon et al. (2020) and Gao et al. (2023) compare RL against it at equal KL.
For the best of ``n`` independent samples the KL from the base policy has a closed form (Stiennon
et al. 2020, appendix; Hilton 2023 shows it is an upper bound)::

    KL(pi_best_of_n || pi_ref) = log n - (n - 1) / n

so ``n = 1`` costs nothing, ``n = 4`` about 0.64 nats, ``n = 16`` about 1.83 nats: the KL grows
only logarithmically with ``n`` while the compute grows linearly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

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

__all__ = ["BestOfNResult", "best_of_n", "best_of_n_kl"]


def best_of_n_kl(n: int) -> float:
    """``log n - (n - 1) / n``: the KL (nats) of best-of-n sampling from its base policy."""
    n = check_int("n", n)
    return math.log(n) - (n - 1) / n


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
) -> BestOfNResult:
    """For each prompt sample ``n`` responses from ``policy`` and keep the highest-scoring one.

    Args:
        reward: ``reward(prompts, responses) -> (batch,)`` or an object with ``.score`` (a
            ``RewardModel``).
        n: candidates per prompt, >= 1 (``n = 1`` is plain sampling).
        seed: seeds the sampling.
    """
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
    best = scores.argmax(dim=1).tolist()
    candidates = [texts[i * n : (i + 1) * n] for i in range(len(prompts))]
    return BestOfNResult(
        prompts=prompts,
        responses=[candidates[i][b] for i, b in enumerate(best)],
        scores=[float(scores[i, b]) for i, b in enumerate(best)],
        candidates=candidates,
        candidate_scores=scores.tolist(),
        n=n,
    )
