"""Synthetic annotators: every feedback form follows its stated noise model."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from rlhf_edu.rlhf.feedback import (
    Annotator,
    Comment,
    annotator_pool,
    cohen_kappa,
    dawid_skene,
    majority_vote,
)
from rlhf_edu.rlhf.preferences import mix_utility, sample_response_pairs, sigmoid

PROMPT = "Review of the hotel:"
GOOD = " The room was clean. The staff was friendly. I loved the pool."
BAD = " The room was dirty. The staff was rude. The breakfast was cold."


def frequencies(draw, n: int, k: int) -> np.ndarray:
    return np.bincount([draw() for _ in range(n)], minlength=k) / n


def test_thumbs_and_pairs_follow_their_logistic_models():
    annotator = Annotator(temperature=0.5, bias=0.1)
    rng = np.random.default_rng(0)
    u = mix_utility(PROMPT, BAD)
    p_up = sigmoid((u + 0.1 - annotator.thumbs_threshold) / 0.5)
    assert frequencies(lambda: annotator.thumbs(PROMPT, BAD, rng), 20000, 2)[1] == pytest.approx(
        p_up, abs=0.015
    )
    p_good = sigmoid((mix_utility(PROMPT, GOOD) - u) / 0.5)
    wins = np.mean([annotator.compare(PROMPT, GOOD, BAD, rng) for _ in range(20000)])
    assert wins == pytest.approx(p_good, abs=0.015)


def test_stars_follow_the_ordinal_logit_model_and_a_lenient_annotator_rates_higher():
    rng = np.random.default_rng(1)
    annotator = Annotator(temperature=0.4)
    expected = annotator.star_probabilities(PROMPT, BAD)
    observed = frequencies(lambda: annotator.stars(PROMPT, BAD, rng) - 1, 20000, 5)
    np.testing.assert_allclose(observed, expected, atol=0.015)
    assert expected.sum() == pytest.approx(1.0)
    lenient = Annotator(temperature=0.4, bias=0.5)
    mean = lambda a: float(np.arange(1, 6) @ a.star_probabilities(PROMPT, BAD))  # noqa: E731
    assert mean(lenient) > mean(annotator) + 0.5


def test_rankings_are_plackett_luce_draws():
    responses = [GOOD, BAD, " The room was okay."]
    annotator = Annotator(temperature=0.5)
    rng = np.random.default_rng(2)
    scores = np.array([mix_utility(PROMPT, r) for r in responses]) / 0.5
    draws = [tuple(annotator.rank(PROMPT, responses, rng)) for _ in range(20000)]
    for order in itertools.permutations(range(3)):
        s = scores[list(order)]
        p = math.prod(math.exp(s[i]) / np.exp(s[i:]).sum() for i in range(3))
        assert draws.count(order) / len(draws) == pytest.approx(p, abs=0.015)


def test_comments_name_the_aspect_that_costs_most_and_how_to_fix_it():
    rng = np.random.default_rng(3)
    careful = Annotator(temperature=0.01)
    comment = careful.comment(PROMPT, BAD, rng)
    assert (comment.aspect, comment.direction) == ("sentiment", "more_positive")
    assert comment.text == "too negative about the room"
    long_good = (
        " The room was clean. I loved the pool. The bed was lovely. The staff was great."
        " The lobby was fresh. I enjoyed the breakfast. The service was perfect. I liked it."
        " The price was good. The wait was short."
    )
    assert careful.comment(PROMPT, long_good, rng) == Comment("length", "shorter", "too long")
    repeated = " The room was clean. The room was clean. The room was clean. The pool was great."
    assert careful.comment(PROMPT, repeated, rng).aspect == "repetition"
    assert careful.comment(PROMPT, " The bed was great.", rng).text == "could be more positive"


def test_an_edit_is_a_small_change_that_raises_the_utility():
    rng = np.random.default_rng(4)
    annotator = Annotator()
    edited = annotator.edit(PROMPT, BAD, rng)
    assert mix_utility(PROMPT, edited) > mix_utility(PROMPT, BAD)
    assert len(set(edited.split()) ^ set(BAD.split())) <= 2  # one word swapped
    perfect = annotator.edit(PROMPT, edited, rng)
    assert mix_utility(PROMPT, perfect) >= mix_utility(PROMPT, edited)


def test_a_spammer_answers_at_random_whatever_the_response():
    spammer = Annotator(spam_rate=1.0)
    rng = np.random.default_rng(5)
    assert np.mean([spammer.thumbs(PROMPT, GOOD, rng) for _ in range(4000)]) == pytest.approx(
        0.5, abs=0.03
    )
    stars = frequencies(lambda: spammer.stars(PROMPT, GOOD, rng) - 1, 5000, 5)
    np.testing.assert_allclose(stars, 0.2, atol=0.025)


def test_implicit_signals_rise_with_the_utility():
    annotator = Annotator()
    rng = np.random.default_rng(6)
    clicks = [np.mean([annotator.click(PROMPT, r, rng) for _ in range(3000)]) for r in (BAD, GOOD)]
    dwell = [np.median([annotator.dwell(PROMPT, r, rng) for _ in range(3000)]) for r in (BAD, GOOD)]
    assert clicks[1] > clicks[0] + 0.2 and dwell[1] > 1.5 * dwell[0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_in_a_pool_with_unreliable_annotators_dawid_skene_beats_majority_vote(seed):
    pool = annotator_pool(n_reliable=3, n_unreliable=4, seed=seed)
    triples = sample_response_pairs(1500, seed)
    rng = np.random.default_rng(seed)
    labels = np.array([[int(a.compare(p, x, y, rng)) for a in pool] for p, x, y in triples])
    truth = np.array([int(mix_utility(p, x) > mix_utility(p, y)) for p, x, y in triples])
    posterior, _ = dawid_skene(labels, 2)
    em, majority = np.mean(posterior.argmax(1) == truth), np.mean(majority_vote(labels, 2) == truth)
    assert em > majority + 0.03, (em, majority)
    # reliable annotators agree with each other far more than with an unreliable one
    assert cohen_kappa(labels[:, 0], labels[:, 1]) > cohen_kappa(labels[:, 0], labels[:, 3]) + 0.2


def test_bad_annotator_settings_are_errors_naming_the_field():
    with pytest.raises(ValueError, match="spam_rate"):
        Annotator(spam_rate=1.5)
    with pytest.raises(ValueError, match="temperature"):
        Annotator(temperature=0.0)
    with pytest.raises(ValueError, match="star_edges must be 4 increasing"):
        Annotator(star_edges=(0.0, -1.0, 1.0, 2.0))
    with pytest.raises(ValueError, match="at least 2 responses"):
        Annotator().rank(PROMPT, [GOOD], np.random.default_rng(0))
