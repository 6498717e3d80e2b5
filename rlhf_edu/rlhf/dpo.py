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

__all__ = [
    "DPOConfig",
    "DPOResult",
    "dpo_loss",
    "dpo_step",
    "implicit_reward",
    "kl_regularized_objective",
    "optimal_kl_policy",
    "response_logprobs",
    "train_dpo",
]


# ---------------------------------------------------------------------------------------------
# The derivation on a small discrete problem: responses y_1..y_K with rewards r_k
# ---------------------------------------------------------------------------------------------


def _probabilities(name: str, probs) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 1 or probs.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-d array of probabilities")
    if np.any(probs < 0) or not np.isclose(probs.sum(), 1.0, atol=1e-6):
        raise ValueError(f"{name} must be non-negative and sum to 1, got sum {probs.sum():.6g}")
    return probs


def kl_regularized_objective(probs, ref_probs, rewards, beta: float) -> float:
    """``E_pi[r] - beta * KL(pi || pi_ref) = sum_k pi_k r_k - beta sum_k pi_k log(pi_k / ref_k)``.

    ``probs``, ``ref_probs``, ``rewards``: ``(K,)`` over the K responses of one prompt. Terms with
    ``pi_k = 0`` contribute 0 (``0 log 0 = 0``); ``pi_k > 0`` where ``ref_k = 0`` gives ``-inf``.
    """
    check_float("beta", beta, 0.0, None, low_open=True)
    probs, ref_probs = _probabilities("probs", probs), _probabilities("ref_probs", ref_probs)
    rewards = np.asarray(rewards, dtype=np.float64)
    if not probs.shape == ref_probs.shape == rewards.shape:
        raise ValueError("probs, ref_probs and rewards must have the same shape")
    support = probs > 0
    if np.any(ref_probs[support] == 0):
        return float("-inf")
    kl = float(np.sum(probs[support] * np.log(probs[support] / ref_probs[support])))
    return float(np.sum(probs * rewards)) - beta * kl


def optimal_kl_policy(ref_probs, rewards, beta: float) -> np.ndarray:
    """The maximiser of :func:`kl_regularized_objective`: ``pi* = pi_ref exp(r / beta) / Z``.

    Computed as a softmax of ``log pi_ref + r / beta`` (stable for small ``beta``): ``(K,)``.
    """
    check_float("beta", beta, 0.0, None, low_open=True)
    ref_probs = _probabilities("ref_probs", ref_probs)
    rewards = np.asarray(rewards, dtype=np.float64)
    if rewards.shape != ref_probs.shape:
        raise ValueError("ref_probs and rewards must have the same shape")
    with np.errstate(divide="ignore"):
        logits = np.log(ref_probs) + rewards / beta
    logits -= logits.max()
    weights = np.exp(logits)
    return weights / weights.sum()


def implicit_reward(probs, ref_probs, beta: float) -> np.ndarray:
    """DPO's implicit reward ``beta * log(pi / pi_ref)``: ``(K,)``. For ``pi = pi*`` it equals
    ``r - beta log Z``: the true reward up to a constant (the same for every response)."""
    check_float("beta", beta, 0.0, None, low_open=True)
    probs, ref_probs = _probabilities("probs", probs), _probabilities("ref_probs", ref_probs)
    if probs.shape != ref_probs.shape:
        raise ValueError("probs and ref_probs must have the same shape")
    return beta * (np.log(probs) - np.log(ref_probs))


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


def dpo_step(
    policy,
    tokenizer,
    optimizer: torch.optim.Optimizer,
    batch: dict,
    beta: float,
    max_grad_norm: float | None = 1.0,
) -> dict[str, float]:
    """One DPO gradient step on a batch of preference pairs.

    ``batch``: ``prompts``, ``chosen``, ``rejected`` (lists of B strings) and
    ``ref_chosen_logps``, ``ref_rejected_logps`` (``(B,)`` tensors: the frozen reference's summed
    log-probabilities, computed once before training). The policy's ``log pi(y | x)`` of chosen
    and rejected come from :func:`response_logprobs` (summed over response tokens, with
    gradient); then :func:`dpo_loss`, zero the gradients, backpropagate, clip the gradient norm to
    ``max_grad_norm`` (None: no clipping), optimizer step.

    Returns, measured before the step, as floats: ``loss``; ``accuracy``, the fraction of pairs
    whose implicit reward ``beta * (log pi - log pi_ref)`` is higher for the chosen response;
    ``margin``, the mean implicit-reward margin chosen minus rejected; and ``chosen_reward`` and
    ``rejected_reward``, the mean implicit rewards.
    """
    n = len(batch["prompts"])
    # chosen and rejected in one forward pass: (2 * B,) -> two (B,) halves
    logps = response_logprobs(
        policy,
        tokenizer,
        list(batch["prompts"]) * 2,
        list(batch["chosen"]) + list(batch["rejected"]),
    )
    policy_chosen, policy_rejected = logps[:n], logps[n:]
    ref_chosen = batch["ref_chosen_logps"].to(logps.device)
    ref_rejected = batch["ref_rejected_logps"].to(logps.device)
    loss = dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if max_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(policy.parameters(), max_grad_norm)
    optimizer.step()
    with torch.no_grad():
        chosen_reward = beta * (policy_chosen - ref_chosen)  # implicit rewards, (B,)
        rejected_reward = beta * (policy_rejected - ref_rejected)
    return {
        "loss": loss.item(),
        "accuracy": (chosen_reward > rejected_reward).float().mean().item(),
        "margin": (chosen_reward - rejected_reward).mean().item(),
        "chosen_reward": chosen_reward.mean().item(),
        "rejected_reward": rejected_reward.mean().item(),
    }


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
    step=None,
) -> DPOResult:
    """Fine-tune ``policy`` in place with DPO on preference ``pairs``.

    Args:
        policy: a ``GPT2LMHeadModel`` (dropout should be off; eval mode is kept).
        tokenizer: its tokenizer (pad distinct from EOS).
        pairs: ``PreferencePair``-like objects with ``prompt``, ``chosen``, ``rejected``.
        config: a ``DPOConfig``.
        seed: shuffles the pairs.
        ref_policy: the frozen reference (default: a copy of ``policy`` before training).
        step: the training step, ``step(policy, tokenizer, optimizer, batch, beta, max_grad_norm)
            -> {"loss", "accuracy", "margin", ...}`` (default :func:`dpo_step`; notebook 11 passes
            the student's). Every key it returns is logged; the loop stays here.
    """
    config = config or DPOConfig()
    seed = check_seed(seed)
    step_fn = dpo_step if step is None else step
    if not callable(step_fn):
        raise TypeError(f"step must be a function like dpo_step, got {step!r}")
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
            batch = {
                "prompts": [prompts[i] for i in idx],
                "chosen": [chosen[i] for i in idx],
                "rejected": [rejected[i] for i in idx],
                "ref_chosen_logps": ref_chosen[idx],
                "ref_rejected_logps": ref_rejected[idx],
            }
            metrics = step_fn(
                policy, tokenizer, optimizer, batch, config.beta, config.max_grad_norm
            )
            loss = float(metrics["loss"])
            if not math.isfinite(loss):
                raise FloatingPointError(
                    f"DPO loss is {loss} at epoch {epoch}, batch {b}: lower learning_rate"
                )
            history.log(epoch=epoch, step=len(history), **{k: float(v) for k, v in metrics.items()})
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}")
    bar.close()
    return DPOResult(policy=policy, ref_policy=ref_policy, history=history)
