"""RLHF with PPO: fine-tune a language model to maximise a reward model's score, held near the
model it started from by a per-token KL penalty.

The set-up (Ziegler et al. 2019; Stiennon et al. 2020; Ouyang et al. 2022). A prompt ``x`` is the
state, each response token ``y_t`` an action, the policy ``pi_theta`` the language model. A frozen
copy ``pi_ref`` (the model before fine-tuning) anchors it. For one sampled response of ``T``
tokens the per-token reward is::

    r_t = -beta * (log pi_theta(y_t | x, y_<t) - log pi_ref(y_t | x, y_<t))      (KL penalty)
          + [t = T] * RM(x, y)                         (reward-model score on the last token)

(``kl_penalized_rewards``). Summed over the response the penalty is ``-beta`` times a sample of
``KL(pi_theta || pi_ref)``, so the objective is ``E[RM(x, y)] - beta * KL``. ``beta`` adapts to
hold the KL near a target (``kl_control.AdaptiveKLController``).

Advantages over response tokens come from GAE with ``gamma = 1`` (``token_gae``, reusing
``rlhf_edu.neural.returns.compute_gae``) and a value head on the policy's last hidden state;
they are whitened (``whiten``). Then several epochs of minibatch updates of the clipped PPO
objective (Schulman et al. 2017)::

    ratio_t   = exp(log pi_theta(y_t) - log pi_old(y_t))
    L_policy  = -mean_t min(ratio_t * A_t, clip(ratio_t, 1 - eps, 1 + eps) * A_t)
    L_value   = 1/2 mean_t max((V_t - R_t)^2, (V_old,t + clip(V_t - V_old,t, -eps_v, eps_v) - R_t)^2)
    loss      = L_policy + c_v * L_value

(``clipped_policy_loss``, ``clipped_value_loss``); means run over the masked-in response tokens.

The implementation details of Huang et al. (2023, "The N implementation details of RLHF with
PPO") are switches in ``RLHFPPOConfig``, each with a test: a dedicated pad token (enforced),
left-padded prompts with position ids counting real tokens, EOS stop and a missing-EOS penalty,
the sampling temperature applied in every forward pass, dropout off, log-probs from a forward pass
(never ``generate``'s scores), masked whitening, clipped value loss, adaptive KL. At the first
minibatch of every update the probability ratio is exactly 1 and the KL to the old policy exactly
0 (logged as ``ratio_dev_first`` and ``approx_kl_first``).

The rewards follow the course's reward-index convention: ``rewards[:, t]`` is the reward that
follows token ``y_t`` (R_{t+1} after the action A_t = y_t), so the score sits at the index of the
last response token, not one past it.

An update (``RLHFPPOTrainer.step``) reads in named parts: ``collect`` (the update's prompts, its
seeded minibatch plan, and ``rollout``: sample and score), ``advantages`` (KL-penalised rewards,
GAE, whitening), ``minibatch_updates`` (the epochs of clipped-PPO steps, optionally stopped early
once the approx-KL passes ``early_stop_kl``) and the diagnostics, logged as CleanRL and TRL report them: each averaged over every minibatch of the
update and computed from its forward pass before its optimizer step -- ``approx_kl`` (the k3
estimate of KL(pi_old || pi)), ``clipfrac``, ``entropy``, ``value_clipfrac``, the losses -- and
the critic's ``explained_variance`` of the returns.

The textbook version of the same update, without the diagnostics, is the function ``rlhf_step``
(rewards -> GAE -> whitening -> minibatch updates, given a rollout). ``RLHFParts`` lets a caller
swap in its own pieces -- the course's notebook passes the student's ``kl_penalized_rewards``,
``whiten``, ``token_gae``, the two losses, ``adaptive_kl_update`` and ``rlhf_step`` -- into this
trainer, which then keeps doing the sampling, the seeding, the KL controller's bookkeeping and
the logging. ``precision`` selects the bf16 autocast of
the forward passes (on CUDA by default; on the CPU too when asked, which the tests use).

Data-parallel: pass an ``accelerate.Accelerator`` (the CLI does so under ``accelerate launch``):
each process samples its own prompts, gradients are averaged across processes, and the KL
controller sees the mean KL over all of them.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from rlhf_edu.core.returns import compute_gae
from rlhf_edu.neural.ppo import (
    approx_kl,
    clip_fraction,
    explained_variance,
    value_clip_fraction,
)
from rlhf_edu.rlhf.generation import (
    PromptBatch,
    check_pad_token,
    check_prompts,
    check_scores,
    decode_responses,
    disable_dropout,
    encode_prompts,
    logprobs_from_logits,
    response_logits_and_hidden,
    response_mask_from_tokens,
    sample_and_score,
    sample_responses,
)
from rlhf_edu.rlhf.kl_control import AdaptiveKLController, FixedKLController, adaptive_kl_update
from rlhf_edu.utils import History, check_seed, load_checkpoint, save_checkpoint
from rlhf_edu.utils.validation import check_float, check_int, check_probability, documented

__all__ = [
    "PolicyWithValueHead",
    "RLHFPolicyConfig",
    "RLHFPPOConfig",
    "RLHFParts",
    "RLHFPPOTrainer",
    "Rollout",
    "TrainingDivergedError",
    "clipped_policy_loss",
    "clipped_value_loss",
    "kl_penalized_rewards",
    "masked_mean",
    "masked_var",
    "rlhf_step",
    "token_gae",
    "whiten",
]

RewardFn = Callable[[list[str], list[str]], Any]


# --------------------------------------------------------------------------------------------
# The math: pure functions on (batch, T) tensors with a response mask (1 = a real response token)
# --------------------------------------------------------------------------------------------


def _check_mask(name: str, tensor: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    if tensor.shape != mask.shape:
        raise ValueError(
            f"{name} must have the shape of mask {tuple(mask.shape)}, got {tuple(tensor.shape)}"
        )
    return mask.to(tensor.dtype)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over the positions where ``mask`` is 1."""
    mask = _check_mask("values", values, mask)
    count = mask.sum()
    if count == 0:
        raise ValueError("mask has no 1s: the mean over no positions is undefined")
    return (values * mask).sum() / count


def masked_var(values: torch.Tensor, mask: torch.Tensor, unbiased: bool = True) -> torch.Tensor:
    """Variance of ``values`` over the masked-in positions (Bessel-corrected when ``unbiased``)."""
    mask = _check_mask("values", values, mask)
    mean = masked_mean(values, mask)
    var = masked_mean((values - mean) ** 2, mask)
    count = mask.sum()
    if unbiased and count > 1:
        var = var * count / (count - 1)
    return var


def whiten(
    values: torch.Tensor,
    mask: torch.Tensor | None = None,
    shift_mean: bool = True,
    eps: float = 1e-8,
) -> torch.Tensor:
    """Normalise ``values`` to unit variance (and zero mean) using only the masked-in positions.

    ``(values - mean) / sqrt(var + eps)``, with mean and variance over positions where ``mask`` is
    1 — padding after EOS must not drag the statistics. With ``shift_mean=False`` the mean is
    added back (rewards are scaled but keep their sign; advantages are shifted too). Masked-out
    positions come back as 0.
    """
    if mask is None:
        mask = torch.ones_like(values)
    mask = _check_mask("values", values, mask)
    mean, var = masked_mean(values, mask), masked_var(values, mask)
    whitened = (values - mean) * torch.rsqrt(var + eps)
    if not shift_mean:
        whitened = whitened + mean
    return whitened * mask


def _last_token_index(mask: torch.Tensor) -> torch.Tensor:
    lengths = mask.long().sum(dim=1)
    if bool((lengths == 0).any()):
        rows = (lengths == 0).nonzero().flatten().tolist()
        raise ValueError(f"responses {rows} have an all-zero mask: no token to put the score on")
    return lengths - 1


def kl_penalized_rewards(
    scores: torch.Tensor,
    logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    mask: torch.Tensor,
    kl_coef: float,
) -> torch.Tensor:
    """Per-token RLHF rewards ``(batch, T)``: ``-kl_coef * (logprob - ref_logprob)`` where mask is 1,
    plus each row's score on its last masked-in token; 0 on masked-out positions.

    Args:
        scores: reward-model scores, ``(batch,)``.
        logprobs, ref_logprobs: ``log pi(y_t)`` under the policy and the reference, ``(batch, T)``.
        mask: 1 for response tokens (up to and including EOS), ``(batch, T)``.
        kl_coef: ``beta >= 0``.
    """
    check_float("kl_coef", kl_coef, 0.0)
    if scores.ndim != 1 or scores.shape[0] != logprobs.shape[0]:
        raise ValueError(
            f"scores must have shape (batch,) = ({logprobs.shape[0]},), got {tuple(scores.shape)}"
        )
    _check_mask("ref_logprobs", ref_logprobs, mask)
    mask = _check_mask("logprobs", logprobs, mask)
    kl_penalty = -kl_coef * (logprobs - ref_logprobs) * mask  # (batch, T)
    rewards = kl_penalty.clone()
    last = _last_token_index(mask)
    rows = torch.arange(rewards.shape[0], device=rewards.device)
    rewards[rows, last] += scores.to(rewards.dtype)
    return rewards


def token_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    mask: torch.Tensor,
    gamma: float = 1.0,
    lam: float = 0.95,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE over response tokens: ``(advantages, returns)``, each ``(batch, T)``, 0 where mask is 0.

    ``delta_t = rewards[:, t] + gamma * V_{t+1} - V_t`` and ``A_t = delta_t + gamma * lam *
    A_{t+1}`` (Schulman et al. 2016, eq. 16), with ``rewards[:, t]`` the reward that follows
    token ``t`` (R_{t+1}); ``returns = advantages + values`` are the value head's targets.
    Each response is an episode that terminates at its last masked-in token (nothing is
    bootstrapped after it); positions after EOS carry no reward, value or advantage. Calls
    ``rlhf_edu.neural.returns.compute_gae`` on the time-major ``(T, batch)`` transpose.
    """
    mask_f = _check_mask("rewards", rewards, mask)
    _check_mask("values", values, mask)
    last = _last_token_index(mask_f)
    dones = 1.0 - mask_f  # padding: terminal, worth nothing
    dones[torch.arange(dones.shape[0]), last] = 1.0  # the response ends here
    advantages, returns = compute_gae(
        (rewards * mask_f).T,
        (values * mask_f).T,
        dones.T,
        torch.zeros(rewards.shape[0], dtype=rewards.dtype, device=rewards.device),
        gamma,
        lam,
    )
    return advantages.T * mask_f, returns.T * mask_f


def clipped_policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_range: float,
) -> torch.Tensor:
    """PPO's clipped surrogate, negated for minimisation, averaged over masked-in tokens:
    ``-mean min(ratio * A, clip(ratio, 1 - clip_range, 1 + clip_range) * A)`` (Schulman et al.
    2017, eq. 7). ``old_logprobs`` are the rollout's, constants: no gradient flows into them."""
    logprob_ratio = torch.exp(logprobs - old_logprobs)
    unclipped_objective = logprob_ratio * advantages
    clipped_objective = torch.clamp(logprob_ratio, 1 - clip_range, 1 + clip_range) * advantages
    return -masked_mean(torch.minimum(unclipped_objective, clipped_objective), mask)


def clipped_value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    clip_range: float | None,
) -> torch.Tensor:
    """``1/2 mean max((V - R)^2, (V_old + clip(V - V_old, -c, c) - R)^2)`` over masked-in tokens;
    with ``clip_range=None`` the plain ``1/2 mean (V - R)^2``. The max makes it a pessimistic
    bound, as the policy loss's min (the value clipping of OpenAI's baselines ppo2)."""
    unclipped_error = (values - returns) ** 2
    if clip_range is None:
        return 0.5 * masked_mean(unclipped_error, mask)
    clipped_values = old_values + torch.clamp(values - old_values, -clip_range, clip_range)
    clipped_error = (clipped_values - returns) ** 2
    return 0.5 * masked_mean(torch.maximum(unclipped_error, clipped_error), mask)


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


#: ``RLHFPPOConfig.precision`` values: the autocast of the forward passes.
PRECISIONS = ("auto", "bf16", "fp32")


@dataclass
class RLHFPolicyConfig:
    """The settings every RLHF policy-gradient trainer here shares (PPO, GRPO, RLOO): sampling,
    the optimiser, the clipped surrogate's epsilon and the implementation-detail switches of the
    rollout (Huang et al. 2023). Each field's help text is in its ``metadata["help"]``."""

    batch_size: int = documented(64, "responses (= episodes) per update, per process")
    max_new_tokens: int = documented(32, "the longest response, in tokens")
    ppo_epochs: int = documented(4, "passes over each rollout batch (GRPO's mu)")
    n_minibatches: int = documented(1, "minibatches per epoch (<= batch_size)")
    learning_rate: float = documented(1e-4, "Adam learning rate of the policy and its value head")
    adam_eps: float = documented(1e-5, "Adam's epsilon (1e-5 as in the PPO implementations)")
    max_grad_norm: float | None = documented(
        1.0, "clip the gradient norm to this (None: no clipping)"
    )
    clip_range: float = documented(0.2, "PPO's epsilon: the ratio is clipped to [1 - eps, 1 + eps]")
    temperature: float = documented(1.0, "sampling temperature")
    temperature_in_forward: bool = documented(
        True, "divide the logits by the temperature in every forward pass, not only when sampling"
    )
    disable_dropout: bool = documented(True, "dropout off in the policy, value head and reference")
    stop_at_eos: bool = documented(
        True, "a response ends at its first EOS; later tokens are masked out"
    )
    missing_eos_penalty: float | None = documented(
        1.0, "subtracted from the score of a response with no EOS (None: no penalty)"
    )
    early_stop_kl: float | None = documented(
        None,
        "stop an update's remaining epochs once an epoch's mean approx-KL to the rollout policy "
        "exceeds this (CleanRL's and SB3's target_kl; None: always run ppo_epochs)",
    )
    precision: str = documented(
        "auto",
        "autocast of the forward passes: 'auto' (bf16 on CUDA, fp32 on the CPU), 'bf16' (on any "
        "device, the CPU included) or 'fp32'",
    )

    def __post_init__(self) -> None:
        for name in ("batch_size", "max_new_tokens", "ppo_epochs", "n_minibatches"):
            check_int(name, getattr(self, name))
        if self.n_minibatches > self.batch_size:
            raise ValueError(
                f"n_minibatches ({self.n_minibatches}) must be <= batch_size ({self.batch_size})"
            )
        positive = {"low": 0.0, "high": None, "low_open": True}
        for name in ("learning_rate", "adam_eps", "clip_range", "temperature"):
            check_float(name, getattr(self, name), **positive)
        for name in ("max_grad_norm", "early_stop_kl"):
            if getattr(self, name) is not None:
                check_float(name, getattr(self, name), **positive)
        if self.missing_eos_penalty is not None:
            check_float("missing_eos_penalty", self.missing_eos_penalty)
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")

    def replace(self, **changes: Any) -> Any:
        """A copy with some fields changed (validated again)."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise TypeError(f"unknown {type(self).__name__} fields: {sorted(unknown)}")
        return type(self)(**{**asdict(self), **changes})


@dataclass
class RLHFPPOConfig(RLHFPolicyConfig):
    """Hyperparameters and implementation-detail switches of the RLHF PPO trainer: the shared
    ``RLHFPolicyConfig`` plus the critic's, GAE's and the KL controller's.

    Defaults are tuned for the course's tiny GPT-2 on a CPU; the help of each switch names the
    detail it controls (Huang et al. 2023). Each field's help text is in its ``metadata["help"]``.
    """

    value_clip_range: float | None = documented(
        0.2, "clip the value around the rollout's value by this (None: unclipped value loss)"
    )
    vf_coef: float = documented(0.1, "weight of the value loss in the total loss")
    gamma: float = documented(1.0, "discount over response tokens (1: none)")
    # GAE's lambda. 1: advantages are the return minus V, without bootstrapping from V. The value
    # head starts at zero, so with lambda < 1 a token k steps before the end first gets only
    # lambda^k of the score (0.95^20 = 0.36); TRL's recipe (lambda 0.95) avoids that with a critic
    # initialised from the reward model. With lambda 1 the reward and true utility rise faster in
    # the same number of updates (benchmarks/rlhf_vs_trl.py runs both).
    lam: float = documented(
        1.0,
        "GAE's lambda (1: return minus V, no bootstrapping; right for a value head that starts "
        "at zero)",
    )
    init_kl_coef: float = documented(0.1, "beta, the KL penalty's coefficient, at the start")
    adaptive_kl: bool = documented(
        True, "adapt beta to hold the KL near kl_target (Ziegler et al.); False keeps init_kl_coef"
    )
    kl_target: float = documented(4.0, "the adaptive controller's target KL, nats per response")
    kl_horizon: float = documented(2000.0, "the adaptive controller's horizon, in episodes")
    whiten_rewards: bool = documented(
        False, "scale the per-token rewards (no mean shift) per batch"
    )
    whiten_advantages: bool = documented(True, "normalise the advantages per batch (masked)")

    def __post_init__(self) -> None:
        super().__post_init__()
        positive = {"low": 0.0, "high": None, "low_open": True}
        check_float("kl_horizon", self.kl_horizon, **positive)
        check_float("kl_target", self.kl_target, **positive)  # nats per response
        if self.value_clip_range is not None:
            check_float("value_clip_range", self.value_clip_range, **positive)
        for name in ("vf_coef", "init_kl_coef"):
            check_float(name, getattr(self, name), 0.0)
        if self.adaptive_kl and self.init_kl_coef == 0:
            raise ValueError(
                "init_kl_coef must be > 0 with adaptive_kl=True (a zero coefficient never grows); "
                "set adaptive_kl=False for a run without KL penalty"
            )
        for name in ("gamma", "lam"):
            check_probability(name, getattr(self, name))


class TrainingDivergedError(FloatingPointError):
    """A loss became NaN or infinite; training stopped before the optimizer step."""


# --------------------------------------------------------------------------------------------
# Swappable parts, and the update as one textbook function
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RLHFParts:
    """The pieces of an RLHF PPO update, each this module's reference unless replaced.

    ``RLHFPPOTrainer(..., parts=RLHFParts(token_gae=my_gae))`` runs the trainer with another
    GAE; every field takes a function with the reference's signature. ``rlhf_step`` (``None``:
    the trainer's own update, with its full diagnostics) replaces the whole update given a
    rollout: the trainer calls ``parts.rlhf_step(model, optimizer, rollout, scores, kl_coef,
    minibatches, config, parts)`` (see ``rlhf_step``) and logs what it returns.
    """

    kl_penalized_rewards: Callable[..., torch.Tensor] = kl_penalized_rewards
    whiten: Callable[..., torch.Tensor] = whiten
    token_gae: Callable[..., tuple[torch.Tensor, torch.Tensor]] = token_gae
    clipped_policy_loss: Callable[..., torch.Tensor] = clipped_policy_loss
    clipped_value_loss: Callable[..., torch.Tensor] = clipped_value_loss
    adaptive_kl_update: Callable[..., float] = adaptive_kl_update
    rlhf_step: Callable[..., dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not callable(value) and not (f.name == "rlhf_step" and value is None):
                raise TypeError(f"RLHFParts.{f.name} must be a function, got {value!r}")


def rlhf_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    rollout: Rollout,
    scores: torch.Tensor,
    kl_coef: float,
    minibatches: Sequence[Sequence[torch.Tensor]],
    config: RLHFPPOConfig,
    parts: RLHFParts | None = None,
) -> dict[str, Any]:
    """One RLHF PPO update on a rollout, the textbook way (the trainer's ``step`` without its
    diagnostics): per-token rewards, GAE, whitening, then the clipped-PPO minibatch steps.

    1. ``rewards = kl_penalized_rewards(scores, rollout.logprobs, rollout.ref_logprobs, mask,
       kl_coef)`` (scaled by ``whiten(..., shift_mean=False)`` if ``config.whiten_rewards``);
    2. ``advantages, returns = token_gae(rewards, rollout.values, mask, gamma, lam)``, the
       advantages whitened over the response tokens if ``config.whiten_advantages``;
    3. for each epoch's list in ``minibatches``, for each tensor of row indices ``rows`` in it: a
       forward pass of ``model`` (a ``PolicyWithValueHead``) over prompt + response at the sampling
       temperature, ``loss = clipped_policy_loss + config.vf_coef * clipped_value_loss`` against
       the rollout's (fixed) log-probs and values, then ``zero_grad``, ``backward``, the gradient
       norm clipped to ``config.max_grad_norm``, ``optimizer.step()``.

    Args:
        model: the policy with its value head, trained in place.
        optimizer: its optimizer.
        rollout: the update's ``Rollout`` (sampled by the trainer, before any step).
        scores: the scores to maximise, ``(batch,)`` (the trainer's ``penalized_scores``).
        kl_coef: ``beta`` of this update.
        minibatches: per epoch, the row-index tensors of its minibatches (the trainer's seeded
            plan); nothing here is random.
        config: an ``RLHFPPOConfig``.
        parts: the functions to use (``RLHFParts()``, the references, by default).

    Returns:
        ``{"rewards", "advantages", "returns"}`` (``(batch, T)`` tensors) and ``{"policy_loss",
        "value_loss"}``: each minibatch's loss before its step, as a list of floats.
    """
    parts = RLHFParts() if parts is None else parts
    mask = rollout.response_mask.float()
    rewards = parts.kl_penalized_rewards(
        scores, rollout.logprobs, rollout.ref_logprobs, rollout.response_mask, kl_coef
    )
    if config.whiten_rewards:
        rewards = parts.whiten(rewards, mask, shift_mean=False)
    advantages, returns = parts.token_gae(rewards, rollout.values, mask, config.gamma, config.lam)
    if config.whiten_advantages:
        advantages = parts.whiten(advantages, mask)
    input_ids = torch.cat([rollout.prompt_ids, rollout.response_ids], dim=1)
    attention_mask = torch.cat([rollout.prompt_mask, rollout.response_mask], dim=1)
    temperature = config.temperature if config.temperature_in_forward else 1.0
    policy_losses: list[float] = []
    value_losses: list[float] = []
    for epoch_minibatches in minibatches:
        for rows in epoch_minibatches:
            logprobs, values, _ = model(
                input_ids[rows], attention_mask[rows], rollout.response_ids[rows], temperature
            )
            policy_loss = parts.clipped_policy_loss(
                logprobs, rollout.logprobs[rows], advantages[rows], mask[rows], config.clip_range
            )
            value_loss = parts.clipped_value_loss(
                values, rollout.values[rows], returns[rows], mask[rows], config.value_clip_range
            )
            optimizer.zero_grad(set_to_none=True)
            (policy_loss + config.vf_coef * value_loss).backward()
            if config.max_grad_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            policy_losses.append(policy_loss.item())
            value_losses.append(value_loss.item())
    return {
        "rewards": rewards,
        "advantages": advantages,
        "returns": returns,
        "policy_loss": policy_losses,
        "value_loss": value_losses,
    }


# --------------------------------------------------------------------------------------------
# The model: the language model with a value head on its last hidden state
# --------------------------------------------------------------------------------------------


class PolicyWithValueHead(nn.Module):
    """``pi_theta`` and ``V`` sharing one transformer: a GPT-2 LM plus a linear value head.

    ``forward`` returns, for the response tokens of prompt + response sequences, their
    log-probabilities ``(batch, T)``, the values of the states before them ``(batch, T)`` and
    the policy's entropy there ``(batch, T)``. The value head starts at zero.
    """

    def __init__(self, lm: nn.Module) -> None:
        super().__init__()
        self.lm = lm
        self.value_head = nn.Linear(lm.config.n_embd, 1)
        nn.init.zeros_(self.value_head.weight)
        nn.init.zeros_(self.value_head.bias)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        response_ids: torch.Tensor,
        temperature: float = 1.0,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logits, hidden = response_logits_and_hidden(
            self.lm, input_ids, attention_mask, response_ids.shape[1], temperature
        )
        all_logprobs = torch.log_softmax(logits.float(), dim=-1)  # (batch, T, vocab)
        logprobs = all_logprobs.gather(-1, response_ids.unsqueeze(-1)).squeeze(-1)
        values = self.value_head(hidden).squeeze(-1).float()
        with torch.no_grad():
            log_p = all_logprobs.detach()
            entropy = -(log_p.exp() * log_p).sum(-1)
        return logprobs, values, entropy


# --------------------------------------------------------------------------------------------
# The trainer
# --------------------------------------------------------------------------------------------


@dataclass
class Rollout:
    """One batch of experience; tensors are ``(batch, T)`` unless noted."""

    prompts: list[str]
    responses: list[str]
    prompt_ids: torch.Tensor  # (batch, P), left-padded
    prompt_mask: torch.Tensor  # (batch, P)
    response_ids: torch.Tensor
    response_mask: torch.Tensor
    logprobs: torch.Tensor
    ref_logprobs: torch.Tensor
    values: torch.Tensor
    scores: torch.Tensor  # (batch,) reward-model scores (before the missing-EOS penalty)
    contains_eos: torch.Tensor  # (batch,) bool


def _derived_seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


class RLHFPPOTrainer:
    """PPO fine-tuning of a GPT-2 policy against a reward function or reward model.

    Args:
        policy: a ``transformers.GPT2LMHeadModel`` (it is trained in place; the reference is a
            frozen deep copy made here unless ``ref_policy`` is given).
        tokenizer: its tokenizer; must have a pad token distinct from EOS.
        reward: ``reward(prompts, responses) -> (batch,)`` scores, or an object with a
            ``score(prompts, responses)`` method (a ``RewardModel``). It reads *text*, so a reward
            model with a different tokenizer works: it re-tokenizes the decoded responses itself.
        prompts: the pool each update samples ``batch_size`` prompts from.
        config: an ``RLHFPPOConfig``.
        seed: every update draws from generators seeded by ``(seed, process rank, update)``, so a
            resumed run repeats an uninterrupted one number for number.
        true_utility: optional ``utility(prompt, response) -> float`` (a synthetic labeler's hidden
            utility), logged as ``true_utility`` for evaluation only — never trained on.
        device: ``"cpu"`` or ``"cuda"``; on CUDA the forward passes run under bf16 autocast.
        accelerator: an ``accelerate.Accelerator`` for data-parallel training (its device wins).
        parts: an ``RLHFParts`` to run other functions in place of this module's (the course's
            notebook passes the student's); a replaced ``rlhf_step`` needs one process and the
            temperature in the forward pass.

    The critic-free trainers (``grpo.GRPOTrainer``, ``rloo.RLOOTrainer``) are subclasses: they
    keep the rollout, seeding, KL bookkeeping, evaluation and checkpoints and replace
    ``config_class``, ``_make_kl_controller``, ``_sample_prompts``, ``advantages`` and
    ``_minibatch_loss``.
    """

    #: the config dataclass this trainer takes (checked in ``__init__`` and on resume)
    config_class: type[RLHFPolicyConfig] = RLHFPPOConfig
    #: the method's name, shown by the progress bar
    method = "PPO"

    def __init__(
        self,
        policy: nn.Module,
        tokenizer,
        reward: RewardFn | Any,
        prompts: Sequence[str],
        config: RLHFPolicyConfig | None = None,
        seed: int = 0,
        true_utility: Callable[[str, str], float] | None = None,
        ref_policy: nn.Module | None = None,
        device: str | torch.device = "cpu",
        accelerator: Any | None = None,
        parts: RLHFParts | None = None,
    ) -> None:
        self.config: Any = config or self.config_class()
        if not isinstance(self.config, self.config_class):
            raise TypeError(
                f"config must be a {self.config_class.__name__}, got {type(config).__name__}"
            )
        self.parts = RLHFParts() if parts is None else parts
        if not isinstance(self.parts, RLHFParts):
            raise TypeError(f"parts must be an RLHFParts, got {type(parts).__name__}")
        if self.parts.rlhf_step is not None:
            if accelerator is not None:
                raise ValueError("parts.rlhf_step runs on one process: drop the accelerator")
            if not self.config.temperature_in_forward:
                raise ValueError("parts.rlhf_step needs config.temperature_in_forward=True")
        self.seed = check_seed(seed)
        self.pad_token_id, self.eos_token_id = check_pad_token(tokenizer)
        self.prompts = check_prompts(prompts, "the trainer needs a pool of prompts to sample from")
        if hasattr(reward, "score") and callable(reward.score):
            self._reward_fn = reward.score
        elif callable(reward):
            self._reward_fn = reward
        else:
            raise TypeError("reward must be callable reward(prompts, responses) or have .score()")
        if isinstance(reward, nn.Module):
            reward.eval()
            reward.requires_grad_(False)
        self.reward = reward
        self.true_utility = true_utility
        self.tokenizer = tokenizer
        self.accelerator = accelerator
        self.device = torch.device(accelerator.device if accelerator is not None else device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("device='cuda' but torch.cuda.is_available() is False")
        self.rank = accelerator.process_index if accelerator is not None else 0
        self.world_size = accelerator.num_processes if accelerator is not None else 1
        self.context_length = int(getattr(policy.config, "n_positions", 1024))
        if len(tokenizer) > policy.get_input_embeddings().num_embeddings:
            raise ValueError(
                f"tokenizer has {len(tokenizer)} tokens but the policy's embedding has "
                f"{policy.get_input_embeddings().num_embeddings}: resize the model's embeddings"
            )
        # check every prompt fits before spending any compute
        encode_prompts(tokenizer, self.prompts, self.config.max_new_tokens, self.context_length)

        cfg = self.config
        self.ref_policy = ref_policy if ref_policy is not None else copy.deepcopy(policy)
        self.ref_policy.to(self.device).eval().requires_grad_(False)
        self.model = PolicyWithValueHead(policy).to(self.device)
        if cfg.disable_dropout:
            disable_dropout(self.model)
            disable_dropout(self.ref_policy)
            self.model.eval()  # dropout is off anyway; eval() also fixes any other train-mode op
        else:
            self.model.train()
        self.optimizer = torch.optim.Adam(
            self.model.parameters(), lr=cfg.learning_rate, eps=cfg.adam_eps
        )
        if accelerator is not None:
            self.model, self.optimizer = accelerator.prepare(self.model, self.optimizer)
        self.kl_controller = self._make_kl_controller()
        self.history = History()
        self.update_index = 0

    # -- helpers -----------------------------------------------------------------------------
    def _make_kl_controller(self) -> FixedKLController:
        """PPO's beta: adaptive (Ziegler et al.) or fixed, as the config says."""
        cfg = self.config
        if cfg.adaptive_kl:
            return AdaptiveKLController(cfg.init_kl_coef, cfg.kl_target, cfg.kl_horizon)
        return FixedKLController(cfg.init_kl_coef)

    @property
    def policy(self) -> nn.Module:
        """The language model being trained (unwrapped from any data-parallel wrapper)."""
        return self._unwrapped().lm

    def _unwrapped(self) -> PolicyWithValueHead:
        if self.accelerator is not None:
            return self.accelerator.unwrap_model(self.model)
        return self.model

    def _autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast of the forward passes where ``config.precision`` asks for it ('auto': on
        CUDA only). Log-probabilities, losses and values are computed in float32 regardless."""
        precision = self.config.precision
        if precision == "bf16" or (precision == "auto" and self.device.type == "cuda"):
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    @property
    def _forward_temperature(self) -> float:
        return self.config.temperature if self.config.temperature_in_forward else 1.0

    def _mean_over_processes(self, value: float) -> float:
        if self.accelerator is None or self.world_size == 1:
            return float(value)
        tensor = torch.tensor([float(value)], device=self.device)
        return float(self.accelerator.reduce(tensor, reduction="mean").item())

    def _score(self, prompts: list[str], responses: list[str]) -> torch.Tensor:
        with torch.no_grad():
            scores = check_scores(self._reward_fn(prompts, responses), len(prompts), "reward_fn")
            return scores.to(self.device)

    def _sequence_kl(self, rollout: Rollout) -> torch.Tensor:
        """``sum_t (log pi - log pi_ref)`` per response: a sample of KL(pi || pi_ref), ``(batch,)``."""
        return ((rollout.logprobs - rollout.ref_logprobs) * rollout.response_mask).sum(1)

    # -- rollout -----------------------------------------------------------------------------
    @torch.no_grad()
    def rollout(
        self,
        prompts: Sequence[str],
        generator: torch.Generator | None = None,
        chunks: Sequence[torch.Tensor] | None = None,
    ) -> Rollout:
        """Sample one response per prompt and score it: log-probs, reference log-probs, values
        and reward-model scores. ``chunks`` (row indices) fixes how the rows are batched in the
        scoring forward pass, so it can match the first PPO minibatches bit for bit."""
        cfg = self.config
        prompts = list(prompts)
        batch: PromptBatch = encode_prompts(
            self.tokenizer, prompts, cfg.max_new_tokens, self.context_length, self.device
        )
        policy = self._unwrapped()
        with self._autocast():
            response_ids = sample_responses(
                policy.lm,
                batch,
                cfg.max_new_tokens,
                cfg.temperature,
                self.eos_token_id,
                self.pad_token_id,
                generator=generator,
                stop_at_eos=cfg.stop_at_eos,
            )
        response_mask = response_mask_from_tokens(response_ids, self.eos_token_id, cfg.stop_at_eos)
        input_ids = torch.cat([batch.input_ids, response_ids], dim=1)
        attention_mask = torch.cat([batch.attention_mask, response_mask], dim=1)
        n = len(prompts)
        if chunks is None:
            chunks = [torch.arange(n)]
        logprobs = torch.zeros(response_ids.shape, device=self.device)
        ref_logprobs = torch.zeros_like(logprobs)
        values = torch.zeros_like(logprobs)
        temperature = self._forward_temperature
        for rows in chunks:
            rows = rows.to(self.device)
            with self._autocast():
                lp, v, _ = self.model(
                    input_ids[rows], attention_mask[rows], response_ids[rows], temperature
                )
                ref_logits, _ = response_logits_and_hidden(
                    self.ref_policy,
                    input_ids[rows],
                    attention_mask[rows],
                    response_ids.shape[1],
                    temperature,
                )
            logprobs[rows], values[rows] = lp.float(), v.float()
            ref_logprobs[rows] = logprobs_from_logits(ref_logits, response_ids[rows])
        responses = decode_responses(self.tokenizer, response_ids, response_mask)
        scores = self._score(prompts, responses)
        contains_eos = (response_ids == self.eos_token_id).any(dim=1)
        return Rollout(
            prompts=prompts,
            responses=responses,
            prompt_ids=batch.input_ids,
            prompt_mask=batch.attention_mask,
            response_ids=response_ids,
            response_mask=response_mask,
            logprobs=logprobs * response_mask,
            ref_logprobs=ref_logprobs * response_mask,
            values=values * response_mask,
            scores=scores,
            contains_eos=contains_eos,
        )

    def _sample_prompts(self, update: int, n: int | None = None) -> list[str]:
        """``n`` prompts (default ``batch_size``) from the pool, drawn with the update's seed."""
        n = self.config.batch_size if n is None else n
        rng = np.random.default_rng(_derived_seed(self.seed, self.rank, update, 1))
        idx = rng.choice(len(self.prompts), size=n, replace=len(self.prompts) < n)
        return [self.prompts[i] for i in idx]

    def _generator(self, *parts: int) -> torch.Generator:
        device = self.device if self.device.type == "cuda" else torch.device("cpu")
        return torch.Generator(device=device).manual_seed(
            _derived_seed(self.seed, self.rank, *parts)
        )

    def penalized_scores(self, rollout: Rollout) -> torch.Tensor:
        """The scores PPO maximises: the reward model's, minus ``missing_eos_penalty`` for every
        response that hit ``max_new_tokens`` without an EOS (with ``stop_at_eos``)."""
        cfg = self.config
        scores = rollout.scores.clone()
        if cfg.stop_at_eos and cfg.missing_eos_penalty is not None:
            scores = scores - cfg.missing_eos_penalty * (~rollout.contains_eos).float()
        return scores

    # -- one PPO update: rollout, advantages, minibatch updates, diagnostics ------------------
    def collect(self) -> tuple[Rollout, list[tuple[torch.Tensor, ...]]]:
        """The next update's rollout and its minibatch plan (per epoch, a shuffled split of the
        rows), both drawn from generators seeded by ``(seed, rank, update)``."""
        update = self.update_index
        prompts = self._sample_prompts(update)
        epochs_rows = self._minibatch_plan(update, len(prompts))
        # the rollout's scoring pass is batched like the first epoch's minibatches, so that the
        # first minibatch sees exactly the log-probs it was sampled with (ratio 1, KL 0)
        rollout = self.rollout(prompts, self._generator(update, 2), chunks=epochs_rows[0])
        return rollout, epochs_rows

    def step(self) -> dict[str, float]:
        """One PPO update: a rollout batch, its advantages, ``ppo_epochs`` epochs of minibatch
        updates, then the KL controller's update and the logged diagnostics. With
        ``parts.rlhf_step`` set, that function does the advantages and the minibatch updates."""
        start = time.perf_counter()
        update = self.update_index
        rollout, epochs_rows = self.collect()
        kl_coef = self.kl_controller.value
        if self.parts.rlhf_step is None:
            advantages, returns = self.advantages(rollout, kl_coef)
            stats = self.minibatch_updates(rollout, advantages, returns, epochs_rows, update)
        else:
            returns, stats = self._parts_step(rollout, kl_coef, epochs_rows, update)
        sequence_kl = self._sequence_kl(rollout)
        mean_kl = self._mean_over_processes(sequence_kl.mean().item())
        self._update_kl_coef(mean_kl, len(rollout.prompts) * self.world_size)
        metrics = self._diagnostics(update, rollout, returns, kl_coef, sequence_kl, mean_kl, stats)
        metrics["seconds"] = time.perf_counter() - start
        self.update_index += 1
        self.history.log(**metrics)
        return metrics

    def _parts_step(
        self,
        rollout: Rollout,
        kl_coef: float,
        epochs_rows: list[tuple[torch.Tensor, ...]],
        update: int,
    ) -> tuple[torch.Tensor, dict[str, list[float]]]:
        """Run ``parts.rlhf_step`` on the rollout; its returns and per-minibatch losses."""
        assert self.parts.rlhf_step is not None
        with self._autocast():
            out = self.parts.rlhf_step(
                self.model,
                self.optimizer,
                rollout,
                self.penalized_scores(rollout),
                kl_coef,
                epochs_rows,
                self.config,
                self.parts,
            )
        missing = {"returns", "policy_loss", "value_loss"} - set(
            out if isinstance(out, dict) else ()
        )
        if missing:
            raise TypeError(
                f"parts.rlhf_step must return a dict with 'returns', 'policy_loss' and "
                f"'value_loss'; missing {sorted(missing)}"
            )
        stats = {k: [float(v) for v in out[k]] for k in ("policy_loss", "value_loss")}
        for name, losses in stats.items():
            if not all(np.isfinite(losses)):
                raise TrainingDivergedError(f"{name} is not finite at update {update}")
        return torch.as_tensor(out["returns"]).detach(), stats

    def _update_kl_coef(self, mean_kl: float, n_episodes: int) -> None:
        """The KL controller's step, through ``parts.adaptive_kl_update`` when adaptive."""
        controller = self.kl_controller
        if isinstance(controller, AdaptiveKLController):
            controller.value = float(
                self.parts.adaptive_kl_update(
                    controller.value, mean_kl, controller.target, controller.horizon, n_episodes
                )
            )
        else:
            controller.update(mean_kl, n_episodes)

    def _minibatch_plan(self, update: int, n: int) -> list[tuple[torch.Tensor, ...]]:
        """For each PPO epoch, a shuffled split of the ``n`` rollout rows into minibatches."""
        cfg = self.config
        generator = torch.Generator().manual_seed(_derived_seed(self.seed, self.rank, update, 3))
        return [
            torch.randperm(n, generator=generator).chunk(cfg.n_minibatches)
            for _ in range(cfg.ppo_epochs)
        ]

    def advantages(self, rollout: Rollout, kl_coef: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token rewards (score minus the KL penalty), then GAE: ``(advantages, returns)``,
        each ``(batch, T)``; the advantages whitened over the response tokens if configured."""
        cfg = self.config
        mask = rollout.response_mask.float()
        scores = self.penalized_scores(rollout)
        parts = self.parts
        rewards = parts.kl_penalized_rewards(
            scores, rollout.logprobs, rollout.ref_logprobs, rollout.response_mask, kl_coef
        )
        if cfg.whiten_rewards:
            rewards = parts.whiten(rewards, mask, shift_mean=False)
        advantages, returns = parts.token_gae(rewards, rollout.values, mask, cfg.gamma, cfg.lam)
        if cfg.whiten_advantages:
            advantages = parts.whiten(advantages, mask)
        return advantages, returns

    def minibatch_updates(
        self,
        rollout: Rollout,
        advantages: torch.Tensor,
        returns: torch.Tensor | None,
        epochs_rows: Sequence[Sequence[torch.Tensor]],
        update: int,
    ) -> dict[str, list[float]]:
        """The epochs of clipped-PPO minibatch steps on one rollout batch.

        Returns each minibatch's diagnostics, computed from the forward pass before its optimizer
        step (as CleanRL and TRL do): losses, ``clipfrac``, ``approx_kl`` (k3), ``entropy`` and
        ``value_clipfrac``; ``first`` holds ``[ratio_dev_first, approx_kl_first]``. With
        ``early_stop_kl`` the remaining epochs are skipped once an epoch's mean approx-KL
        exceeds it.
        """
        cfg = self.config
        mask = rollout.response_mask.float()
        input_ids = torch.cat([rollout.prompt_ids, rollout.response_ids], dim=1)
        attention_mask = torch.cat([rollout.prompt_mask, rollout.response_mask], dim=1)
        stats: dict[str, list[float]] = {}
        temperature = self._forward_temperature
        for epoch, minibatches in enumerate(epochs_rows):
            for mb_index, rows in enumerate(minibatches):
                rows = rows.to(self.device)
                mb_mask = mask[rows]
                with self._autocast():
                    logprobs, values, entropy = self.model(
                        input_ids[rows],
                        attention_mask[rows],
                        rollout.response_ids[rows],
                        temperature,
                    )
                old_logprobs = rollout.logprobs[rows]
                loss, losses = self._minibatch_loss(
                    rollout, rows, logprobs, values, advantages, returns
                )
                for name, term in losses.items():
                    if not torch.isfinite(term):
                        raise TrainingDivergedError(
                            f"{name.replace('_', ' ')} is {term.item()} at update {update} "
                            f"(epoch {epoch}, minibatch {mb_index}); training stopped before the "
                            "optimizer step, so the weights and the last checkpoint are those of "
                            "the last good update — lower learning_rate or check the reward scale"
                        )
                self._optimizer_step(loss)
                log_ratio = (logprobs - old_logprobs).detach()
                if epoch == 0 and mb_index == 0:
                    ratio_dev = (torch.expm1(log_ratio).abs() * mb_mask).max().item()
                    stats["first"] = [ratio_dev, approx_kl(log_ratio, mb_mask)]
                row_stats = {name: term.item() for name, term in losses.items()}
                row_stats["clipfrac"] = clip_fraction(log_ratio, cfg.clip_range, mb_mask)
                row_stats["approx_kl"] = approx_kl(log_ratio, mb_mask)
                row_stats["entropy"] = masked_mean(entropy, mb_mask).item()
                if "value_loss" in losses:
                    row_stats["value_clipfrac"] = value_clip_fraction(
                        values.detach(), rollout.values[rows], cfg.value_clip_range, mb_mask
                    )
                for name, value in row_stats.items():
                    stats.setdefault(name, []).append(value)
            if cfg.early_stop_kl is not None:
                epoch_kl = self._mean_over_processes(
                    float(np.mean(stats["approx_kl"][-len(minibatches) :]))
                )
                if epoch_kl > cfg.early_stop_kl:
                    break
        return stats

    def _minibatch_loss(
        self,
        rollout: Rollout,
        rows: torch.Tensor,
        logprobs: torch.Tensor,
        values: torch.Tensor,
        advantages: torch.Tensor,
        returns: torch.Tensor | None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One minibatch's loss to minimise and its named terms (each logged per minibatch).

        PPO: ``clipped_policy_loss + vf_coef * clipped_value_loss`` against the rollout's
        log-probs and values. ``logprobs`` and ``values`` are the minibatch's, with gradients."""
        cfg = self.config
        mask = rollout.response_mask[rows].float()
        policy_loss = self.parts.clipped_policy_loss(
            logprobs, rollout.logprobs[rows], advantages[rows], mask, cfg.clip_range
        )
        value_loss = self.parts.clipped_value_loss(
            values, rollout.values[rows], returns[rows], mask, cfg.value_clip_range
        )
        loss = policy_loss + cfg.vf_coef * value_loss
        return loss, {"policy_loss": policy_loss, "value_loss": value_loss}

    def _optimizer_step(self, loss: torch.Tensor) -> None:
        """Backward pass, gradient-norm clip and one Adam step (through ``accelerate`` if set)."""
        cfg = self.config
        self.optimizer.zero_grad(set_to_none=True)
        if self.accelerator is not None:
            self.accelerator.backward(loss)
        else:
            loss.backward()
        if cfg.max_grad_norm is not None:
            if self.accelerator is not None:
                self.accelerator.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm)
            else:
                nn.utils.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm)
        self.optimizer.step()

    def _diagnostics(
        self,
        update: int,
        rollout: Rollout,
        returns: torch.Tensor | None,
        kl_coef: float,
        sequence_kl: torch.Tensor,
        mean_kl: float,
        stats: dict[str, list[float]],
    ) -> dict[str, float]:
        """The logged row of one update: rollout statistics, the minibatch diagnostics averaged
        over every minibatch of every epoch run, and the critic's explained variance (when there
        is a critic: ``returns`` is None for the critic-free trainers)."""
        mask = rollout.response_mask.float()
        mean = self._mean_over_processes
        stats = dict(stats)
        first = stats.pop("first", None)  # absent when parts.rlhf_step ran the update
        metrics = {
            "update": update,
            "reward": mean(rollout.scores.mean().item()),
            "kl": mean_kl,
            "kl_coef": kl_coef,
            "non_score_reward": mean(-kl_coef * sequence_kl.mean().item()),
            "response_length": mean(mask.sum(1).mean().item()),
            "eos_fraction": mean(rollout.contains_eos.float().mean().item()),
            **{k: mean(float(np.mean(v))) for k, v in stats.items()},
        }
        if returns is not None:
            metrics["explained_variance"] = mean(explained_variance(rollout.values, returns, mask))
        if first is not None:
            metrics["ratio_dev_first"], metrics["approx_kl_first"] = first
        if self.true_utility is not None:
            utility = np.mean(
                [self.true_utility(p, r) for p, r in zip(rollout.prompts, rollout.responses)]
            )
            metrics["true_utility"] = mean(float(utility))
        return metrics

    # -- evaluation ----------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, prompts: Sequence[str], seed: int = 0) -> dict[str, Any]:
        """Sample one response per prompt (temperature as in training) and report the mean
        reward-model score, the mean true utility (when known), the mean sequence KL to the
        reference and the fraction that ended with EOS, with the samples themselves.

        This is ``generation.sample_and_score`` with the trainer's settings (batch size, EOS
        stop, forward temperature, precision) and a generator seeded by ``(seed, rank)``.
        """
        cfg = self.config
        generator = torch.Generator().manual_seed(_derived_seed(check_seed(seed), self.rank, 99))
        if self.device.type == "cuda":
            generator = torch.Generator(device=self.device).manual_seed(generator.initial_seed())
        evaluation = sample_and_score(
            self.policy,
            self.ref_policy,
            self.tokenizer,
            prompts,
            self._reward_fn,
            self.true_utility,
            max_new_tokens=cfg.max_new_tokens,
            temperature=cfg.temperature,
            batch_size=cfg.batch_size,
            generator=generator,
            stop_at_eos=cfg.stop_at_eos,
            forward_temperature=self._forward_temperature,
            autocast=self._autocast,
        )
        # means over float32 tensors, as the trainer logs them
        out: dict[str, Any] = {
            "reward": float(torch.tensor(evaluation.scores).mean()),
            "kl": float(torch.tensor(evaluation.kls).mean()),
        }
        if evaluation.utilities is not None:
            out["true_utility"] = float(np.mean(evaluation.utilities))
        out["eos_fraction"] = float(torch.tensor(evaluation.contains_eos).float().mean())
        out["prompts"], out["responses"] = evaluation.prompts, evaluation.responses
        return out

    # -- the loop, checkpoints -----------------------------------------------------------------
    def train(
        self,
        n_updates: int,
        checkpoint_dir: str | Path | None = None,
        checkpoint_every: int = 10,
        show_progress: bool | None = None,
    ) -> History:
        """Run updates until ``n_updates`` have been done in total (a resumed run continues)."""
        from rlhf_edu.utils import progress

        check_int("n_updates", n_updates, 0)
        check_int("checkpoint_every", checkpoint_every)
        remaining = range(self.update_index, n_updates)
        disable = None if show_progress is None else not show_progress
        if self.rank != 0:
            disable = True  # one bar, on the main process
        bar = progress(
            remaining, total=len(remaining), desc=f"{self.method} updates", disable=disable
        )
        for _ in bar:
            metrics = self.step()
            bar.set_postfix(reward=f"{metrics['reward']:.2f}", kl=f"{metrics['kl']:.2f}")
            done = self.update_index
            if checkpoint_dir is not None and (done % checkpoint_every == 0 or done == n_updates):
                self.save(checkpoint_dir)
        return self.history

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self._unwrapped().state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "kl_controller": self.kl_controller.state_dict(),
            "history": self.history.state_dict(),
            "update_index": self.update_index,
            "seed": self.seed,
            "config": asdict(self.config),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = dict(state.get("config") or {})
        for f in fields(self.config_class):  # fields added since the checkpoint was written
            if saved and f.name not in saved:
                saved[f.name] = f.default
        if saved != asdict(self.config):
            raise ValueError(
                f"the checkpoint was written with a different {self.config_class.__name__}; "
                f"resume with the same config: {state.get('config')}"
            )
        if state.get("seed") != self.seed:
            raise ValueError(
                f"the checkpoint's seed is {state.get('seed')}, this trainer's {self.seed}"
            )
        self._unwrapped().load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.kl_controller.load_state_dict(state["kl_controller"])
        self.history.load_state_dict(state["history"])
        self.update_index = int(state["update_index"])

    def save(self, folder: str | Path) -> Path | None:
        """Write ``folder/ckpt-<update>.pt`` atomically (on the main process); returns the path."""
        state = self.state_dict()
        if self.accelerator is not None:
            self.accelerator.wait_for_everyone()
            if not self.accelerator.is_main_process:
                return None
        return save_checkpoint(state, folder, step=self.update_index)

    def load(self, path: str | Path) -> None:
        """Resume from a checkpoint file, or from the newest good one in a folder."""
        self.load_state_dict(load_checkpoint(path, map_location=self.device))
