"""Direct Preference Optimization (Rafailov et al. 2023): RLHF's objective without RL.

The KL-regularised objective of RLHF, ``max_pi E[r(x, y)] - beta * KL(pi || pi_ref)``, has a
closed-form optimum ``pi*(y | x) ∝ pi_ref(y | x) exp(r(x, y) / beta)``. Turned around, every policy
defines an *implicit reward* ``r(x, y) = beta * log(pi(y | x) / pi_ref(y | x)) + const``. Put that
reward into the Bradley-Terry likelihood of the preference pairs and the constant cancels::

    L_DPO = -mean log sigmoid( beta * [ (log pi(y_w|x) - log pi_ref(y_w|x))
                                       - (log pi(y_l|x) - log pi_ref(y_l|x)) ] )

where ``y_w`` is the chosen and ``y_l`` the rejected response and ``log pi(y | x)`` sums the
response tokens' log-probabilities (including the final EOS). No reward model, no sampling, no
value function: one supervised loss on the pairs. ``beta`` plays the role of the KL coefficient
(smaller ``beta`` lets the policy move further from the reference).

``dpo_loss`` is the loss; ``response_logprobs`` computes ``log pi(y | x)`` for a batch;
``train_dpo`` runs minibatch Adam over the pairs with the reference's log-probs computed once.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from rlhf_edu.rlhf.generation import (
    check_pad_token,
    encode_prompts,
    logprobs_from_logits,
    pad_rows,
    response_logits_and_hidden,
)
from rlhf_edu.utils import History, check_seed, progress
from rlhf_edu.utils.validation import check_float, check_int, documented

__all__ = ["DPOConfig", "DPOResult", "dpo_loss", "response_logprobs", "train_dpo"]


def dpo_loss(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    beta: float,
) -> torch.Tensor:
    """Mean DPO loss ``-log sigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r)))`` over the batch.

    Each argument is ``(batch,)``: summed response log-probabilities of the chosen / rejected
    response under the policy / the frozen reference.
    """
    check_float("beta", beta, 0.0, None, low_open=True)
    chosen_logratio = policy_chosen_logps - ref_chosen_logps
    rejected_logratio = policy_rejected_logps - ref_rejected_logps
    return -F.logsigmoid(beta * (chosen_logratio - rejected_logratio)).mean()


def response_logprobs(
    model,
    tokenizer,
    prompts: Sequence[str],
    responses: Sequence[str],
    add_eos: bool = True,
) -> torch.Tensor:
    """``log pi(response | prompt)``, summed over the response tokens (and EOS): ``(batch,)``.

    Prompts are left-padded, responses right-padded, exactly as the PPO trainer lays out its
    rollouts, so the two methods score text the same way. Runs with gradients if enabled.
    """
    if len(prompts) != len(responses):
        raise ValueError(
            f"prompts and responses must have the same length, got {len(prompts)} and "
            f"{len(responses)}"
        )
    pad, eos = check_pad_token(tokenizer)
    device = next(model.parameters()).device
    context = int(getattr(model.config, "n_positions", 1024))
    rows = []
    for response in responses:
        ids = tokenizer.encode(response, add_special_tokens=False)
        rows.append(ids + [eos] if add_eos else ids)
    width = max(len(r) for r in rows)
    if width == 0:
        raise ValueError("every response is empty: nothing to score")
    batch = encode_prompts(tokenizer, list(prompts), width, context, device)
    response_ids, response_mask = pad_rows(rows, pad, side="right")  # (batch, width) each
    response_ids, response_mask = response_ids.to(device), response_mask.to(device)
    input_ids = torch.cat([batch.input_ids, response_ids], 1)
    attention_mask = torch.cat([batch.attention_mask, response_mask], 1)
    logits, _ = response_logits_and_hidden(model, input_ids, attention_mask, width, 1.0)
    return (logprobs_from_logits(logits, response_ids) * response_mask).sum(1)


@dataclass
class DPOConfig:
    """DPO hyperparameters (validated; TRL's default ``beta`` is 0.1)."""

    beta: float = documented(
        0.1,
        "strength of the implicit KL penalty: smaller lets the policy move further "
        "from the reference (> 0)",
    )
    learning_rate: float = documented(1e-4, "Adam learning rate (> 0)")
    batch_size: int = documented(32, "preference pairs per gradient step")
    epochs: int = documented(2, "passes over the preference pairs")
    max_grad_norm: float | None = documented(
        1.0, "clip the gradient norm to this (None: no clipping)"
    )

    def __post_init__(self) -> None:
        for name in ("beta", "learning_rate"):
            check_float(name, getattr(self, name), 0.0, None, low_open=True)
        for name in ("batch_size", "epochs"):
            check_int(name, getattr(self, name))
        if self.max_grad_norm is not None:
            check_float("max_grad_norm", self.max_grad_norm, 0.0, None, low_open=True)


@dataclass
class DPOResult:
    """The fine-tuned ``policy`` (trained in place), the frozen ``ref_policy`` and the ``history``
    (one row per minibatch: loss, accuracy, chosen/rejected implicit rewards, margin)."""

    policy: torch.nn.Module
    ref_policy: torch.nn.Module
    history: History


def train_dpo(
    policy,
    tokenizer,
    pairs: Sequence,
    config: DPOConfig | None = None,
    seed: int = 0,
    ref_policy=None,
    show_progress: bool | None = None,
) -> DPOResult:
    """Fine-tune ``policy`` in place with DPO on preference ``pairs``.

    Args:
        policy: a ``GPT2LMHeadModel`` (dropout should be off; eval mode is kept).
        tokenizer: its tokenizer (pad distinct from EOS).
        pairs: ``PreferencePair``-like objects with ``prompt``, ``chosen``, ``rejected``.
        config: a ``DPOConfig``.
        seed: shuffles the pairs.
        ref_policy: the frozen reference (default: a copy of ``policy`` before training).
    """
    config = config or DPOConfig()
    seed = check_seed(seed)
    pairs = list(pairs)
    if not pairs:
        raise ValueError("pairs is empty: DPO needs at least one preference pair")
    check_pad_token(tokenizer)
    ref_policy = ref_policy if ref_policy is not None else copy.deepcopy(policy)
    ref_policy.eval().requires_grad_(False)
    policy.eval()  # dropout off: train() would switch it back on
    prompts = [p.prompt for p in pairs]
    chosen = [p.chosen for p in pairs]
    rejected = [p.rejected for p in pairs]
    bs = config.batch_size
    with torch.no_grad():  # the reference never changes: score every pair once
        ref_chosen = torch.cat(
            [
                response_logprobs(ref_policy, tokenizer, prompts[i : i + bs], chosen[i : i + bs])
                for i in range(0, len(pairs), bs)
            ]
        )
        ref_rejected = torch.cat(
            [
                response_logprobs(ref_policy, tokenizer, prompts[i : i + bs], rejected[i : i + bs])
                for i in range(0, len(pairs), bs)
            ]
        )
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.learning_rate)
    rng = np.random.default_rng(seed)
    history = History()
    n_batches = math.ceil(len(pairs) / bs)
    bar = progress(
        total=config.epochs * n_batches,
        desc="DPO",
        disable=None if show_progress is None else not show_progress,
    )
    for epoch in range(config.epochs):
        order = rng.permutation(len(pairs))
        for b in range(n_batches):
            idx = order[b * bs : (b + 1) * bs].tolist()
            # chosen and rejected in one forward pass: (2 * batch,) -> two (batch,) halves
            both = response_logprobs(
                policy,
                tokenizer,
                [prompts[i] for i in idx] * 2,
                [chosen[i] for i in idx] + [rejected[i] for i in idx],
            )
            pc, pr = both[: len(idx)], both[len(idx) :]
            rc, rr = ref_chosen[idx].to(pc.device), ref_rejected[idx].to(pc.device)
            loss = dpo_loss(pc, pr, rc, rr, config.beta)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"DPO loss is {loss.item()} at epoch {epoch}, batch {b}: lower learning_rate"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
            optimizer.step()
            with torch.no_grad():
                chosen_reward = config.beta * (pc - rc)  # implicit rewards
                rejected_reward = config.beta * (pr - rr)
                history.log(
                    epoch=epoch,
                    step=len(history),
                    loss=loss.item(),
                    accuracy=(chosen_reward > rejected_reward).float().mean().item(),
                    chosen_reward=chosen_reward.mean().item(),
                    rejected_reward=rejected_reward.mean().item(),
                    margin=(chosen_reward - rejected_reward).mean().item(),
                )
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    return DPOResult(policy=policy, ref_policy=ref_policy, history=history)
