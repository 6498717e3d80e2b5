"""The generated corpus: seeded, varied, and made of the prompts the policy continues."""

import numpy as np
import pytest

from rlhf_edu.rlhf.corpus import (
    PROMPT_TEMPLATES,
    TOPICS,
    generate_corpus,
    sample_documents,
    sample_prompts,
    topic_of,
)
from rlhf_edu.rlhf.preferences import repetitions, sentiment_utility, words


def test_generate_corpus_is_reproducible_from_the_seed():
    assert generate_corpus(200, seed=3) == generate_corpus(200, seed=3)
    assert generate_corpus(200, seed=3) != generate_corpus(200, seed=4)


def test_documents_are_a_prompt_followed_by_a_response_starting_with_a_space():
    for prompt, response in sample_documents(300, seed=0):
        assert prompt.endswith(":") and topic_of(prompt) in TOPICS
        assert response.startswith(" ") and response.endswith(".")
    corpus = generate_corpus(50, seed=0)
    documents = sample_documents(50, seed=0)
    assert corpus == [p + r for p, r in documents]


def test_corpus_varies_in_sentiment_length_and_repetition():
    documents = sample_documents(2000, seed=0)
    sentiments = np.array([sentiment_utility(p, r) for p, r in documents])
    lengths = np.array([len(words(r)) for _, r in documents])
    repeated = np.array([repetitions(r) > 0 for _, r in documents])
    assert (sentiments > 0.3).mean() > 0.25 and (sentiments < -0.3).mean() > 0.25
    assert lengths.min() <= 6 and lengths.max() >= 35 and 15 < lengths.mean() < 30
    assert 0.08 < repeated.mean() < 0.3
    assert len({r for _, r in documents}) > 1900  # tens of thousands of distinct texts are possible


def test_sample_prompts_are_seeded_and_cover_every_topic():
    prompts = sample_prompts(400, seed=1)
    assert prompts == sample_prompts(400, seed=1)
    assert {topic_of(p) for p in prompts} == set(TOPICS)
    openings = {t.split("{")[0] for t in PROMPT_TEMPLATES}
    assert all(any(p.startswith(o) for o in openings) for p in prompts)


def test_bad_counts_and_prompts_are_rejected():
    with pytest.raises(ValueError, match="n must be an int >= 0"):
        generate_corpus(-1, seed=0)
    with pytest.raises(TypeError, match="n must be an int"):
        sample_prompts(2.5, seed=0)
    with pytest.raises(ValueError, match="not one of the corpus prompts"):
        topic_of("Tell me a joke:")
