"""GRPO: group-relative policy optimisation (Shao et al. 2024, DeepSeekMath), no critic.

For each prompt GRPO samples a *group* of ``G`` responses and uses the group as the baseline:
response ``i`` of a group with scores ``s_1 ... s_G`` gets the advantage

    A_i = (s_i - mean(s)) / (std(s) + eps)

(the unbiased standard deviation, as in the paper and TRL; ``group_advantages``), the same for
every token of the response. Without scaling only the mean is subtracted (Dr. GRPO, Liu et al.
2025, argues the division biases learning towards prompts whose scores barely vary).

The KL to the reference is a penalty *in the loss*, not in the reward, estimated per token with
Schulman's k3 (``k3_kl``)::

    D_{i,t} = pi_ref(y_{i,t}) / pi_theta(y_{i,t}) - log(pi_ref(y_{i,t}) / pi_theta(y_{i,t})) - 1

    L_GRPO  = -mean_{i,t} [ min(ratio_{i,t} A_i, clip(ratio_{i,t}, 1 - eps, 1 + eps) A_i)
                            - beta * D_{i,t} ]
            = clipped_policy_loss(...) + beta * mean_{i,t} D_{i,t}               (``grpo_loss``)

with ``ratio_{i,t} = pi_theta(y_{i,t}) / pi_old(y_{i,t})``. The mean runs over all response
tokens of the minibatch (TRL's token-level "bnpo"/"dapo" aggregation, which is PPO's
``masked_mean``); the paper averages over each response's tokens first, then over the group.
``GRPOTrainer`` is ``critic_free.CriticFreeTrainer`` (PPO's rollout, shared) with this loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from rlhf_edu.rlhf.critic_free import CriticFreeTrainer, check_group_size
from rlhf_edu.rlhf.kl_control import FixedKLController
from rlhf_edu.rlhf.ppo import RLHFPolicyConfig, Rollout, clipped_policy_loss, masked_mean
from rlhf_edu.utils.validation import check_float, check_int, documented

__all__ = ["GRPOConfig", "GRPOTrainer", "group_advantages", "grpo_loss", "k3_kl"]

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


def k3_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate of ``KL(pi_theta || pi_ref)`` from samples of ``pi_theta``, ``(batch,
    T)``: ``exp(ref - logp) - (ref - logp) - 1`` (Schulman 2020), never negative; 0 where
    ``mask`` is 0. Differentiable in ``logprobs``."""
    if not logprobs.shape == ref_logprobs.shape == mask.shape:
        raise ValueError(
            f"logprobs, ref_logprobs and mask must have one shape, got {tuple(logprobs.shape)}, "
            f"{tuple(ref_logprobs.shape)} and {tuple(mask.shape)}"
        )
    log_ratio = (ref_logprobs - logprobs) * mask  # masked first: padding cannot overflow exp
    return (torch.expm1(log_ratio) - log_ratio) * mask


def grpo_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_range: float,
    beta: float,
    clipped_loss: Any = clipped_policy_loss,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """GRPO's loss ``L = clipped_policy_loss + beta * masked_mean(k3_kl)``, with its two parts:
    ``(loss, policy_loss, kl)``. All tensors ``(batch, T)``; ``advantages`` already broadcast over
    the tokens. ``clipped_loss`` is PPO's ``clipped_policy_loss`` unless replaced."""
    check_float("beta", beta, 0.0)
    policy_loss = clipped_loss(logprobs, old_logprobs, advantages, mask, clip_range)
    kl = masked_mean(k3_kl(logprobs, ref_logprobs, mask), mask)
    return policy_loss + beta * kl, policy_loss, kl


@dataclass
class GRPOConfig(RLHFPolicyConfig):
    """GRPO's settings: the shared ``RLHFPolicyConfig`` (sampling, optimiser, clipping, epochs)
    plus the group and the KL penalty of the loss. Each field's help is in ``metadata["help"]``."""

    group_size: int = documented(4, "G, responses sampled per prompt (>= 2, divides batch_size)")
    beta: float = documented(
        0.04, "weight of the k3 KL penalty in the loss (the GRPO paper's 0.04; 0: none)"
    )
    scale_advantages: bool = documented(
        True, "divide by the group's std (GRPO); False subtracts the mean only (Dr. GRPO)"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check_group_size("group_size", self.group_size, self.batch_size)
        check_float("beta", self.beta, 0.0)


class GRPOTrainer(CriticFreeTrainer):
    """GRPO fine-tuning of a GPT-2 policy: group-relative advantages, the clipped surrogate and a
    k3 KL penalty in the loss (``grpo_loss``). Arguments as ``ppo.RLHFPPOTrainer``'s, with a
    ``GRPOConfig``; ``true_utility`` is logged, never trained on."""

    config_class = GRPOConfig
    method = "GRPO"

    @property
    def group_size(self) -> int:
        return self.config.group_size

    def _make_kl_controller(self) -> FixedKLController:
        return FixedKLController(self.config.beta)  # the loss's beta, fixed

    def sequence_advantages(self, rollout: Rollout, kl_coef: float) -> torch.Tensor:
        """``group_advantages`` of the scores minus the missing-EOS penalty; the KL is not in
        the reward (it is in the loss)."""
        scores = self.penalized_scores(rollout)
        return group_advantages(scores, self.group_size, self.config.scale_advantages)

    def _minibatch_loss(
        self,
        rollout: Rollout,
        rows: torch.Tensor,
        logprobs: torch.Tensor,
        values: torch.Tensor,
        advantages: torch.Tensor,
        returns: torch.Tensor | None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``grpo_loss`` on the minibatch: the clipped surrogate plus ``beta`` times the k3 KL."""
        loss, policy_loss, kl = grpo_loss(
            logprobs,
            rollout.logprobs[rows],
            rollout.ref_logprobs[rows],
            advantages[rows],
            rollout.response_mask[rows].float(),
            self.config.clip_range,
            self.kl_controller.value,
            clipped_loss=self.parts.clipped_policy_loss,
        )
        return loss, {"policy_loss": policy_loss, "kl_loss": kl}
