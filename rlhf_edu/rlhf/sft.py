"""Supervised fine-tuning (SFT): imitate demonstrations before any RL.

Today's RLHF pipelines (InstructGPT, Ouyang et al. 2022; Llama 2; Tülu) start from a model that
was first fine-tuned on good responses written (or picked) by people. SFT maximises the
likelihood of each demonstration's response given its prompt, and only the response:

    L_SFT = - (1 / N_resp) * sum_{i} sum_{t in response_i} log pi(y_t | x_i, y_<t)

where ``N_resp`` counts response tokens in the batch. The prompt's tokens are context, not
targets: training on them would teach the model to write prompts. The final EOS is a response
token, so the model also learns where to stop.

``sft_loss`` is that loss on a batch of logits; ``train_sft`` runs minibatch AdamW over
(prompt, response) demonstrations and returns the model with its loss history.

Where do demonstrations come from? People write or pick good responses. The course's synthetic
labeler cannot write, but it can pick: ``labeler_demonstrations`` samples ``n`` drafts per prompt
from a model and keeps the one with the highest true utility ``u(x, y)`` (best-of-n under the
labeler's own utility, without the Bradley-Terry noise of its comparisons):

    y*(x) = argmax_{y_1..y_n ~ pi(.|x)} u(x, y_i)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from rlhf_edu.rlhf.generation import check_pad_token, position_ids_from_mask
from rlhf_edu.rlhf.lm import encode_prompt_response
from rlhf_edu.utils import History, check_seed, progress
from rlhf_edu.utils.validation import check_float, check_int

__all__ = ["SFTConfig", "labeler_demonstrations", "sft_loss", "train_sft"]


def sft_loss(
    logits: torch.Tensor, input_ids: torch.Tensor, response_mask: torch.Tensor
) -> torch.Tensor:
    """Mean next-token negative log-likelihood over response tokens only.

    Args:
        logits: (batch, seq_len, vocab), the model's output for ``input_ids``; ``logits[:, t]``
            predicts token ``t + 1``.
        input_ids: (batch, seq_len) prompt + response (+ padding).
        response_mask: (batch, seq_len), 1 on response tokens (EOS included), 0 on the prompt and
            on padding.
    """
    targets = input_ids[:, 1:]  # (batch, seq_len - 1)
    is_target = response_mask[:, 1:].to(torch.float32)
    if float(is_target.sum()) == 0:
        raise ValueError("response_mask marks no response token: nothing to learn from")
    token_nll = F.cross_entropy(
        logits[:, :-1].float().transpose(1, 2), targets, reduction="none"
    )  # (batch, seq_len - 1)
    return (token_nll * is_target).sum() / is_target.sum()


@dataclass
class SFTConfig:
    """SFT hyperparameters (validated)."""

    learning_rate: float = field(default=1e-3, metadata={"help": "AdamW learning rate (> 0)"})
    batch_size: int = field(default=32, metadata={"help": "demonstrations per gradient step"})
    epochs: int = field(default=2, metadata={"help": "passes over the demonstrations"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay (>= 0)"})
    max_grad_norm: float | None = field(
        default=1.0, metadata={"help": "clip the gradient norm to this (None: no clipping)"}
    )

    def __post_init__(self) -> None:
        check_float("learning_rate", self.learning_rate, 0.0, low_open=True)
        check_float("weight_decay", self.weight_decay, 0.0)
        for name in ("batch_size", "epochs"):
            check_int(name, getattr(self, name))
        if self.max_grad_norm is not None:
            check_float("max_grad_norm", self.max_grad_norm, 0.0, low_open=True)


def train_sft(
    model: torch.nn.Module,
    tokenizer,
    prompts: Sequence[str],
    responses: Sequence[str],
    config: SFTConfig | None = None,
    seed: int = 0,
) -> History:
    """Fine-tune ``model`` in place on ``(prompt, response)`` demonstrations; return its history.

    Each epoch visits the demonstrations in a fresh order drawn from ``seed``. The history has
    one row per minibatch: ``step``, ``epoch``, ``loss`` (nats per response token).
    """
    config = config or SFTConfig()
    seed = check_seed(seed)
    check_pad_token(tokenizer)
    if isinstance(prompts, str) or isinstance(responses, str):
        raise TypeError("prompts and responses must be lists of strings, not a single string")
    prompts, responses = list(prompts), list(responses)
    if len(prompts) != len(responses):
        raise ValueError(
            f"prompts and responses must have the same length, got {len(prompts)} and "
            f"{len(responses)}"
        )
    if not prompts:
        raise ValueError("no demonstrations: prompts and responses are empty")
    for i, response in enumerate(responses):
        if not response.strip():
            raise ValueError(f"responses[{i}] is empty: a demonstration needs a response")
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    device = next(model.parameters()).device
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    history = History()
    model.train()
    n_batches = -(-len(prompts) // config.batch_size)
    step = 0
    for epoch in range(config.epochs):
        order = rng.permutation(len(prompts))
        batches = range(0, len(prompts), config.batch_size)
        for start in progress(batches, desc=f"SFT epoch {epoch + 1}", total=n_batches):
            index = order[start : start + config.batch_size]
            batch = encode_prompt_response(
                tokenizer, [prompts[i] for i in index], [responses[i] for i in index]
            )
            batch = {key: value.to(device) for key, value in batch.items()}
            logits = model(
                input_ids=batch["input_ids"],
                attention_mask=batch["attention_mask"],
                position_ids=position_ids_from_mask(batch["attention_mask"]),
            ).logits
            loss = sft_loss(logits, batch["input_ids"], batch["response_mask"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            history.log(step=step, epoch=epoch, loss=loss.item())
            step += 1
    model.eval()
    return history


def labeler_demonstrations(
    model: torch.nn.Module,
    tokenizer,
    prompts: Sequence[str],
    utility,
    n: int = 8,
    max_new_tokens: int = 32,
    seed: int = 0,
) -> tuple[list[str], list[float]]:
    """Demonstrations picked by a labeler: for each prompt the best of ``n`` samples of ``model``
    under ``utility(prompt, response) -> float`` (the labeler's true utility).

    Returns ``(responses, utilities)``, one of each per prompt. ``n = 1`` returns plain samples.
    """
    from rlhf_edu.rlhf.best_of_n import best_of_n

    if not callable(utility):
        raise TypeError(f"utility must be a function (prompt, response) -> float, got {utility!r}")

    def true_utility(batch_prompts: list[str], responses: list[str]) -> torch.Tensor:
        return torch.tensor([float(utility(p, r)) for p, r in zip(batch_prompts, responses)])

    chosen = best_of_n(
        model, tokenizer, prompts, true_utility, n=n, max_new_tokens=max_new_tokens, seed=seed
    )
    return chosen.responses, chosen.scores
