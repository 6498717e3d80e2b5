"""What GRPO and RLOO share: group sampling and sequence-level advantages on PPO's machinery.

Both methods drop PPO's critic. Each update draws ``batch_size / G`` prompts and samples each
``G`` times (GRPO's group size, RLOO's k); the responses to one prompt sit next to each other,
rows ``g*G .. g*G + G - 1`` answering prompt ``g``. Response ``i`` gets one advantage ``A_i``
computed from the scores of its group (``grpo.group_advantages``, ``rloo.rloo_advantages``), the
same at each of its tokens (``broadcast_sequence_advantages``)::

    A_{i,t} = A_i        for every response token t of response i

and the policy follows PPO's clipped surrogate over the response tokens
(``ppo.clipped_policy_loss``, through ``RLHFParts``), ``ppo_epochs`` epochs of ``n_minibatches``
minibatches per rollout::

    ratio_{i,t} = exp(log pi_theta(y_{i,t}) - log pi_old(y_{i,t}))
    L_clip      = -mean_{i,t} min(ratio_{i,t} A_i, clip(ratio_{i,t}, 1 - eps, 1 + eps) A_i)

Everything else is ``ppo.RLHFPPOTrainer``'s, inherited rather than copied: the rollout (batched
generation with the KV cache, the policy's and the reference's log-probs at the sampling
temperature, the reward model's score and the missing-EOS penalty), the seeded minibatch plan,
the per-minibatch diagnostics, evaluation, checkpoints and the progress bar. The model is the
same ``PolicyWithValueHead``: its value head stays at its zero initialisation and enters no
loss, so no gradient reaches it (there is no critic).
"""

from __future__ import annotations

from typing import Any

import torch

from rlhf_edu.rlhf.ppo import RLHFPPOTrainer, Rollout
from rlhf_edu.utils.validation import check_int

__all__ = ["CriticFreeTrainer", "broadcast_sequence_advantages", "check_group_size"]


def check_group_size(name: str, value: object, batch_size: int) -> int:
    """``value`` as the number of samples per prompt: an int >= 2 that divides ``batch_size``.

    ``name`` is the argument's name in the error (``group_size`` for GRPO, ``k`` for RLOO)."""
    value = check_int(name, value, low=2)  # a group of one has no baseline
    if batch_size % value != 0:
        raise ValueError(
            f"{name}={value} does not divide batch_size={batch_size}: each update samples "
            f"batch_size / {name} prompts, {name} times each"
        )
    return value


def broadcast_sequence_advantages(advantages: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``A_{i,t} = A_i`` on every masked-in token of response ``i``, 0 elsewhere: ``(batch, T)``.

    Args:
        advantages: one advantage per response, ``(batch,)``.
        mask: 1 for response tokens, ``(batch, T)``.
    """
    if mask.ndim != 2 or advantages.ndim != 1 or advantages.shape[0] != mask.shape[0]:
        raise ValueError(
            f"advantages must have shape (batch,) = ({mask.shape[0]},), got "
            f"{tuple(advantages.shape)}"
        )
    return advantages.float()[:, None] * mask.float()


class CriticFreeTrainer(RLHFPPOTrainer):
    """The common trainer of GRPO and RLOO (use ``grpo.GRPOTrainer`` or ``rloo.RLOOTrainer``).

    A subclass says how many samples each prompt gets (``group_size``), how a group's scores
    become one advantage per response (``sequence_advantages``) and which fixed KL coefficient
    it reports and uses (``_make_kl_controller``); the loss defaults to the clipped surrogate
    alone, as RLOO trains it. It takes the arguments of ``RLHFPPOTrainer``; ``parts`` may replace
    the shared functions (``clipped_policy_loss``, ``kl_penalized_rewards``, ``whiten``) but not
    ``rlhf_step``, which is PPO's update.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.parts.rlhf_step is not None:
            raise ValueError(
                f"parts.rlhf_step is PPO's update; {type(self).__name__} has its own: leave it None"
            )

    @property
    def group_size(self) -> int:
        """Samples per prompt (GRPO's ``group_size``, RLOO's ``k``)."""
        raise NotImplementedError

    def sequence_advantages(self, rollout: Rollout, kl_coef: float) -> torch.Tensor:
        """One advantage per response, ``(batch,)``, from the scores of its group."""
        raise NotImplementedError

    def _sample_prompts(self, update: int, n: int | None = None) -> list[str]:
        """``batch_size / group_size`` prompts from the pool, each repeated ``group_size`` times
        in a row (the layout ``group_advantages`` and ``rloo_advantages`` expect)."""
        n_groups = self.config.batch_size // self.group_size
        drawn = super()._sample_prompts(update, n_groups)
        return [prompt for prompt in drawn for _ in range(self.group_size)]

    def advantages(self, rollout: Rollout, kl_coef: float) -> tuple[torch.Tensor, None]:
        """``(advantages, None)``: the sequence advantages broadcast over each response's tokens,
        ``(batch, T)``; no returns, as there is no critic to fit."""
        sequence = self.sequence_advantages(rollout, kl_coef)
        return broadcast_sequence_advantages(sequence, rollout.response_mask), None

    def _minibatch_loss(
        self,
        rollout: Rollout,
        rows: torch.Tensor,
        logprobs: torch.Tensor,
        values: torch.Tensor,
        advantages: torch.Tensor,
        returns: torch.Tensor | None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The clipped surrogate alone: ``clipped_policy_loss`` (no value loss, no critic)."""
        policy_loss = self.parts.clipped_policy_loss(
            logprobs,
            rollout.logprobs[rows],
            advantages[rows],
            rollout.response_mask[rows].float(),
            self.config.clip_range,
        )
        return policy_loss, {"policy_loss": policy_loss}
