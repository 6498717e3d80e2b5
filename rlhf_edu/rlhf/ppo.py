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

Data-parallel: pass an ``accelerate.Accelerator`` (the CLI does so under ``accelerate launch``):
each process samples its own prompts, gradients are averaged across processes, and the KL
controller sees the mean KL over all of them.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from rlhf_edu.neural.returns import compute_gae
from rlhf_edu.rlhf.generation import (
    PromptBatch,
    check_pad_token,
    check_prompts,
    decode_responses,
    encode_prompts,
    response_logits_and_hidden,
    response_mask_from_tokens,
    sample_responses,
    token_logprobs,
)
from rlhf_edu.rlhf.kl_control import AdaptiveKLController, FixedKLController
from rlhf_edu.utils import History, check_seed, load_checkpoint, save_checkpoint

__all__ = [
    "PolicyWithValueHead",
    "RLHFPPOConfig",
    "RLHFPPOTrainer",
    "Rollout",
    "TrainingDivergedError",
    "clipped_policy_loss",
    "clipped_value_loss",
    "kl_penalized_rewards",
    "masked_mean",
    "masked_var",
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
    if kl_coef < 0 or not math.isfinite(kl_coef):
        raise ValueError(f"kl_coef must be a finite number >= 0, got {kl_coef}")
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
    ``-mean min(ratio * A, clip(ratio, 1 - clip_range, 1 + clip_range) * A)``."""
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
    with ``clip_range=None`` the plain ``1/2 mean (V - R)^2``."""
    unclipped_error = (values - returns) ** 2
    if clip_range is None:
        return 0.5 * masked_mean(unclipped_error, mask)
    clipped_values = old_values + torch.clamp(values - old_values, -clip_range, clip_range)
    clipped_error = (clipped_values - returns) ** 2
    return 0.5 * masked_mean(torch.maximum(unclipped_error, clipped_error), mask)


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


@dataclass
class RLHFPPOConfig:
    """Hyperparameters and implementation-detail switches of the RLHF PPO trainer.

    Defaults are tuned for the course's tiny GPT-2 on a CPU; the comment on each switch names the
    detail it controls (Huang et al. 2023).
    """

    batch_size: int = 64  # prompts (= responses, episodes) per update, per process
    max_new_tokens: int = 32
    ppo_epochs: int = 4
    n_minibatches: int = 1
    learning_rate: float = 1e-4
    adam_eps: float = 1e-5
    max_grad_norm: float | None = 1.0
    clip_range: float = 0.2
    value_clip_range: float | None = 0.2  # None: unclipped value loss
    vf_coef: float = 0.1
    gamma: float = 1.0  # no discount over tokens
    # GAE's lambda. 1: advantages are the return minus V, without bootstrapping from V. The value
    # head starts at zero, so with lambda < 1 a token k steps before the end first gets only
    # lambda^k of the score (0.95^20 = 0.36); TRL's recipe (lambda 0.95) avoids that with a critic
    # initialised from the reward model. With lambda 1 the reward and true utility rise faster in
    # the same number of updates (benchmarks/rlhf_vs_trl.py runs both).
    lam: float = 1.0
    temperature: float = 1.0
    temperature_in_forward: bool = True  # divide logits by the temperature in every forward pass
    disable_dropout: bool = True  # dropout off in policy, value head and reference
    init_kl_coef: float = 0.1
    adaptive_kl: bool = True  # Ziegler et al.'s controller; False keeps init_kl_coef fixed
    kl_target: float = 4.0  # nats per response
    kl_horizon: float = 2000.0  # episodes
    whiten_rewards: bool = False  # scale the per-token rewards (no mean shift) per batch
    whiten_advantages: bool = True
    stop_at_eos: bool = True  # a response ends at its first EOS; later tokens are masked out
    missing_eos_penalty: float | None = 1.0  # subtracted from the score of a response with no EOS

    def __post_init__(self) -> None:
        def positive_int(name: str) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")

        def positive(name: str, allow_none: bool = False) -> None:
            value = getattr(self, name)
            if value is None and allow_none:
                return
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} must be a number > 0, got {value!r}")
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value}")

        for name in ("batch_size", "max_new_tokens", "ppo_epochs", "n_minibatches"):
            positive_int(name)
        if self.n_minibatches > self.batch_size:
            raise ValueError(
                f"n_minibatches ({self.n_minibatches}) must be <= batch_size ({self.batch_size})"
            )
        for name in ("learning_rate", "adam_eps", "clip_range", "temperature", "kl_horizon"):
            positive(name)
        positive("max_grad_norm", allow_none=True)
        positive("value_clip_range", allow_none=True)
        if self.kl_target is None or not isinstance(self.kl_target, (int, float)):
            raise TypeError(f"kl_target must be a number > 0, got {self.kl_target!r}")
        if not (math.isfinite(self.kl_target) and self.kl_target > 0):
            raise ValueError(f"kl_target must be > 0 (nats per response), got {self.kl_target}")
        for name in ("vf_coef", "init_kl_coef"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        if self.adaptive_kl and self.init_kl_coef == 0:
            raise ValueError(
                "init_kl_coef must be > 0 with adaptive_kl=True (a zero coefficient never grows); "
                "set adaptive_kl=False for a run without KL penalty"
            )
        for name in ("gamma", "lam"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if self.missing_eos_penalty is not None and not math.isfinite(self.missing_eos_penalty):
            raise ValueError(
                f"missing_eos_penalty must be finite or None, got {self.missing_eos_penalty}"
            )

    def replace(self, **changes: Any) -> RLHFPPOConfig:
        """A copy with some fields changed (validated again)."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise TypeError(f"unknown RLHFPPOConfig fields: {sorted(unknown)}")
        return RLHFPPOConfig(**{**asdict(self), **changes})


class TrainingDivergedError(FloatingPointError):
    """A loss became NaN or infinite; training stopped before the optimizer step."""


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


def disable_dropout(model: nn.Module) -> None:
    """Set every dropout probability to 0 (the model then computes the same in train and eval)."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0


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


def _as_score_tensor(value: Any, n: int, name: str = "reward_fn") -> torch.Tensor:
    scores = torch.as_tensor(
        value.detach().cpu() if isinstance(value, torch.Tensor) else value, dtype=torch.float32
    ).flatten()
    if scores.shape != (n,):
        raise ValueError(
            f"{name} must return one score per response ({n}), got shape {tuple(scores.shape)}"
        )
    bad = (~torch.isfinite(scores)).nonzero().flatten().tolist()
    if bad:
        raise ValueError(
            f"{name} returned non-finite scores (NaN or inf) for responses {bad[:10]}: "
            f"{scores[bad[:10]].tolist()}"
        )
    return scores


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
    """

    def __init__(
        self,
        policy: nn.Module,
        tokenizer,
        reward: RewardFn | Any,
        prompts: Sequence[str],
        config: RLHFPPOConfig | None = None,
        seed: int = 0,
        true_utility: Callable[[str, str], float] | None = None,
        ref_policy: nn.Module | None = None,
        device: str | torch.device = "cpu",
        accelerator: Any | None = None,
    ) -> None:
        self.config = config or RLHFPPOConfig()
        if not isinstance(self.config, RLHFPPOConfig):
            raise TypeError(f"config must be an RLHFPPOConfig, got {type(config).__name__}")
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
        self.kl_controller: FixedKLController = (
            AdaptiveKLController(cfg.init_kl_coef, cfg.kl_target, cfg.kl_horizon)
            if cfg.adaptive_kl
            else FixedKLController(cfg.init_kl_coef)
        )
        self.history = History()
        self.update_index = 0

    # -- helpers -----------------------------------------------------------------------------
    @property
    def policy(self) -> nn.Module:
        """The language model being trained (unwrapped from any data-parallel wrapper)."""
        return self._unwrapped().lm

    def _unwrapped(self) -> PolicyWithValueHead:
        if self.accelerator is not None:
            return self.accelerator.unwrap_model(self.model)
        return self.model

    def _autocast(self):
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
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
            return _as_score_tensor(self._reward_fn(prompts, responses), len(prompts)).to(
                self.device
            )

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
            ref_logprobs[rows] = token_logprobs(ref_logits, response_ids[rows])
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

    def _sample_prompts(self, update: int) -> list[str]:
        rng = np.random.default_rng(_derived_seed(self.seed, self.rank, update, 1))
        replace = len(self.prompts) < self.config.batch_size
        idx = rng.choice(len(self.prompts), size=self.config.batch_size, replace=replace)
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

    # -- one PPO update ------------------------------------------------------------------------
    def step(self) -> dict[str, float]:
        """One PPO update: a rollout batch, advantages, ``ppo_epochs`` epochs of minibatches."""
        cfg = self.config
        start = time.perf_counter()
        update = self.update_index
        prompts = self._sample_prompts(update)
        generator = self._generator(update, 2)
        n = len(prompts)
        minibatch_generator = torch.Generator().manual_seed(
            _derived_seed(self.seed, self.rank, update, 3)
        )
        epochs_rows = [
            torch.randperm(n, generator=minibatch_generator).chunk(cfg.n_minibatches)
            for _ in range(cfg.ppo_epochs)
        ]
        rollout = self.rollout(prompts, generator, chunks=epochs_rows[0])
        mask = rollout.response_mask.float()

        scores = self.penalized_scores(rollout)
        kl_coef = self.kl_controller.value
        rewards = kl_penalized_rewards(
            scores, rollout.logprobs, rollout.ref_logprobs, rollout.response_mask, kl_coef
        )
        if cfg.whiten_rewards:
            rewards = whiten(rewards, mask, shift_mean=False)
        advantages, returns = token_gae(rewards, rollout.values, mask, cfg.gamma, cfg.lam)
        if cfg.whiten_advantages:
            advantages = whiten(advantages, mask)

        input_ids = torch.cat([rollout.prompt_ids, rollout.response_ids], dim=1)
        attention_mask = torch.cat([rollout.prompt_mask, rollout.response_mask], dim=1)
        stats: dict[str, list[float]] = {
            k: [] for k in ("policy_loss", "value_loss", "clipfrac", "approx_kl", "entropy")
        }
        ratio_dev_first = approx_kl_first = float("nan")
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
                policy_loss = clipped_policy_loss(
                    logprobs, old_logprobs, advantages[rows], mb_mask, cfg.clip_range
                )
                value_loss = clipped_value_loss(
                    values, rollout.values[rows], returns[rows], mb_mask, cfg.value_clip_range
                )
                for name, loss in (("policy loss", policy_loss), ("value loss", value_loss)):
                    if not torch.isfinite(loss):
                        raise TrainingDivergedError(
                            f"{name} is {loss.item()} at update {update} (epoch {epoch}, "
                            f"minibatch {mb_index}); training stopped before the optimizer step, "
                            "so the weights and the last checkpoint are those of the last good "
                            "update — lower learning_rate or check the reward scale"
                        )
                loss = policy_loss + cfg.vf_coef * value_loss
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
                with torch.no_grad():
                    log_ratio = (logprobs - old_logprobs).detach()
                    ratio = log_ratio.exp()
                    approx_kl = masked_mean((ratio - 1) - log_ratio, mb_mask).item()  # k3
                    clipfrac = masked_mean(
                        ((ratio - 1).abs() > cfg.clip_range).float(), mb_mask
                    ).item()
                    if epoch == 0 and mb_index == 0:
                        ratio_dev_first = ((ratio - 1).abs() * mb_mask).max().item()
                        approx_kl_first = approx_kl
                    stats["policy_loss"].append(policy_loss.item())
                    stats["value_loss"].append(value_loss.item())
                    stats["clipfrac"].append(clipfrac)
                    stats["approx_kl"].append(approx_kl)
                    stats["entropy"].append(masked_mean(entropy, mb_mask).item())

        sequence_kl = self._sequence_kl(rollout)
        mean_kl = self._mean_over_processes(sequence_kl.mean().item())
        self.kl_controller.update(mean_kl, n * self.world_size)
        metrics = {
            "update": update,
            "reward": self._mean_over_processes(rollout.scores.mean().item()),
            "kl": mean_kl,
            "kl_coef": kl_coef,
            "non_score_reward": self._mean_over_processes(-kl_coef * sequence_kl.mean().item()),
            "response_length": self._mean_over_processes(mask.sum(1).mean().item()),
            "eos_fraction": self._mean_over_processes(rollout.contains_eos.float().mean().item()),
            **{k: self._mean_over_processes(float(np.mean(v))) for k, v in stats.items()},
            "ratio_dev_first": ratio_dev_first,
            "approx_kl_first": approx_kl_first,
        }
        if self.true_utility is not None:
            utility = np.mean([self.true_utility(p, r) for p, r in zip(prompts, rollout.responses)])
            metrics["true_utility"] = self._mean_over_processes(float(utility))
        metrics["seconds"] = time.perf_counter() - start
        self.update_index += 1
        self.history.log(**metrics)
        return metrics

    # -- evaluation ----------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, prompts: Sequence[str], seed: int = 0) -> dict[str, Any]:
        """Sample one response per prompt (temperature as in training) and report the mean
        reward-model score, the mean true utility (when known) and the mean sequence KL to the
        reference, with the samples themselves."""
        prompts = list(prompts)
        generator = torch.Generator().manual_seed(_derived_seed(check_seed(seed), self.rank, 99))
        if self.device.type == "cuda":
            generator = torch.Generator(device=self.device).manual_seed(generator.initial_seed())
        out: dict[str, Any] = {}
        rollouts = []
        bs = self.config.batch_size
        for i in range(0, len(prompts), bs):
            rollouts.append(self.rollout(prompts[i : i + bs], generator))
        scores = torch.cat([r.scores for r in rollouts])
        kls = torch.cat([self._sequence_kl(r) for r in rollouts])
        responses = [t for r in rollouts for t in r.responses]
        out["reward"] = float(scores.mean())
        out["kl"] = float(kls.mean())
        if self.true_utility is not None:
            out["true_utility"] = float(
                np.mean([self.true_utility(p, r) for p, r in zip(prompts, responses)])
            )
        out["eos_fraction"] = float(torch.cat([r.contains_eos for r in rollouts]).float().mean())
        out["prompts"], out["responses"] = prompts, responses
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

        if isinstance(n_updates, bool) or not isinstance(n_updates, int) or n_updates < 0:
            raise ValueError(f"n_updates must be an int >= 0, got {n_updates!r}")
        if checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
        remaining = range(self.update_index, n_updates)
        disable = None if show_progress is None else not show_progress
        if self.rank != 0:
            disable = True  # one bar, on the main process
        bar = progress(remaining, total=len(remaining), desc="PPO updates", disable=disable)
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
        if state.get("config") != asdict(self.config):
            raise ValueError(
                "the checkpoint was written with a different RLHFPPOConfig; resume with the "
                f"same config: {state.get('config')}"
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
