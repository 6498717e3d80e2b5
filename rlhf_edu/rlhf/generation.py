"""Sampling responses from a language-model policy, and scoring them with one forward pass.

A prompt batch is **left-padded** so that every prompt ends in the same column and the first
response token of every row is predicted from the same position::

    [pad pad  The cat ] [ sat  on  EOS  pad ]
    [ A  dog  ran fast] [ to  the park  .   ]
     <-- prompt, P --->  <-- response, T -->

Three details from Huang et al. (2023), "The N implementation details of RLHF with PPO":

* pad is a dedicated token, never EOS — otherwise "the response ended" and "this is padding"
  are the same token and masks, the reward position and the EOS stop all break;
* position ids count real tokens only (``cumsum(attention_mask) - 1``), so a left-padded prompt
  sees the same positions as the same prompt alone;
* the log-probabilities PPO trains on come from a **forward pass** over prompt + response with
  the logits divided by the sampling temperature — never from ``generate``'s scores, which may be
  post-processed and are computed with a KV cache in a different numerical order.

Sampling uses the KV cache: the prompt is read once, then each step feeds one token per row.

This module is the one home of the language-model plumbing that ``lm``, the reward model, PPO,
DPO and best-of-n share: padding (``pad_rows``), position ids, token log-probabilities
(``logprobs_from_logits``, ``token_logprobs``, ``sequence_logprob``), sampling (``sample_responses``
with our own KV-cache loop, ``generate_responses`` with transformers' ``generate``), dropout off
(``disable_dropout``) and the one evaluation of a policy on prompts (``sample_and_score``).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from rlhf_edu.utils import check_seed
from rlhf_edu.utils.validation import check_float, check_int

#: Config keys of transformers models that hold a dropout probability.
DROPOUT_CONFIG_KEYS = ("resid_pdrop", "embd_pdrop", "attn_pdrop", "summary_first_dropout")


def check_pad_token(tokenizer) -> tuple[int, int]:
    """Return ``(pad_token_id, eos_token_id)``; raise if pad is missing or equal to EOS."""
    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    if eos is None:
        raise ValueError("tokenizer has no eos_token_id: responses could never stop")
    if pad is None:
        raise ValueError(
            "tokenizer has no pad token; add a dedicated one (tokenizer.add_special_tokens("
            "{'pad_token': '<|pad|>'}) and resize the model's embeddings) — do not reuse EOS"
        )
    if pad == eos:
        raise ValueError(
            f"pad_token_id == eos_token_id == {pad}: padding must be a dedicated token, "
            "otherwise the response mask, the reward position and the EOS stop break "
            "(Huang et al. 2023)"
        )
    return int(pad), int(eos)


def check_padding_side(padding_side: str) -> str:
    """``padding_side`` if it is ``"left"`` or ``"right"``; ValueError otherwise."""
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    return padding_side


def pad_rows(
    rows: Sequence[Sequence[int]], pad_value: int, side: str = "right"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack token rows of different lengths: ``(values, attention_mask)``, each ``(batch, width)``.

    Short rows are filled with ``pad_value`` on ``side`` (left for prompts that generation
    continues, right for whole sequences); the mask is 1 on the rows' own entries. Padding a row of
    0/1 flags with 0 lines it up with the tokens it describes (a response mask, say).
    """
    check_padding_side(side)
    if len(rows) == 0:
        raise ValueError("rows is empty: nothing to pad")
    width = max(len(row) for row in rows)
    values = torch.full((len(rows), width), pad_value, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        span = slice(0, len(row)) if side == "right" else slice(width - len(row), width)
        values[i, span] = torch.tensor(list(row), dtype=torch.long)
        attention_mask[i, span] = 1
    return values, attention_mask


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids that count only real tokens, so left padding does not shift positions.

    ``attention_mask`` (batch, seq_len) of 0/1 -> (batch, seq_len): ``cumsum(mask) - 1``, i.e.
    0, 1, 2, ... from each row's first real token; pad positions get 0 (they are masked anyway).
    """
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def disable_dropout(model: torch.nn.Module) -> torch.nn.Module:
    """Set every dropout probability to 0, in the modules and in a transformers ``config``.

    RLHF compares log-probabilities of the same tokens under several forward passes (sampling,
    the old policy, each PPO epoch, the reference); dropout would make them disagree.
    """
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    config = getattr(model, "config", None)
    if config is not None:
        for key in DROPOUT_CONFIG_KEYS:
            if hasattr(config, key):
                setattr(config, key, 0.0)
    return model


@dataclass
class PromptBatch:
    """Left-padded prompt token ids and their attention mask, each ``(batch, P)``."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor


def check_prompts(prompts: Sequence[str], need: str = "need at least one prompt") -> list[str]:
    """``prompts`` as a list; a single string (not a list of them) or an empty list is an error."""
    if isinstance(prompts, str):
        raise TypeError("prompts must be a list of strings, got a single string")
    prompts = list(prompts)
    if not prompts:
        raise ValueError(f"prompts is empty: {need}")
    return prompts


def encode_prompts(
    tokenizer,
    prompts: Sequence[str],
    max_new_tokens: int,
    context_length: int,
    device: str | torch.device = "cpu",
) -> PromptBatch:
    """Tokenize and left-pad ``prompts``; raise if one is empty or too long for the context.

    ``context_length`` is the model's ``n_positions``: a prompt of ``n`` tokens needs
    ``n + max_new_tokens <= context_length``.
    """
    prompts = check_prompts(prompts)
    pad, _ = check_pad_token(tokenizer)
    encoded = tokenizer(prompts, add_special_tokens=True)["input_ids"]
    bos = tokenizer.bos_token_id
    rows = []
    for i, ids in enumerate(encoded):
        if len(ids) == 0:
            if bos is None:
                raise ValueError(f"prompt {i} is empty and the tokenizer has no BOS token")
            ids = [bos]
        if len(ids) + max_new_tokens > context_length:
            raise ValueError(
                f"prompt {i} has {len(ids)} tokens; with max_new_tokens={max_new_tokens} it "
                f"needs {len(ids) + max_new_tokens} > the model's context of {context_length} "
                "positions — shorten the prompt or lower max_new_tokens"
            )
        rows.append(ids)
    input_ids, attention_mask = pad_rows(rows, pad, side="left")
    return PromptBatch(input_ids.to(device), attention_mask.to(device))


def response_mask_from_tokens(
    response_ids: torch.Tensor, eos_token_id: int, stop_at_eos: bool = True
) -> torch.Tensor:
    """1 for response tokens up to and including the first EOS, 0 after it; ``(batch, T)``.

    Without ``stop_at_eos`` every sampled token counts (EOS is then an ordinary token).
    """
    if not stop_at_eos:
        return torch.ones_like(response_ids, dtype=torch.long)
    is_eos = (response_ids == eos_token_id).long()
    eos_before = is_eos.cumsum(-1) - is_eos  # EOS tokens strictly before t
    return (eos_before == 0).long()


def kv_cache_name(model) -> str:
    """The name of the KV cache in ``model``'s forward arguments and outputs.

    transformers 5.24 renamed ``past_key_values`` to ``cache`` (the old name still works there but
    warns that it will be removed in 5.40); earlier versions know only ``past_key_values``. The
    same name is used to pass the cache in and to read it from the output.
    """
    parameters = inspect.signature(model.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


@torch.no_grad()
def sample_responses(
    model,
    prompts: PromptBatch,
    max_new_tokens: int,
    temperature: float,
    eos_token_id: int,
    pad_token_id: int,
    generator: torch.Generator | None = None,
    stop_at_eos: bool = True,
) -> torch.Tensor:
    """Sample up to ``max_new_tokens`` per row with a KV cache; returns ``(batch, T)`` token ids.

    Tokens after a row's EOS are ``pad_token_id``; the loop stops early when every row has
    finished, so ``T <= max_new_tokens``. Sampling draws from ``softmax(logits / temperature)``
    with ``generator`` (on the CPU it must be a CPU generator; sampling happens on the CPU then).
    """
    check_float("temperature", temperature, 0.0, None, low_open=True)
    attention_mask = prompts.attention_mask
    position_ids = position_ids_from_mask(attention_mask)
    cache_name = kv_cache_name(model)
    out = model(
        input_ids=prompts.input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        use_cache=True,
        logits_to_keep=1,
    )
    past = getattr(out, cache_name)  # keys and values of every layer so far
    next_logits = out.logits[:, -1]  # (batch, vocab)
    next_position = position_ids[:, -1:] + 1  # (batch, 1)
    batch = prompts.input_ids.shape[0]
    finished = torch.zeros(batch, dtype=torch.bool, device=prompts.input_ids.device)
    tokens = []
    ones = torch.ones((batch, 1), dtype=attention_mask.dtype, device=attention_mask.device)
    for step in range(max_new_tokens):
        probs = F.softmax(next_logits.float() / temperature, dim=-1)
        # a draw from `probs` via the exponential race: argmax_i p_i / E_i with E_i ~ Exp(1)
        # (exact, like torch.multinomial, and several times faster on the CPU)
        noise = torch.empty(probs.shape, device=generator.device if generator else probs.device)
        noise.exponential_(generator=generator)
        token = (probs / noise.to(probs.device)).argmax(dim=-1)
        token = token.masked_fill(finished, pad_token_id)  # (batch,)
        tokens.append(token)
        if stop_at_eos:
            finished = finished | (token == eos_token_id)
            if bool(finished.all()):
                break
        if step == max_new_tokens - 1:
            break
        attention_mask = torch.cat([attention_mask, ones], dim=1)
        out = model(
            input_ids=token[:, None],
            attention_mask=attention_mask,
            position_ids=next_position,
            use_cache=True,
            **{cache_name: past},
        )
        past = getattr(out, cache_name)
        next_logits = out.logits[:, -1]
        next_position = next_position + 1
    return torch.stack(tokens, dim=1)


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' own progress bars (loading/saving weights) and info logs.

    They go to stderr, which notebooks store; nbval would then compare them.
    """
    from transformers.utils import logging as hf_logging

    bars_were_on = hf_logging.is_progress_bar_enabled()
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars_were_on:
            hf_logging.enable_progress_bar()


@torch.no_grad()
def generate_responses(
    model,
    tokenizer,
    prompts: Sequence[str],
    max_new_tokens: int = 48,
    temperature: float = 1.0,
    seed: int = 0,
    batch_size: int = 64,
) -> list[str]:
    """Text in, text out: one response per prompt from transformers' ``generate``, seeded.

    Pure sampling (no top-k, no top-p) at ``temperature``; the responses are decoded without
    special tokens and start with a space, like the corpus. This is the sampler of notebooks 08
    and 09 (there it is ``rlhf_edu.rlhf.lm.sample_responses``) and of the reward model's
    normalisation; PPO, DPO's evaluation and best-of-n use ``sample_responses`` above, whose
    token ids and log-probabilities they need. The two draw different (equally distributed)
    samples for the same seed.
    """
    check_seed(seed)
    check_float("temperature", temperature, 0.0, None, low_open=True)
    check_int("max_new_tokens", max_new_tokens)
    check_int("batch_size", batch_size)
    responses: list[str] = []
    was_training = model.training
    model.eval()
    with torch.random.fork_rng(devices=[]), quiet_transformers():
        torch.manual_seed(seed)
        for start in range(0, len(prompts), batch_size):
            batch = list(prompts[start : start + batch_size])
            enc = tokenizer(batch, return_tensors="pt", padding=True, padding_side="left")
            out = model.generate(
                **enc,
                do_sample=True,
                temperature=temperature,
                top_k=0,
                top_p=1.0,
                max_new_tokens=max_new_tokens,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
            new_tokens = out[:, enc["input_ids"].shape[1] :]
            responses += tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
    model.train(was_training)
    return responses


# ---------------------------------------------------------------------------------------------
# Log-probabilities of tokens
# ---------------------------------------------------------------------------------------------


def logprobs_from_logits(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """``log softmax(logits)[token]`` at every position: logits ``(batch, T, vocab)`` and tokens
    ``(batch, T)`` -> ``(batch, T)``. The softmax runs in float32 (bf16 logits lose the tails)."""
    logprobs = F.log_softmax(logits.float(), dim=-1)
    return logprobs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


def token_logprobs(
    model,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    temperature: float = 1.0,
) -> torch.Tensor:
    """log pi(token_t | tokens_<t) of every token after the first: (batch, seq_len - 1).

    Entry ``[:, t - 1]`` is the log-probability of ``input_ids[:, t]``, from one forward pass with
    position ids that ignore padding. Logits are divided by ``temperature`` (use the same
    temperature as when sampling).
    """
    check_float("temperature", temperature, 0.0, None, low_open=True)
    logits = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids_from_mask(attention_mask),
    ).logits  # (batch, seq_len, vocab)
    return logprobs_from_logits(logits[:, :-1].float() / temperature, input_ids[:, 1:])


def sequence_logprob(
    logits: torch.Tensor, input_ids: torch.Tensor, response_mask: torch.Tensor
) -> torch.Tensor:
    """log pi(y | x) = sum over response tokens of log softmax(logits)[token]: (batch,).

    Args:
        logits: (batch, seq_len, vocab), the model's output for ``input_ids``; ``logits[:, t]``
            predicts token ``t + 1``.
        input_ids: (batch, seq_len) prompt + response (+ padding).
        response_mask: (batch, seq_len), 1 where a token belongs to the response (and is not a pad).
            The first position never counts (nothing predicts it).
    """
    token_lp = logprobs_from_logits(logits[:, :-1], input_ids[:, 1:])  # (batch, seq_len - 1)
    return (token_lp * response_mask[:, 1:].to(token_lp.dtype)).sum(-1)


# ---------------------------------------------------------------------------------------------
# The pieces notebook 08 has students write (the references of its exercises)
# ---------------------------------------------------------------------------------------------


def next_token_distribution(
    logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None
) -> torch.Tensor:
    """The sampling distribution ``softmax(logits / T)``, restricted to the ``top_k`` largest
    logits (the others get probability 0; ties with the k-th largest are kept): ``(..., vocab)``
    -> probabilities of the same shape, each row summing to 1. ``top_k=None``: every token."""
    check_float("temperature", temperature, 0.0, None, low_open=True)
    scaled = logits.float() / temperature
    if top_k is not None:
        check_int("top_k", top_k)
        kth_largest = torch.topk(scaled, min(top_k, scaled.shape[-1]), dim=-1).values[..., -1:]
        scaled = scaled.masked_fill(scaled < kth_largest, float("-inf"))
    return F.softmax(scaled, dim=-1)


def token_entropy(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Entropy in nats of ``softmax(logits / T)`` at every position: ``(..., vocab)`` -> ``(...)``;
    ``-sum_a pi(a) log pi(a)`` computed from ``log_softmax`` (no ``0 * log 0 = nan``)."""
    check_float("temperature", temperature, 0.0, None, low_open=True)
    logprobs = F.log_softmax(logits.float() / temperature, dim=-1)
    return -(logprobs.exp() * logprobs).sum(-1)


def response_mask(response_ids: torch.Tensor, eos_token_id: int) -> torch.Tensor:
    """1 on a sampled response's tokens up to and including its first EOS, 0 after (padding):
    ``(batch, T)`` long. A row without EOS (cut at ``max_new_tokens``) is all ones."""
    return response_mask_from_tokens(response_ids, eos_token_id, stop_at_eos=True)


def response_logprob_sum(
    token_logprobs: torch.Tensor, response_ids: torch.Tensor, pad_token_id: int
) -> torch.Tensor:
    """``log pi(y | x)`` per row from the per-token log-probs ``(batch, T)`` of sampled responses
    ``(batch, T)`` padded after their end, when the pad token *is* the end token (GPT-2 recipes:
    ``pad_token_id == eos_token_id``): the first pad/EOS of a row is its real end token and
    counts; the ones after it are padding. ``!= pad_token_id`` would drop the real EOS."""
    mask = response_mask_from_tokens(response_ids, pad_token_id, stop_at_eos=True)
    return (token_logprobs * mask.to(token_logprobs.dtype)).sum(-1)


def response_token_logprobs(
    logits: torch.Tensor,
    response_ids: torch.Tensor,
    response_mask: torch.Tensor,
    temperature: float,
) -> torch.Tensor:
    """``log pi_T(y_t | s_t)`` of responses sampled at ``temperature``: logits ``(batch, T,
    vocab)`` (raw, the ones that predicted each response token), ``response_ids`` and
    ``response_mask`` ``(batch, T)`` -> ``(batch, T)``, 0 where the mask is 0. The logits are
    divided by the sampling temperature: scoring at ``T = 1`` what was sampled at ``T != 1``
    makes the policy look different from itself (a ratio != 1 and a KL > 0 before any update)."""
    check_float("temperature", temperature, 0.0, None, low_open=True)
    token_lp = logprobs_from_logits(logits.float() / temperature, response_ids)
    return token_lp * response_mask.to(token_lp.dtype)


def per_token_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` ``(batch, T)`` over each row's positions where ``mask`` is 1 -> ``(batch,)``;
    a row with no 1s gives 0 (nothing to average), never NaN."""
    if values.shape != mask.shape:
        raise ValueError(
            f"values and mask must have the same shape, got {tuple(values.shape)} and "
            f"{tuple(mask.shape)}"
        )
    mask = mask.to(values.dtype)
    return (values * mask).sum(-1) / mask.sum(-1).clamp(min=1)


def response_logits_and_hidden(
    model,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    n_response: int,
    temperature: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Temperature-scaled logits that predict each response token, and the hidden states there.

    ``input_ids`` is prompt + response, ``(batch, P + T)``; returns logits ``(batch, T, vocab)``
    (divided by ``temperature``) and hidden states ``(batch, T, d)`` at positions
    ``P - 1 ... P + T - 2``: the context *before* each response token, which is also the state
    whose value ``V(s_t)`` the critic estimates. Only those ``T`` positions go through the output
    layer (the prompt's logits are never needed).
    """
    position_ids = position_ids_from_mask(attention_mask)
    hidden = model.transformer(
        input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids
    ).last_hidden_state
    hidden = hidden[:, -n_response - 1 : -1]  # (batch, T, d)
    logits = model.lm_head(hidden) / temperature
    return logits, hidden


def check_scores(value, n: int, name: str = "reward") -> torch.Tensor:
    """A reward function's output as a float32 CPU tensor ``(n,)``; ValueError unless it holds one
    finite score per response."""
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


def decode_responses(
    tokenizer, response_ids: torch.Tensor, response_mask: torch.Tensor
) -> list[str]:
    """Text of each response: the masked-in tokens, special tokens (EOS, pad) dropped."""
    texts = []
    for ids, mask in zip(response_ids.tolist(), response_mask.tolist()):
        kept = [t for t, m in zip(ids, mask) if m]
        texts.append(tokenizer.decode(kept, skip_special_tokens=True))
    return texts


# ---------------------------------------------------------------------------------------------
# The one evaluation of a policy on prompts
# ---------------------------------------------------------------------------------------------


@dataclass
class SampleEvaluation:
    """Samples of a policy and their mean reward-model score, true utility and KL to a reference."""

    prompts: list[str]
    responses: list[str]
    scores: list[float]
    utilities: list[float] | None
    kls: list[float]  # per response: sum_t log pi(y_t) - log pi_ref(y_t)
    contains_eos: list[bool] | None = None  # per response: did it end with EOS?

    @property
    def reward(self) -> float:
        return float(sum(self.scores) / len(self.scores))

    @property
    def true_utility(self) -> float | None:
        return None if self.utilities is None else float(sum(self.utilities) / len(self.utilities))

    @property
    def kl(self) -> float:
        return float(sum(self.kls) / len(self.kls))

    @property
    def eos_fraction(self) -> float | None:
        """The fraction of responses that ended with EOS (not cut at ``max_new_tokens``)."""
        if self.contains_eos is None:
            return None
        return float(sum(self.contains_eos) / len(self.contains_eos))


@torch.no_grad()
def sample_and_score(
    policy,
    ref_policy,
    tokenizer,
    prompts: Sequence[str],
    reward,
    true_utility=None,
    max_new_tokens: int = 32,
    temperature: float = 1.0,
    seed: int = 0,
    batch_size: int = 64,
    *,
    generator: torch.Generator | None = None,
    stop_at_eos: bool = True,
    forward_temperature: float | None = None,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> SampleEvaluation:
    """Sample one response per prompt from ``policy`` and measure it.

    ``reward`` is ``reward(prompts, responses)`` or an object with ``.score``, called once per
    batch of ``batch_size`` prompts; ``true_utility`` an optional ``utility(prompt, response)``.
    The KL of each response is ``log pi(y|x) - log pi_ref(y|x)`` (both with logits divided by
    ``forward_temperature``, by default the sampling ``temperature``), whose mean estimates
    ``KL(pi || pi_ref)``.

    The PPO trainer's ``evaluate`` calls this with its own settings: a ``generator`` (instead of
    one seeded with ``seed``), ``stop_at_eos``, the forward temperature and its ``autocast``
    (bf16 on a GPU).
    """
    pad, eos = check_pad_token(tokenizer)
    check_int("batch_size", batch_size)
    prompts = check_prompts(prompts)
    score_fn = reward.score if hasattr(reward, "score") else reward
    device = next(policy.parameters()).device
    context = int(getattr(policy.config, "n_positions", 1024))
    if generator is None:
        generator = torch.Generator().manual_seed(check_seed(seed))
    if forward_temperature is None:
        forward_temperature = temperature
    responses: list[str] = []
    scores: list[float] = []
    kls: list[float] = []
    contains_eos: list[bool] = []
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start : start + batch_size]
        batch = encode_prompts(tokenizer, chunk, max_new_tokens, context, device)
        with autocast():
            response_ids = sample_responses(
                policy, batch, max_new_tokens, temperature, eos, pad, generator, stop_at_eos
            )
        mask = response_mask_from_tokens(response_ids, eos, stop_at_eos)
        ids = torch.cat([batch.input_ids, response_ids], 1)
        attention = torch.cat([batch.attention_mask, mask], 1)
        n = response_ids.shape[1]
        with autocast():
            logits = response_logits_and_hidden(policy, ids, attention, n, forward_temperature)[0]
            ref_logits = response_logits_and_hidden(
                ref_policy, ids, attention, n, forward_temperature
            )[0]
        lp = logprobs_from_logits(logits, response_ids)
        ref_lp = logprobs_from_logits(ref_logits, response_ids)
        kls += ((lp - ref_lp) * mask).sum(1).tolist()
        texts = decode_responses(tokenizer, response_ids, mask)
        responses += texts
        scores += check_scores(score_fn(chunk, texts), len(chunk)).tolist()
        contains_eos += (response_ids == eos).any(dim=1).tolist()
    utilities = None
    if true_utility is not None:
        utilities = [float(true_utility(p, r)) for p, r in zip(prompts, responses)]
    return SampleEvaluation(prompts, responses, scores, utilities, kls, contains_eos)
