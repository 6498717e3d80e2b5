"""Best-of-n sampling and the sampling/scoring helper used to compare PPO, DPO and best-of-n."""

from __future__ import annotations

import math

import pytest
import torch
from helpers.tiny_gpt2 import PROMPTS, letter_reward, tiny_policy, tiny_tokenizer

from rlhf_edu.rlhf.best_of_n import best_of_n, best_of_n_kl
from rlhf_edu.rlhf.generation import sample_and_score


def test_best_of_n_kl_closed_form():
    assert best_of_n_kl(1) == 0.0
    assert best_of_n_kl(4) == pytest.approx(math.log(4) - 0.75)
    with pytest.raises(ValueError, match="n must be"):
        best_of_n_kl(0)


def test_best_of_n_keeps_the_highest_scoring_candidate():
    result = best_of_n(
        tiny_policy(), tiny_tokenizer(), PROMPTS, letter_reward, n=4, max_new_tokens=8
    )
    assert len(result.responses) == len(PROMPTS)
    for response, score, candidates, scores in zip(
        result.responses, result.scores, result.candidates, result.candidate_scores
    ):
        assert len(candidates) == 4
        assert score == max(scores)
        assert response == candidates[scores.index(score)]


def test_best_of_n_score_grows_with_n_and_is_seeded():
    policy, tok = tiny_policy(), tiny_tokenizer()
    prompts = PROMPTS * 4
    one = best_of_n(policy, tok, prompts, letter_reward, n=1, max_new_tokens=8, seed=1)
    eight = best_of_n(policy, tok, prompts, letter_reward, n=8, max_new_tokens=8, seed=1)
    assert sum(eight.scores) > sum(one.scores)
    again = best_of_n(policy, tok, prompts, letter_reward, n=8, max_new_tokens=8, seed=1)
    assert again.responses == eight.responses


def test_best_of_n_rejects_bad_inputs():
    with pytest.raises(ValueError, match="n must be"):
        best_of_n(tiny_policy(), tiny_tokenizer(), PROMPTS, letter_reward, n=0)
    with pytest.raises(ValueError, match="prompts is empty"):
        best_of_n(tiny_policy(), tiny_tokenizer(), [], letter_reward, n=2)


def test_sample_and_score_reports_zero_kl_for_the_reference_itself():
    policy = tiny_policy()
    out = sample_and_score(
        policy,
        policy,
        tiny_tokenizer(),
        PROMPTS,
        letter_reward,
        lambda p, r: len(r),
        max_new_tokens=6,
    )
    assert out.kl == 0.0
    assert len(out.responses) == len(PROMPTS) and out.true_utility is not None
    with torch.no_grad():
        other = tiny_policy(seed=1)
    kl = sample_and_score(
        other, policy, tiny_tokenizer(), PROMPTS, letter_reward, max_new_tokens=6
    ).kl
    assert kl != 0.0


def test_best_of_n_pick_keeps_the_first_best_and_best_of_n_uses_the_pick_it_is_given():
    from rlhf_edu.rlhf.best_of_n import best_of_n_pick

    responses, scores = best_of_n_pick([["a", "b", "c"]], torch.tensor([[1.0, 2.0, 2.0]]))
    assert responses == ["b"] and scores == [2.0]
    with pytest.raises(ValueError, match="scores"):
        best_of_n_pick([["a"]], torch.zeros(2, 1))

    def pick_last(candidates, scores):
        return [row[-1] for row in candidates], [float(s[-1]) for s in scores]

    result = best_of_n(
        tiny_policy(), tiny_tokenizer(), PROMPTS[:2], letter_reward, n=3, max_new_tokens=4,
        pick=pick_last,
    )  # fmt: skip
    assert result.responses == [c[-1] for c in result.candidates]


def test_best_of_n_distribution_matches_a_simulation_and_its_kl_stays_below_the_bound():
    import numpy as np

    from rlhf_edu.rlhf.best_of_n import best_of_n_distribution

    ref = np.array([0.5, 0.2, 0.2, 0.1])
    rewards = np.array([0.0, 3.0, 1.0, 2.0])
    np.testing.assert_allclose(best_of_n_distribution(ref, rewards, 1), ref)
    rng = np.random.default_rng(0)
    for n in (2, 5, 30):
        exact = best_of_n_distribution(ref, rewards, n)
        draws = rng.choice(4, p=ref, size=(50_000, n))
        winners = draws[np.arange(len(draws)), rewards[draws].argmax(1)]
        np.testing.assert_allclose(exact, np.bincount(winners, minlength=4) / len(draws), atol=0.01)
        kl = float(np.sum(exact[exact > 0] * np.log(exact[exact > 0] / ref[exact > 0])))
        assert kl <= best_of_n_kl(n)
    with pytest.raises(ValueError, match="distinct"):
        best_of_n_distribution(ref, np.zeros(4), 2)
