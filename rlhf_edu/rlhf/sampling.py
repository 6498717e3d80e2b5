"""The autoregressive sampling loop, written plainly (module 08's exercise 8.8).

``rlhf_edu.rlhf.generation.sample_responses`` is the fast version the trainers use (a KV cache,
left-padded prompts of different lengths). ``sample_tokens`` is the same idea without either: one
full forward pass per new token over prompts of equal length, drawing each token from
``next_token_distribution(logits, temperature, top_k)`` with ``torch.multinomial`` and keeping the
log-probability of the draw under that distribution (what PPO calls the old, or behaviour,
log-probability). ``top_p_distribution`` is the other common truncation, nucleus sampling
(module 08's exercise 8.9).
"""

from __future__ import annotations

import torch

from rlhf_edu.rlhf.generation import next_token_distribution
from rlhf_edu.utils.validation import check_int


@torch.no_grad()
def sample_tokens(
    model,
    prompt_ids: torch.Tensor,
    max_new_tokens: int,
    temperature: float,
    top_k: int | None,
    eos_token_id: int,
    pad_token_id: int,
    seed: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample a response for every prompt row: ``(response_ids, logprobs)``, each ``(B, T)``.

    ``generator = torch.Generator().manual_seed(seed)``; at every step, for every row (finished
    or not): ``probs = next_token_distribution(model(ids).logits[:, -1], temperature, top_k)``,
    ``token = torch.multinomial(probs, 1, generator=generator)``, its log-probability
    ``log probs[token]``. A row that has emitted EOS gets ``pad_token_id`` and log-probability 0
    from then on; the loop stops when every row has finished or after ``max_new_tokens`` steps,
    so ``T <= max_new_tokens``.

    Args:
        model: a causal LM, ``model(ids).logits`` of shape (B, L, V).
        prompt_ids: (B, P) token ids, every row a real prompt of the same length (no padding).
    """
    if prompt_ids.ndim != 2 or prompt_ids.shape[1] < 1:
        raise ValueError(f"prompt_ids must be (B, P) with P >= 1, got {tuple(prompt_ids.shape)}")
    max_new_tokens = check_int("max_new_tokens", max_new_tokens)
    generator = torch.Generator().manual_seed(int(seed))
    ids = prompt_ids
    finished = torch.zeros(prompt_ids.shape[0], dtype=torch.bool)
    tokens, logprobs = [], []
    for _ in range(max_new_tokens):
        probs = next_token_distribution(model(ids).logits[:, -1], temperature, top_k)
        token = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        logprob = torch.log(probs.gather(1, token[:, None]).squeeze(1))
        tokens.append(token.masked_fill(finished, pad_token_id))
        logprobs.append(logprob.masked_fill(finished, 0.0))
        finished = finished | (tokens[-1] == eos_token_id)
        if bool(finished.all()):
            break
        ids = torch.cat([ids, tokens[-1][:, None]], dim=1)
    return torch.stack(tokens, dim=1), torch.stack(logprobs, dim=1)


def top_p_distribution(logits: torch.Tensor, temperature: float, top_p: float) -> torch.Tensor:
    """Nucleus sampling's distribution (Holtzman et al. 2020): ``softmax(logits / temperature)``
    restricted to the smallest set of most probable tokens whose total probability reaches
    ``top_p``, renormalised: ``(..., V) -> (..., V)``.

    A token is kept when the probability of the tokens ranked strictly above it is below
    ``top_p``, so the most probable token is always kept and ``top_p = 1`` keeps every token.
    Tokens of equal probability are ranked by ``torch.sort(..., descending=True, stable=True)``.
    """
    if not 0.0 < float(top_p) <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
    probs = next_token_distribution(logits, temperature)
    sorted_probs, order = torch.sort(probs, dim=-1, descending=True, stable=True)
    mass_above = sorted_probs.cumsum(dim=-1) - sorted_probs
    kept_sorted = sorted_probs.masked_fill(mass_above >= top_p, 0.0)
    kept = torch.zeros_like(probs).scatter(-1, order, kept_sorted)
    return kept / kept.sum(dim=-1, keepdim=True)
