"""GRPO's group-relative advantages (Shao et al. 2024, DeepSeekMath).

GRPO drops PPO's critic. For each prompt it samples a *group* of ``G`` responses and uses the
group as the baseline: response ``i`` of a group with scores ``s_1 ... s_G`` gets the advantage

    A_i = (s_i - mean(s)) / (std(s) + eps)

(the unbiased standard deviation, as in the paper and TRL), the same for every token of the
response. Without scaling only the mean is subtracted (Dr. GRPO, Liu et al. 2025, argues the
division biases learning towards prompts whose scores barely vary).
"""

from __future__ import annotations

import torch

from rlhf_edu.utils.validation import check_int

__all__ = ["group_advantages"]

EPS = 1e-4


def group_advantages(
    scores: torch.Tensor, group_size: int, scale: bool = True, eps: float = EPS
) -> torch.Tensor:
    """Advantages ``(s - group mean) / (group std + eps)`` of ``scores``, shape (n_groups * G,).

    ``scores`` holds the groups one after another: entries ``0..G-1`` are the first prompt's
    responses. With ``scale=False`` only the group mean is subtracted.
    """
    scores = torch.as_tensor(scores)
    group_size = check_int("group_size", group_size, low=2)
    if scores.ndim != 1:
        raise ValueError(
            f"scores must be 1-D (n_groups * group_size,), got shape {tuple(scores.shape)}"
        )
    if scores.numel() % group_size != 0:
        raise ValueError(
            f"group_size={group_size} does not divide the {scores.numel()} scores: each prompt "
            "needs exactly group_size responses"
        )
    groups = scores.float().view(-1, group_size)  # (n_groups, G)
    centred = groups - groups.mean(dim=1, keepdim=True)
    if scale:
        centred = centred / (groups.std(dim=1, unbiased=True, keepdim=True) + eps)
    return centred.reshape(-1)
