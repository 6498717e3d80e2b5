"""A tiny random GPT-2 and tokenizer for the PPO, DPO and best-of-n tests (no cached build)."""

from __future__ import annotations

import functools

import torch
from transformers import GPT2LMHeadModel

from rlhf_edu.rlhf.corpus import generate_corpus
from rlhf_edu.rlhf.lm import tiny_gpt2_config, train_tokenizer

PROMPTS = [
    "Review of the pizza place:",
    "My visit to the hotel:",
    "Thoughts on the bakery:",
    "Review of the gym:",
    "A",
    "Thoughts on the sushi bar, which we visited twice last week:",
]


@functools.lru_cache(maxsize=1)
def tiny_tokenizer():
    """A byte-level BPE tokenizer (300 tokens) with pad distinct from EOS."""
    return train_tokenizer(generate_corpus(300, seed=0), vocab_size=300)


def tiny_policy(seed: int = 0, dropout: float = 0.0, n_positions: int = 64) -> GPT2LMHeadModel:
    """A random-init 1-layer, 32-wide GPT-2 over ``tiny_tokenizer``'s vocabulary."""
    tokenizer = tiny_tokenizer()
    config = tiny_gpt2_config(tokenizer, n_layer=1, n_embd=32, n_head=2, n_positions=n_positions)
    config.resid_pdrop = config.embd_pdrop = config.attn_pdrop = dropout
    torch.manual_seed(seed)
    return GPT2LMHeadModel(config).eval()


def letter_reward(prompts: list[str], responses: list[str]) -> torch.Tensor:
    """A toy reward: the fraction of the response's characters that are the letter 'e'."""
    return torch.tensor([r.count("e") / max(len(r), 1) * 10 for r in responses])
