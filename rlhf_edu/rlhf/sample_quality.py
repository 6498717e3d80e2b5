"""Sample quality without a reward: how varied and how long a policy's responses are.

A reward model (or a true utility) says how *good* responses are; it does not say whether the
policy still writes many different responses. RL against a reward tends to collapse onto a few
high-scoring phrasings (mode collapse), so the course reports diversity beside utility:

    distinct-n = |unique n-grams| / |n-grams|        over all responses together

(Li et al. 2016, "A Diversity-Promoting Objective Function for Neural Conversation Models",
NAACL), on lower-case words with punctuation dropped (``preferences.words``). 1.0 means no n-gram
is ever repeated; a policy that says the same sentence to every prompt goes towards 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rlhf_edu.rlhf.preferences import words
from rlhf_edu.utils.validation import check_int

__all__ = ["distinct_n", "mean_words", "sample_quality"]


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings, not a single string")
    texts = list(texts)
    if not texts:
        raise ValueError("texts is empty: no responses to measure")
    return texts


def distinct_n(texts: Sequence[str], n: int) -> float:
    """``|unique n-grams| / |n-grams|`` over the words of all ``texts`` (0.0 if none has n words)."""
    n = check_int("n", n)
    grams = [
        tuple(tokens[i : i + n])
        for tokens in map(words, _check_texts(texts))
        for i in range(len(tokens) - n + 1)
    ]
    return len(set(grams)) / len(grams) if grams else 0.0


def mean_words(texts: Sequence[str]) -> float:
    """The mean number of words per text."""
    return float(np.mean([len(words(t)) for t in _check_texts(texts)]))


def sample_quality(texts: Sequence[str]) -> dict[str, float]:
    """``{"distinct_1", "distinct_2", "mean_words"}`` of a set of responses."""
    return {
        "distinct_1": distinct_n(texts, 1),
        "distinct_2": distinct_n(texts, 2),
        "mean_words": mean_words(texts),
    }
