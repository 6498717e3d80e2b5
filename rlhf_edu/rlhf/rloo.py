"""RLOO's leave-one-out baseline (Kool et al. 2019; Ahmadian et al. 2024, "Back to Basics").

Sample ``k`` responses per prompt. Each response's baseline is the mean score of the *other*
``k - 1`` responses to the same prompt, so the baseline does not depend on the sample it is
subtracted from and the policy gradient stays unbiased:

    A_i = s_i - 1/(k-1) * sum_{j != i} s_j  =  k/(k-1) * (s_i - mean(s))
"""

from __future__ import annotations

import torch

from rlhf_edu.utils.validation import check_int

__all__ = ["rloo_advantages"]


def rloo_advantages(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Each score minus the mean of the other ``k - 1`` scores of its prompt: (n_prompts * k,).

    ``scores`` holds the prompts' samples one after another (entries ``0..k-1`` are prompt 0's).
    """
    scores = torch.as_tensor(scores)
    k = check_int("k", k, low=2)  # a leave-one-out baseline needs another sample
    if scores.ndim != 1:
        raise ValueError(f"scores must be 1-D (n_prompts * k,), got shape {tuple(scores.shape)}")
    if scores.numel() % k != 0:
        raise ValueError(f"k={k} does not divide the {scores.numel()} scores")
    samples = scores.float().view(-1, k)  # (n_prompts, k)
    others_mean = (samples.sum(dim=1, keepdim=True) - samples) / (k - 1)
    return (samples - others_mean).reshape(-1)
