"""A Bradley-Terry reward model: the tiny LM's backbone with a scalar head.

The reward model ``r_phi(x, y)`` reads the prompt ``x`` and the response ``y`` (followed by the end
token) and outputs one number, taken from the hidden state at the *last non-pad token*. It is fit
to preference pairs ``(x, y_chosen, y_rejected)`` by maximum likelihood under Bradley-Terry:

    P(y_chosen > y_rejected) = sigmoid(r_phi(x, y_chosen) - r_phi(x, y_rejected))
    loss = mean over pairs of -log sigmoid(r_chosen - r_rejected - margin)

(the optional ``margin`` asks the chosen response to win by at least that much). Its quality is the
*pairwise accuracy* on held-out pairs, mean(r_chosen > r_rejected), which -- with a synthetic
labeler -- can be compared with the Bayes-optimal accuracy of the same pairs
(:func:`rlhf_edu.rlhf.preferences.bayes_optimal_accuracy`).

Only differences of rewards are identified, so after training the scores are *normalized* to mean 0
and std 1 under the reference policy's own samples (stored as buffers and saved with the model):
``score = (r_phi - mean) / std``. RLHF then starts from rewards of a known scale.

Details that matter (Ziegler et al. 2019; Huang et al. 2023): the head starts small
(normal, std 1/sqrt(d_model + 1)), dropout is off, padding uses a dedicated pad token, and position
ids count real tokens only, so left and right padding give the same score.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import GPT2Config, GPT2LMHeadModel, GPT2Model, PreTrainedTokenizerFast

from rlhf_edu.rlhf.generation import (
    disable_dropout,
    generate_responses,
    pad_rows,
    position_ids_from_mask,
    quiet_transformers,
)
from rlhf_edu.rlhf.lm import (
    build_once,
    check_vocab,
    default_cache_dir,
    encode_prompt_response,
    load_tiny_lm,
    torch_threads,
    warmup_cosine_schedule,
)
from rlhf_edu.rlhf.preferences import (
    DEFAULT_LABELER,
    PreferencePair,
    bayes_optimal_accuracy,
    get_labeler,
    make_synthetic_pairs,
)
from rlhf_edu.utils import (
    History,
    check_seed,
    latest_checkpoint,
    load_checkpoint,
    progress,
    save_checkpoint,
)
from rlhf_edu.utils.validation import check_float, check_int, documented

#: Bump when the default reward model's recipe changes (older cached ones are then ignored).
REWARD_MODEL_VERSION = 3


# ---------------------------------------------------------------------------------------------
# The loss and the metric (pure functions)
# ---------------------------------------------------------------------------------------------


def bradley_terry_loss(
    r_chosen: torch.Tensor, r_rejected: torch.Tensor, margin: float | torch.Tensor = 0.0
) -> torch.Tensor:
    """mean of -log sigmoid(r_chosen - r_rejected - margin): the Bradley-Terry negative
    log-likelihood of the labels (with ``margin`` > 0 the chosen must win by that much)."""
    if r_chosen.shape != r_rejected.shape:
        raise ValueError(
            f"r_chosen and r_rejected must have the same shape, got {tuple(r_chosen.shape)} "
            f"and {tuple(r_rejected.shape)}"
        )
    return -F.logsigmoid(r_chosen - r_rejected - margin).mean()


def pairwise_accuracy(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> float:
    """The fraction of pairs where the chosen response scores higher (a tie counts one half)."""
    if r_chosen.shape != r_rejected.shape:
        raise ValueError(
            f"r_chosen and r_rejected must have the same shape, got {tuple(r_chosen.shape)} "
            f"and {tuple(r_rejected.shape)}"
        )
    if r_chosen.numel() == 0:
        raise ValueError("pairwise_accuracy needs at least one pair")
    wins = (r_chosen > r_rejected).double() + 0.5 * (r_chosen == r_rejected).double()
    return float(wins.mean())


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------


class RewardModel(nn.Module):
    """GPT-2 backbone + a scalar head read at the last non-pad token of prompt + response + EOS."""

    def __init__(self, backbone: GPT2Model, tokenizer: PreTrainedTokenizerFast) -> None:
        super().__init__()
        if len(tokenizer) != backbone.get_input_embeddings().num_embeddings:
            raise ValueError(
                f"tokenizer vocabulary ({len(tokenizer)} tokens) does not match the backbone's "
                f"embedding table ({backbone.get_input_embeddings().num_embeddings} rows)"
            )
        self.backbone = disable_dropout(backbone)
        self.tokenizer = tokenizer
        d_model = backbone.config.n_embd
        self.head = nn.Linear(d_model, 1)
        nn.init.normal_(self.head.weight, std=1.0 / math.sqrt(d_model + 1))
        nn.init.zeros_(self.head.bias)
        # normalization under the reference policy: score = (raw - mean) / std
        self.register_buffer("reward_mean", torch.tensor(0.0))
        self.register_buffer("reward_std", torch.tensor(1.0))
        self.eval()

    @classmethod
    def from_lm(cls, lm: GPT2LMHeadModel, tokenizer: PreTrainedTokenizerFast) -> RewardModel:
        """A reward model whose backbone starts as a copy of the LM's transformer."""
        check_vocab(lm, tokenizer)
        return cls(copy.deepcopy(lm.transformer), tokenizer)

    @property
    def max_length(self) -> int:
        return int(self.backbone.config.n_positions)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Raw (unnormalized) rewards, (batch,), for (batch, seq_len) ids padded left or right."""
        hidden = self.backbone(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids_from_mask(attention_mask),
        ).last_hidden_state  # (batch, seq_len, d_model)
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        last = (positions * attention_mask).argmax(-1)  # index of the last real token, (batch,)
        last_hidden = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        return self.head(last_hidden).squeeze(-1)

    def normalize(self, raw: torch.Tensor) -> torch.Tensor:
        """(raw - mean) / std with the stored normalization."""
        return (raw - self.reward_mean) / self.reward_std

    def encode(self, prompts: Sequence[str], responses: Sequence[str]) -> dict[str, torch.Tensor]:
        """Token ids of prompt + response + EOS, right-padded and cut to ``max_length``."""
        batch = encode_prompt_response(
            self.tokenizer, prompts, responses, add_eos=True, padding_side="right"
        )
        return {k: v[:, : self.max_length] for k, v in batch.items()}

    @torch.no_grad()
    def raw_scores(
        self, prompts: Sequence[str], responses: Sequence[str], batch_size: int = 128
    ) -> torch.Tensor:
        """Unnormalized rewards of (prompt, response) pairs: (n,)."""
        was_training = self.training
        self.eval()
        device = self.head.weight.device
        out = []
        for start in range(0, len(prompts), batch_size):
            batch = self.encode(
                prompts[start : start + batch_size], responses[start : start + batch_size]
            )
            out.append(
                self(batch["input_ids"].to(device), batch["attention_mask"].to(device))
                .float()
                .cpu()
            )
        self.train(was_training)
        return torch.cat(out) if out else torch.zeros(0)

    def score(
        self, prompts: Sequence[str], responses: Sequence[str], batch_size: int = 128
    ) -> torch.Tensor:
        """Normalized rewards (mean 0, std 1 under the reference policy): (n,), no gradient."""
        if isinstance(prompts, str) or isinstance(responses, str):
            raise TypeError("prompts and responses must be lists of strings, not a single string")
        return self.normalize(self.raw_scores(prompts, responses, batch_size).to(self.reward_std))

    def set_normalization(self, mean: float, std: float) -> None:
        """Store the normalization: ``score = (raw - mean) / std``."""
        check_float("mean", mean)
        check_float("std", std, 0.0, None, low_open=True)
        self.reward_mean.fill_(float(mean))
        self.reward_std.fill_(float(std))

    def normalize_under(
        self, prompts: Sequence[str], responses: Sequence[str]
    ) -> tuple[float, float]:
        """Set mean/std so these samples (the reference policy's) score mean 0, std 1."""
        raw = self.raw_scores(prompts, responses).double()
        mean, std = float(raw.mean()), float(raw.std().clamp(min=1e-6))
        self.set_normalization(mean, std)
        return mean, std

    # ------------------------------------------------------------------ save / load
    def save(self, path: str | os.PathLike, metadata: dict | None = None) -> Path:
        """Write ``config.json`` (backbone), ``reward_model.safetensors``, the tokenizer and
        ``reward_model.json`` (normalization and ``metadata``) to the folder ``path``."""
        from safetensors.torch import save_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with quiet_transformers():
            self.backbone.config.save_pretrained(path)
            self.tokenizer.save_pretrained(path)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(path / "reward_model.safetensors"))
        info = {
            "version": REWARD_MODEL_VERSION,
            "reward_mean": float(self.reward_mean),
            "reward_std": float(self.reward_std),
            "metadata": metadata or {},
        }
        (path / "reward_model.json").write_text(json.dumps(info, indent=1))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> RewardModel:
        """Load a reward model saved with ``save`` (eval mode, dropout off)."""
        from safetensors.torch import load_file
        from transformers import AutoTokenizer

        path = Path(path)
        if not (path / "reward_model.safetensors").is_file():
            raise FileNotFoundError(f"no reward model in {path} (missing reward_model.safetensors)")
        with quiet_transformers():
            config = GPT2Config.from_pretrained(path)
            tokenizer = AutoTokenizer.from_pretrained(path)
        model = cls(GPT2Model(config), tokenizer)
        model.load_state_dict(load_file(str(path / "reward_model.safetensors")))
        model.eval()
        return model

    @staticmethod
    def metadata(path: str | os.PathLike) -> dict:
        """The ``metadata`` saved with a reward model (training metrics, recipe)."""
        return json.loads((Path(path) / "reward_model.json").read_text())["metadata"]


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


@dataclass
class RewardModelConfig:
    """Hyperparameters of reward-model training (validated)."""

    epochs: int = documented(2, "passes over the training pairs")
    batch_size: int = documented(32, "preference pairs per gradient step")
    lr: float = documented(1e-3, "peak learning rate of AdamW (after the warm-up)")
    weight_decay: float = documented(0.0, "AdamW weight decay on the weight matrices (not biases)")
    margin: float = documented(
        0.0, "Bradley-Terry margin: the chosen response must win by this much"
    )
    warmup_steps: int = documented(
        20, "steps of linear learning-rate warm-up; then a cosine decay to 10%"
    )
    eval_every: int = documented(50, "evaluate on the held-out pairs every this many steps")
    eval_at: tuple[int, ...] = documented(
        (), "extra steps to evaluate at (e.g. a log-spaced learning curve)"
    )
    eval_fraction: float = documented(
        0.1, "fraction of the pairs held out when no eval_pairs are given, in (0, 1)"
    )
    checkpoint_every: int = documented(
        0, "steps between checkpoints; 0: only at the end (with a checkpoint_dir)"
    )

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_every"):
            check_int(name, getattr(self, name))
        for name in ("warmup_steps", "checkpoint_every"):
            check_int(name, getattr(self, name), 0)
        check_float("lr", self.lr, 0.0, None, low_open=True)
        check_float("weight_decay", self.weight_decay, 0.0)
        check_float("margin", self.margin, 0.0)
        check_float("eval_fraction", self.eval_fraction, 0.0, 1.0, low_open=True, high_open=True)
        self.eval_at = tuple(check_int("eval_at", step) for step in self.eval_at)


def _encode_pairs(
    model: RewardModel, pairs: Sequence[PreferencePair]
) -> tuple[list[list[int]], list[list[int]]]:
    tok, eos, limit = model.tokenizer, model.tokenizer.eos_token_id, model.max_length

    def ids(prompt: str, response: str) -> list[int]:
        row = tok.encode(prompt, add_special_tokens=False) + tok.encode(
            response, add_special_tokens=False
        )
        return (row + [eos])[:limit]

    return [ids(p.prompt, p.chosen) for p in pairs], [ids(p.prompt, p.rejected) for p in pairs]


def _length_bucketed(
    order: np.ndarray, lengths: np.ndarray, batch_size: int, rng: np.random.Generator
) -> np.ndarray:
    """Reorder a shuffled epoch so each batch holds pairs of similar length (less padding, faster),
    keeping the batches themselves in random order. Works in windows of 50 batches."""
    window = 50 * batch_size
    batches = []
    for start in range(0, len(order), window):
        chunk = order[start : start + window]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return np.concatenate([batches[i] for i in rng.permutation(len(batches))])


def _pair_batch(
    model: RewardModel, chosen: list[list[int]], rejected: list[list[int]]
) -> dict[str, torch.Tensor]:
    """Chosen and rejected token rows right-padded to one width: a batch for the training step."""
    input_ids, attention_mask = pad_rows(chosen + rejected, model.tokenizer.pad_token_id, "right")
    n = len(chosen)
    return {
        "chosen_ids": input_ids[:n],
        "chosen_mask": attention_mask[:n],
        "rejected_ids": input_ids[n:],
        "rejected_mask": attention_mask[n:],
    }


def pair_rewards(
    model: nn.Module, batch: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rewards of the chosen and the rejected responses of a batch, in one forward pass.

    ``batch`` holds ``chosen_ids``, ``chosen_mask``, ``rejected_ids``, ``rejected_mask``, each
    ``(batch, seq_len)`` (one width for all four); ``model(input_ids, attention_mask)`` returns
    ``(rows,)``. Returns ``(r_chosen, r_rejected)``, each ``(batch,)``.
    """
    n = batch["chosen_ids"].shape[0]
    input_ids = torch.cat([batch["chosen_ids"], batch["rejected_ids"]])  # (2 * batch, seq_len)
    attention_mask = torch.cat([batch["chosen_mask"], batch["rejected_mask"]])
    rewards = model(input_ids, attention_mask)  # (2 * batch,)
    return rewards[:n], rewards[n:]


def reward_model_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: dict[str, torch.Tensor],
    margin: float = 0.0,
    max_grad_norm: float | None = 1.0,
) -> dict[str, float]:
    """One gradient step of reward-model training on a batch of preference pairs.

    r_chosen, r_rejected = model(chosen), model(rejected)          # (batch,) each
    loss = mean -log sigmoid(r_chosen - r_rejected - margin)       # Bradley-Terry
    zero the gradients, backpropagate, clip the gradient norm to ``max_grad_norm`` (None: no
    clipping), take the optimizer step.

    Returns ``{"loss": ..., "accuracy": ...}``: the batch's loss and pairwise accuracy *before* the
    step, as Python floats.
    """
    r_chosen, r_rejected = pair_rewards(model, batch)
    loss = bradley_terry_loss(r_chosen, r_rejected, margin)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if max_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    return {
        "loss": loss.item(),
        "accuracy": pairwise_accuracy(r_chosen.detach(), r_rejected.detach()),
    }


@torch.no_grad()
def evaluate_reward_model(
    model: RewardModel, pairs: Sequence[PreferencePair], batch_size: int = 128, labeler=None
) -> dict[str, float]:
    """The held-out metrics of a reward model on ``pairs``, from one scoring pass.

    Returns ``accuracy`` (mean of r_chosen > r_rejected, a tie counts one half), ``margin`` (mean
    raw r_chosen - r_rejected), ``loss`` (Bradley-Terry) and ``n_eval_pairs``; with the synthetic
    ``labeler`` also ``expected_accuracy`` (averaged over its label noise, see
    ``expected_accuracy``) and ``bayes_optimal_accuracy`` (the ceiling on the same pairs).
    Training logs the first four with an ``eval_`` prefix.
    """
    pairs = list(pairs)
    if not pairs:
        raise ValueError("evaluate_reward_model needs at least one pair")
    prompts = [p.prompt for p in pairs]
    r_chosen = model.raw_scores(prompts, [p.chosen for p in pairs], batch_size)
    r_rejected = model.raw_scores(prompts, [p.rejected for p in pairs], batch_size)
    metrics = {
        "accuracy": pairwise_accuracy(r_chosen, r_rejected),
        "margin": float((r_chosen - r_rejected).mean()),
        "loss": float(bradley_terry_loss(r_chosen, r_rejected)),
        "n_eval_pairs": len(pairs),
    }
    if labeler is not None:
        metrics["expected_accuracy"] = expected_accuracy(
            r_chosen.numpy(), r_rejected.numpy(), pairs, labeler
        )
        metrics["bayes_optimal_accuracy"] = bayes_optimal_accuracy(pairs, labeler)
    return metrics


#: The held-out metrics that training logs (as ``eval_<name>``) at each evaluation.
LOGGED_EVAL_METRICS = ("accuracy", "margin", "loss", "expected_accuracy")


def train_reward_model(
    pairs: Sequence[PreferencePair],
    config: RewardModelConfig | None = None,
    *,
    eval_pairs: Sequence[PreferencePair] | None = None,
    lm: tuple[GPT2LMHeadModel, PreTrainedTokenizerFast] | None = None,
    seed: int = 0,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    cache_dir: str | os.PathLike | None = None,
    labeler=None,
    step=None,
) -> tuple[RewardModel, History]:
    """Fit a reward model to preference pairs with the Bradley-Terry loss.

    Args:
        pairs: training pairs (``eval_fraction`` of them are held out if ``eval_pairs`` is None).
        config: hyperparameters (defaults: ``RewardModelConfig()``).
        eval_pairs: held-out pairs for accuracy and margin, logged every ``eval_every`` steps.
        lm: ``(model, tokenizer)`` whose transformer initialises the backbone (default: the tiny
            GPT-2 from the cache).
        seed: initialisation of the head and order of the pairs.
        checkpoint_dir: where to write checkpoints (every ``checkpoint_every`` steps, and at the
            end); with ``resume`` training continues from the newest one, giving the same result
            as an uninterrupted run.
        labeler: the synthetic labeler of the pairs, if any: evaluations then also log
            ``eval_expected_accuracy`` (accuracy averaged over its label noise).
        step: the training step, ``step(model, optimizer, batch, margin) -> {"loss", "accuracy"}``
            (default :func:`reward_model_step`; notebook 09 passes the student's). The loop
            around it (data order, learning-rate schedule, evaluation, checkpoints) stays here.

    Returns:
        ``(reward_model, history)``: history rows have ``step``, ``loss``, and at each evaluation
        ``eval_accuracy``, ``eval_margin``, ``eval_loss``. The model is not normalized yet (see
        ``RewardModel.normalize_under``).
    """
    config = config or RewardModelConfig()
    seed = check_seed(seed)
    step_fn = reward_model_step if step is None else step
    if not callable(step_fn):
        raise TypeError(f"step must be a function (model, optimizer, batch, margin), got {step!r}")
    pairs = list(pairs)
    if len(pairs) < 2:
        raise ValueError(f"pairs must hold at least 2 preference pairs, got {len(pairs)}")
    rng = np.random.default_rng(seed)
    if eval_pairs is None:
        order = rng.permutation(len(pairs))
        n_eval = max(1, int(round(config.eval_fraction * len(pairs))))
        eval_pairs = [pairs[i] for i in order[:n_eval]]
        pairs = [pairs[i] for i in order[n_eval:]]
    eval_pairs = list(eval_pairs)

    lm_model, tokenizer = lm if lm is not None else load_tiny_lm(cache_dir, seed=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = RewardModel.from_lm(lm_model, tokenizer)
    chosen, rejected = _encode_pairs(model, pairs)

    # batches run on across epoch boundaries: the last one of a run may be smaller
    total_steps = math.ceil(len(pairs) * config.epochs / config.batch_size)
    # the whole data order is fixed up front, so a resumed run sees the same batches
    lengths = np.array([max(len(c), len(r)) for c, r in zip(chosen, rejected)])
    schedule = np.concatenate(
        [_length_bucketed(rng.permutation(len(pairs)), lengths, config.batch_size, rng)
         for _ in range(config.epochs)]
    )  # fmt: skip

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.lr,
    )

    scheduler = warmup_cosine_schedule(optimizer, config.warmup_steps, total_steps)
    history = History()
    start_step = 0
    if checkpoint_dir is not None and resume:
        found = latest_checkpoint(checkpoint_dir)
        if found is not None:
            state = load_checkpoint(found)
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            history.load_state_dict(state["history"])
            start_step = int(state["step"])

    def checkpoint(step: int) -> None:
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "history": history.state_dict(),
            "step": step,
        }
        save_checkpoint(state, checkpoint_dir, step=step)

    model.train()
    for step_index in progress(range(start_step, total_steps), total=total_steps,
                               initial=start_step, desc="training reward model"):  # fmt: skip
        index = schedule[step_index * config.batch_size : (step_index + 1) * config.batch_size]
        batch = _pair_batch(model, [chosen[i] for i in index], [rejected[i] for i in index])
        metrics = step_fn(model, optimizer, batch, config.margin)
        scheduler.step()
        done = step_index + 1
        row = {
            "step": done,
            "loss": float(metrics["loss"]),
            "train_accuracy": float(metrics["accuracy"]),
        }
        if done % config.eval_every == 0 or done == total_steps or done in config.eval_at:
            metrics = evaluate_reward_model(model, eval_pairs, labeler=labeler)
            row.update({f"eval_{k}": metrics[k] for k in LOGGED_EVAL_METRICS if k in metrics})
        history.log(**row)
        if checkpoint_dir is not None and (
            (config.checkpoint_every and done % config.checkpoint_every == 0) or done == total_steps
        ):
            checkpoint(done)
    model.eval()
    return model, history


# ---------------------------------------------------------------------------------------------
# Accuracy against the number of labeled pairs: separate models on nested subsets
# ---------------------------------------------------------------------------------------------


class BagOfWordsRewardModel(nn.Module):
    """A cheap reward model for experiments with many training runs (learning curves, seeds).

    ``r(x, y) = MLP([mean of the token embeddings, log(number of tokens)])`` over prompt +
    response + EOS: it sees which words occur and how long the text is, not their order. Same
    interface as :class:`RewardModel`: ``model(input_ids, attention_mask) -> (batch,)``.
    """

    def __init__(self, vocab_size: int, dim: int = 16, hidden: int = 32) -> None:
        super().__init__()
        check_int("vocab_size", vocab_size)
        check_int("dim", dim)
        check_int("hidden", hidden)
        self.embedding = nn.Embedding(vocab_size, dim)
        self.mlp = nn.Sequential(nn.Linear(dim + 1, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.unsqueeze(-1).float()  # (batch, seq_len, 1)
        n_tokens = mask.sum(1).clamp(min=1.0)  # (batch, 1)
        mean_embedding = (self.embedding(input_ids) * mask).sum(1) / n_tokens  # (batch, dim)
        features = torch.cat([mean_embedding, torch.log(n_tokens)], dim=-1)
        return self.mlp(features).squeeze(-1)


def encode_pair_tensors(
    tokenizer: PreTrainedTokenizerFast, pairs: Sequence[PreferencePair]
) -> dict[str, torch.Tensor]:
    """All pairs as one batch: ``chosen_ids``, ``chosen_mask``, ``rejected_ids``,
    ``rejected_mask``, each ``(n_pairs, seq_len)``, prompt + response + EOS right-padded to one
    width. Index every tensor with the same rows to get a smaller batch."""
    pairs = list(pairs)
    if not pairs:
        raise ValueError("pairs is empty: nothing to encode")
    prompts = [p.prompt for p in pairs] * 2
    responses = [p.chosen for p in pairs] + [p.rejected for p in pairs]
    encoded = encode_prompt_response(tokenizer, prompts, responses, padding_side="right")
    n = len(pairs)
    return {
        "chosen_ids": encoded["input_ids"][:n],
        "chosen_mask": encoded["attention_mask"][:n],
        "rejected_ids": encoded["input_ids"][n:],
        "rejected_mask": encoded["attention_mask"][n:],
    }


def accuracy_vs_pairs(
    make_model,
    train: dict[str, torch.Tensor],
    evaluation: dict[str, torch.Tensor],
    sizes: Sequence[int],
    seeds: Sequence[int],
    epochs: int = 4,
    lr: float = 3e-2,
    batch_size: int = 64,
) -> np.ndarray:
    """Held-out pairwise accuracy of reward models trained on nested subsets of the pairs.

    For each seed: ``order = np.random.default_rng(seed).permutation(n_pairs)``; for each size
    ``k``, a *fresh* model (``torch.manual_seed(seed)`` then ``make_model()``) and
    ``torch.optim.Adam(model.parameters(), lr=lr)`` are trained on the pairs ``order[:k]`` (the
    subsets are nested: each contains the smaller ones) for ``epochs`` passes, in that order, in
    batches of ``batch_size`` (the last one smaller), one :func:`reward_model_step` per batch
    (default margin and clipping). The model's pairwise accuracy on ``evaluation`` (no gradient)
    is entry ``[seed index, size index]`` of the returned ``(len(seeds), len(sizes))`` array.

    ``train`` and ``evaluation`` are batches as made by :func:`encode_pair_tensors`. A data-size
    learning curve: one model per subset, unlike the log of a single training run.
    """
    n_pairs = int(train["chosen_ids"].shape[0])
    sizes = [check_int("sizes", k) for k in sizes]
    if max(sizes, default=0) > n_pairs:
        raise ValueError(f"sizes must be at most the number of training pairs ({n_pairs})")
    check_int("epochs", epochs)
    check_int("batch_size", batch_size)
    accuracy = np.zeros((len(seeds), len(sizes)))
    for i, seed in enumerate(seeds):
        order = np.random.default_rng(check_seed(seed)).permutation(n_pairs)
        for j, size in enumerate(sizes):
            torch.manual_seed(seed)
            model = make_model()
            optimizer = torch.optim.Adam(model.parameters(), lr=lr)
            subset = order[:size]
            for _ in range(epochs):
                for start in range(0, size, batch_size):
                    rows = torch.as_tensor(subset[start : start + batch_size])
                    reward_model_step(model, optimizer, {k: v[rows] for k, v in train.items()})
            with torch.no_grad():
                r_chosen, r_rejected = pair_rewards(model, evaluation)
            accuracy[i, j] = pairwise_accuracy(r_chosen, r_rejected)
    return accuracy


# ---------------------------------------------------------------------------------------------
# The course's default reward model (trained once, cached)
# ---------------------------------------------------------------------------------------------

#: The recipe of the default reward model: pairs from the "mix" labeler.
DEFAULT_N_PAIRS = 16_000
DEFAULT_N_EVAL_PAIRS = 10_000
DEFAULT_N_NORMALIZATION = 256
#: One pass over fresh pairs (each pair is seen once), so the held-out accuracy after ``k`` steps
#: is that of a model trained on ``k * batch_size`` pairs: the learning curve in labeled pairs.
DEFAULT_CONFIG = RewardModelConfig(
    epochs=1, batch_size=32, lr=1e-3, eval_every=10**9, eval_at=(4, 8, 16, 32, 63, 125, 250)
)
#: Held-out pairs used for that learning curve (the final metrics use all of them).
DEFAULT_N_CURVE_PAIRS = 1000


def expected_accuracy(
    r_chosen: np.ndarray, r_rejected: np.ndarray, pairs: Sequence[PreferencePair], labeler
) -> float:
    """Accuracy of the model's predictions averaged over the labeler's noise (not one draw of it):
    mean of P_labeler(predicted winner preferred). Never above the Bayes-optimal accuracy."""
    p_chosen = np.array([labeler.prob_prefers(p.prompt, p.chosen, p.rejected) for p in pairs])
    r_c, r_r = np.asarray(r_chosen), np.asarray(r_rejected)
    return float(np.mean(np.where(r_c > r_r, p_chosen, np.where(r_c < r_r, 1 - p_chosen, 0.5))))


def held_out_metrics(model: RewardModel, pairs: Sequence[PreferencePair], labeler=None) -> dict:
    """``evaluate_reward_model(model, pairs, labeler=labeler)`` (the name the commands use)."""
    return evaluate_reward_model(model, pairs, labeler=labeler)


def build_default_reward_model(
    out_dir: str | os.PathLike,
    cache_dir: str | os.PathLike | None = None,
    seed: int = 0,
    labeler: str = DEFAULT_LABELER,
    n_pairs: int = DEFAULT_N_PAIRS,
    config: RewardModelConfig | None = None,
) -> Path:
    """Train a reward model on synthetic pairs from ``labeler``, normalize it under the tiny LM's
    samples and save it (with its held-out metrics and training history) to ``out_dir``."""
    from rlhf_edu.rlhf.corpus import sample_prompts

    seed = check_seed(seed)
    config = config or DEFAULT_CONFIG
    started = time.perf_counter()
    lab = get_labeler(labeler)
    lm_model, tokenizer = load_tiny_lm(cache_dir, seed=0)
    train_pairs = make_synthetic_pairs(lab, n_pairs, seed=seed)
    eval_pairs = make_synthetic_pairs(lab, DEFAULT_N_EVAL_PAIRS, seed=seed + 10_000)
    with torch_threads(1):
        model, history = train_reward_model(
            train_pairs,
            config,
            eval_pairs=eval_pairs[:DEFAULT_N_CURVE_PAIRS],
            lm=(lm_model, tokenizer),
            seed=seed,
            labeler=lab,
        )
        prompts = sample_prompts(DEFAULT_N_NORMALIZATION, seed=seed + 20_000)
        responses = generate_responses(lm_model, tokenizer, prompts, seed=seed)
        model.normalize_under(prompts, responses)
        metrics = evaluate_reward_model(model, eval_pairs, labeler=lab)
    metadata = {
        "labeler": lab.name,
        "temperature": lab.temperature,
        "n_pairs": n_pairs,
        "n_curve_pairs": DEFAULT_N_CURVE_PAIRS,
        **metrics,
        "batch_size": config.batch_size,
        "seed": seed,
        "config": asdict(config),
        "train_seconds": round(time.perf_counter() - started, 1),
    }
    out_dir = Path(out_dir)
    model.save(out_dir, metadata=metadata)
    history.to_csv(out_dir / "history.csv")
    return out_dir


def default_reward_model_dir(cache_dir: str | os.PathLike | None = None, seed: int = 0) -> Path:
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return cache / f"reward-model-{DEFAULT_LABELER}-v{REWARD_MODEL_VERSION}-seed{check_seed(seed)}"


def ensure_default_reward_model(cache_dir: str | os.PathLike | None = None, seed: int = 0) -> Path:
    """Train the default reward model into the cache unless it is there; return its folder."""
    folder = default_reward_model_dir(cache_dir, seed)
    return build_once(
        folder.parent,
        folder.name,
        lambda tmp: build_default_reward_model(tmp, cache_dir=cache_dir, seed=seed),
    )


def load_default_reward_model(
    cache_dir: str | os.PathLike | None = None, seed: int = 0
) -> RewardModel:
    """The course's reward model for the "mix" labeler, trained once into the cache (~1.5 min).

    ``RewardModel.metadata(default_reward_model_dir(cache_dir, seed))`` holds its held-out
    accuracy and the Bayes-optimal accuracy of the same pairs.
    """
    return RewardModel.load(ensure_default_reward_model(cache_dir, seed))
