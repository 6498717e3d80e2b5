"""RLOO: REINFORCE with a leave-one-out baseline (Kool et al. 2019; Ahmadian et al. 2024,
"Back to Basics"), no critic.

Sample ``k`` responses per prompt. Each response's baseline is the mean score of the *other*
``k - 1`` responses to the same prompt, so the baseline does not depend on the sample it is
subtracted from and the policy gradient stays unbiased (``rloo_advantages``):

    A_i = R_i - 1/(k-1) * sum_{j != i} R_j  =  k/(k-1) * (R_i - mean(R))

The KL to the reference is folded into the *reward*, as TRL's RLOOTrainer does: the sequence
reward is the score minus ``kl_coef`` times the sampled KL of the response,

    R_i = s_i - kl_coef * sum_t (log pi_old(y_{i,t}) - log pi_ref(y_{i,t}))
        = sum_t kl_penalized_rewards(s, log pi_old, log pi_ref, mask, kl_coef)_{i,t}

(``rloo_sequence_rewards``, the sum over tokens of PPO's per-token rewards). The advantage is the
same for every token of response ``i``, and the policy follows PPO's clipped surrogate
(``ppo.clipped_policy_loss``); with one epoch of one minibatch the ratio is 1 and this is plain
REINFORCE with the leave-one-out baseline. ``RLOOTrainer`` is ``critic_free.CriticFreeTrainer``
(PPO's rollout, shared) with these advantages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from rlhf_edu.rlhf.critic_free import CriticFreeTrainer, check_group_size
from rlhf_edu.rlhf.kl_control import FixedKLController
from rlhf_edu.rlhf.ppo import RLHFPolicyConfig, Rollout, kl_penalized_rewards
from rlhf_edu.utils.validation import check_float, check_int, documented

__all__ = ["RLOOConfig", "RLOOTrainer", "rloo_advantages", "rloo_sequence_rewards"]


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


def rloo_sequence_rewards(
    scores: torch.Tensor,
    logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    mask: torch.Tensor,
    kl_coef: float,
    penalized_rewards: Any = kl_penalized_rewards,
) -> torch.Tensor:
    """``R_i = s_i - kl_coef * sum_t (logprobs - ref_logprobs)_{i,t}``, ``(batch,)``: PPO's
    per-token ``kl_penalized_rewards`` summed over each response (``penalized_rewards`` replaces
    that function, e.g. with a student's)."""
    return penalized_rewards(scores, logprobs, ref_logprobs, mask, kl_coef).sum(dim=1)


@dataclass
class RLOOConfig(RLHFPolicyConfig):
    """RLOO's settings: the shared ``RLHFPolicyConfig`` (sampling, optimiser, clipping, epochs)
    plus k and the KL coefficient of the reward. Each field's help is in ``metadata["help"]``."""

    k: int = documented(4, "samples per prompt (>= 2, divides batch_size)")
    kl_coef: float = documented(
        0.05, "beta of the KL penalty folded into the sequence reward (TRL's 0.05; 0: none)"
    )
    normalize_advantages: bool = documented(
        False, "whiten the leave-one-out advantages over the batch (TRL's option; off there too)"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check_group_size("k", self.k, self.batch_size)
        check_float("kl_coef", self.kl_coef, 0.0)


class RLOOTrainer(CriticFreeTrainer):
    """RLOO fine-tuning of a GPT-2 policy: the KL-penalised sequence reward, leave-one-out
    advantages and the clipped surrogate. Arguments as ``ppo.RLHFPPOTrainer``'s, with an
    ``RLOOConfig``; ``true_utility`` is logged, never trained on."""

    config_class = RLOOConfig
    method = "RLOO"

    @property
    def group_size(self) -> int:
        return self.config.k

    def _make_kl_controller(self) -> FixedKLController:
        return FixedKLController(self.config.kl_coef)

    def sequence_advantages(self, rollout: Rollout, kl_coef: float) -> torch.Tensor:
        """``rloo_advantages`` of ``rloo_sequence_rewards`` (scores minus the missing-EOS
        penalty, minus ``kl_coef`` times each response's sampled KL), whitened if configured."""
        rewards = rloo_sequence_rewards(
            self.penalized_scores(rollout),
            rollout.logprobs,
            rollout.ref_logprobs,
            rollout.response_mask,
            kl_coef,
            penalized_rewards=self.parts.kl_penalized_rewards,
        )
        advantages = rloo_advantages(rewards, self.config.k)
        if self.config.normalize_advantages:
            advantages = self.parts.whiten(advantages)
        return advantages
