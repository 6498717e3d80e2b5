"""Graded tests of module 09 (preferences and reward models): exercises 9.1-9.4."""

import math

import numpy as np
import pytest
import torch

from rlhf_edu.rlhf.preferences import bayes_optimal_accuracy as reference_bayes_optimal_accuracy
from rlhf_edu.rlhf.preferences import ratings_to_pairs as reference_ratings_to_pairs
from rlhf_edu.rlhf.reward_model import bradley_terry_loss as reference_bradley_terry_loss
from rlhf_edu.rlhf.reward_model import pairwise_accuracy as reference_pairwise_accuracy


def randn(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> torch.Tensor:
    return torch.as_tensor(rng.normal(scale=scale, size=shape), dtype=torch.float32)


# 9.1 --------------------------------------------------------------------------------------------
@pytest.mark.graded(exercise="9.1", points=2)
def test_bradley_terry_loss_matches_reference_with_and_without_margin(solution, graded_rng):
    for _ in range(5):
        n = int(graded_rng.integers(1, 20))
        r_chosen, r_rejected = randn(graded_rng, n, scale=2), randn(graded_rng, n, scale=2)
        margin = float(graded_rng.uniform(0, 1))
        got = solution.bradley_terry_loss(r_chosen, r_rejected)
        torch.testing.assert_close(
            torch.as_tensor(got).float(), reference_bradley_terry_loss(r_chosen, r_rejected)
        )
        got = solution.bradley_terry_loss(r_chosen, r_rejected, margin=margin)
        torch.testing.assert_close(
            torch.as_tensor(got).float(),
            reference_bradley_terry_loss(r_chosen, r_rejected, margin=margin),
        )


@pytest.mark.graded(exercise="9.1", points=1)
def test_bradley_terry_loss_is_finite_for_large_gaps_and_has_the_right_gradient(
    solution, graded_rng
):
    gap = float(graded_rng.uniform(150, 300))
    loss = solution.bradley_terry_loss(torch.tensor([-gap]), torch.tensor([gap]))
    assert math.isfinite(float(loss)) and float(loss) == pytest.approx(2 * gap, rel=1e-4), (
        "use a numerically stable form, e.g. torch.nn.functional.logsigmoid"
    )
    r_chosen = randn(graded_rng, 4).requires_grad_()
    r_rejected = randn(graded_rng, 4)
    solution.bradley_terry_loss(r_chosen, r_rejected).backward()
    want = -(1 - torch.sigmoid(r_chosen.detach() - r_rejected)) / 4  # d loss / d r_chosen
    torch.testing.assert_close(r_chosen.grad, want, atol=1e-5, rtol=1e-4)


# 9.2 --------------------------------------------------------------------------------------------
@pytest.mark.graded(exercise="9.2", points=1)
def test_pairwise_accuracy_matches_reference(solution, graded_rng):
    for _ in range(5):
        n = int(graded_rng.integers(1, 50))
        r_chosen, r_rejected = randn(graded_rng, n), randn(graded_rng, n)
        got = float(solution.pairwise_accuracy(r_chosen, r_rejected))
        assert got == pytest.approx(reference_pairwise_accuracy(r_chosen, r_rejected))


@pytest.mark.graded(exercise="9.2", points=1)
def test_pairwise_accuracy_counts_a_tie_as_one_half(solution, graded_rng):
    n = int(graded_rng.integers(2, 10))
    r = randn(graded_rng, n)
    assert float(solution.pairwise_accuracy(r, r.clone())) == pytest.approx(0.5)
    assert float(solution.pairwise_accuracy(r + 1, r)) == pytest.approx(1.0)


# 9.3 --------------------------------------------------------------------------------------------
@pytest.mark.graded(exercise="9.3", points=1)
def test_bayes_optimal_accuracy_matches_reference(solution, graded_rng):
    for _ in range(5):
        gaps = graded_rng.normal(scale=2.0, size=int(graded_rng.integers(1, 100)))
        temperature = float(graded_rng.uniform(0.1, 3.0))
        got = float(solution.bayes_optimal_accuracy(gaps, temperature))
        assert got == pytest.approx(reference_bayes_optimal_accuracy(gaps, temperature), abs=1e-9)


@pytest.mark.graded(exercise="9.3", points=1)
def test_bayes_optimal_accuracy_equals_the_best_predictors_simulated_accuracy(solution, graded_rng):
    gaps = graded_rng.normal(scale=1.0, size=200)
    temperature = float(graded_rng.uniform(0.3, 1.0))
    p_a = 1 / (1 + np.exp(-gaps / temperature))
    labels_a = graded_rng.random((2000, gaps.size)) < p_a  # 2000 noisy labelings of the pairs
    simulated = np.mean(labels_a == (gaps > 0))
    assert float(solution.bayes_optimal_accuracy(gaps, temperature)) == pytest.approx(
        simulated, abs=0.005
    )
    assert float(solution.bayes_optimal_accuracy(np.zeros(3), temperature)) == pytest.approx(0.5)


# 9.4 --------------------------------------------------------------------------------------------
def random_ratings(rng: np.random.Generator):
    prompts = ["Review of the hotel:", "Thoughts on the gym:", "My visit to the bakery:"]
    n = int(rng.integers(3, 12))
    chosen_prompts = [prompts[int(i)] for i in rng.integers(0, 3, size=n)]
    responses = [f" Response number {k}." for k in range(n)]
    stars = [int(s) for s in rng.integers(1, 6, size=n)]
    return chosen_prompts, responses, stars


@pytest.mark.graded(exercise="9.4", points=2)
def test_ratings_to_pairs_matches_reference(solution, graded_rng):
    for _ in range(5):
        prompts, responses, stars = random_ratings(graded_rng)
        got = solution.ratings_to_pairs(prompts, responses, stars)
        want = reference_ratings_to_pairs(prompts, responses, stars)
        assert [(p.prompt, p.chosen, p.rejected) for p in got] == [
            (p.prompt, p.chosen, p.rejected) for p in want
        ], "one pair per two differently-rated responses to the same prompt, in input order"


@pytest.mark.graded(exercise="9.4", points=1)
def test_ratings_to_pairs_drops_ties_and_never_mixes_prompts(solution, graded_rng):
    stars = int(graded_rng.integers(1, 6))
    same = solution.ratings_to_pairs(["Review of the gym:"] * 2, [" A.", " B."], [stars, stars])
    assert list(same) == [], "two responses with the same stars give no pair"
    mixed = solution.ratings_to_pairs(
        ["Review of the gym:", "Review of the hotel:"], [" A.", " B."], [5, 1]
    )
    assert list(mixed) == [], "responses to different prompts are never compared"
    one = solution.ratings_to_pairs(["Review of the gym:"] * 2, [" A.", " B."], [1, 4])
    assert [(p.chosen, p.rejected) for p in one] == [(" B.", " A.")]
