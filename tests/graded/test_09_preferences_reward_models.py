"""Graded tests of module 09 (preferences and reward models): exercises 9.1-9.6."""

import functools
import math

import numpy as np
import pytest
import torch

from rlhf_edu.rlhf.preferences import bayes_optimal_accuracy as reference_bayes_optimal_accuracy
from rlhf_edu.rlhf.preferences import ratings_to_pairs as reference_ratings_to_pairs
from rlhf_edu.rlhf.reward_model import BagOfWordsRewardModel
from rlhf_edu.rlhf.reward_model import accuracy_vs_pairs as reference_accuracy_vs_pairs
from rlhf_edu.rlhf.reward_model import bradley_terry_loss as reference_bradley_terry_loss
from rlhf_edu.rlhf.reward_model import pairwise_accuracy as reference_pairwise_accuracy
from rlhf_edu.rlhf.reward_model import reward_model_step as reference_reward_model_step


def randn(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> torch.Tensor:
    return torch.as_tensor(rng.normal(scale=scale, size=shape), dtype=torch.float32)


# 9.3 --------------------------------------------------------------------------------------------
@pytest.mark.graded(exercise="9.3", points=2)
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


@pytest.mark.graded(exercise="9.3", points=1)
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


# 9.4 --------------------------------------------------------------------------------------------
@pytest.mark.graded(exercise="9.4", points=1)
def test_pairwise_accuracy_matches_reference(solution, graded_rng):
    for _ in range(5):
        n = int(graded_rng.integers(1, 50))
        r_chosen, r_rejected = randn(graded_rng, n), randn(graded_rng, n)
        got = float(solution.pairwise_accuracy(r_chosen, r_rejected))
        assert got == pytest.approx(reference_pairwise_accuracy(r_chosen, r_rejected))


@pytest.mark.graded(exercise="9.4", points=1)
def test_pairwise_accuracy_counts_a_tie_as_one_half(solution, graded_rng):
    n = int(graded_rng.integers(2, 10))
    r = randn(graded_rng, n)
    assert float(solution.pairwise_accuracy(r, r.clone())) == pytest.approx(0.5)
    assert float(solution.pairwise_accuracy(r + 1, r)) == pytest.approx(1.0)


# 9.1 --------------------------------------------------------------------------------------------
@pytest.mark.graded(exercise="9.1", points=1)
def test_bayes_optimal_accuracy_matches_reference(solution, graded_rng):
    for _ in range(5):
        gaps = graded_rng.normal(scale=2.0, size=int(graded_rng.integers(1, 100)))
        temperature = float(graded_rng.uniform(0.1, 3.0))
        got = float(solution.bayes_optimal_accuracy(gaps, temperature))
        assert got == pytest.approx(reference_bayes_optimal_accuracy(gaps, temperature), abs=1e-9)


@pytest.mark.graded(exercise="9.1", points=1)
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


# 9.2 --------------------------------------------------------------------------------------------
def random_ratings(rng: np.random.Generator):
    prompts = ["Review of the hotel:", "Thoughts on the gym:", "My visit to the bakery:"]
    n = int(rng.integers(3, 12))
    chosen_prompts = [prompts[int(i)] for i in rng.integers(0, 3, size=n)]
    responses = [f" Response number {k}." for k in range(n)]
    stars = [int(s) for s in rng.integers(1, 6, size=n)]
    return chosen_prompts, responses, stars


@pytest.mark.graded(exercise="9.2", points=2)
def test_ratings_to_pairs_matches_reference(solution, graded_rng):
    for _ in range(5):
        prompts, responses, stars = random_ratings(graded_rng)
        got = solution.ratings_to_pairs(prompts, responses, stars)
        want = reference_ratings_to_pairs(prompts, responses, stars)
        assert [(p.prompt, p.chosen, p.rejected) for p in got] == [
            (p.prompt, p.chosen, p.rejected) for p in want
        ], "one pair per two differently-rated responses to the same prompt, in input order"


@pytest.mark.graded(exercise="9.2", points=1)
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


# 9.5 --------------------------------------------------------------------------------------------
VOCAB = 40


def random_pair_batch(rng: np.random.Generator, n: int, width: int = 7) -> dict:
    """n pairs of right-padded token rows (at least one real token each), one width for all."""
    batch = {}
    for side in ("chosen", "rejected"):
        lengths = rng.integers(1, width + 1, size=n)
        ids = torch.as_tensor(rng.integers(1, VOCAB, size=(n, width)))
        mask = torch.as_tensor((np.arange(width)[None, :] < lengths[:, None]).astype(np.int64))
        batch[f"{side}_ids"], batch[f"{side}_mask"] = ids * mask, mask
    return batch


def bag_of_words_and_adam(seed: int, lr: float = 0.05):
    torch.manual_seed(seed)
    model = BagOfWordsRewardModel(VOCAB, dim=4, hidden=8)
    return model, torch.optim.Adam(model.parameters(), lr=lr)


@pytest.mark.graded(exercise="9.5", points=2)
def test_reward_model_step_returns_the_batchs_loss_and_accuracy_before_the_step(
    solution, graded_rng
):
    for trial in range(4):
        seed = int(graded_rng.integers(0, 10_000))
        batch = random_pair_batch(graded_rng, int(graded_rng.integers(2, 12)))
        margin = float(graded_rng.uniform(0, 1)) if trial % 2 else 0.0
        max_grad_norm = None if trial == 3 else float(graded_rng.uniform(0.1, 2.0))
        got = solution.reward_model_step(
            *bag_of_words_and_adam(seed), batch, margin=margin, max_grad_norm=max_grad_norm
        )
        want = reference_reward_model_step(
            *bag_of_words_and_adam(seed), batch, margin=margin, max_grad_norm=max_grad_norm
        )
        assert set(got) >= {"loss", "accuracy"}, 'return {"loss": ..., "accuracy": ...}'
        assert float(got["loss"]) == pytest.approx(want["loss"], rel=1e-5, abs=1e-6), (
            "the Bradley-Terry loss of this batch, measured before the optimizer step "
            "(with the margin)"
        )
        assert float(got["accuracy"]) == pytest.approx(want["accuracy"]), (
            "the pairwise accuracy of this batch, measured before the optimizer step"
        )


@pytest.mark.graded(exercise="9.5", points=1)
def test_reward_model_step_keeps_chosen_and_rejected_apart(solution, graded_rng):
    n = int(graded_rng.integers(3, 9))
    batch = random_pair_batch(graded_rng, n)
    swapped = {
        "chosen_ids": batch["rejected_ids"],
        "chosen_mask": batch["rejected_mask"],
        "rejected_ids": batch["chosen_ids"],
        "rejected_mask": batch["chosen_mask"],
    }
    seed = int(graded_rng.integers(0, 10_000))
    model, _ = bag_of_words_and_adam(seed)
    with torch.no_grad():
        r_c = model(batch["chosen_ids"], batch["chosen_mask"])
        r_r = model(batch["rejected_ids"], batch["rejected_mask"])
    got = solution.reward_model_step(*bag_of_words_and_adam(seed), batch)
    got_swapped = solution.reward_model_step(*bag_of_words_and_adam(seed), swapped)
    assert float(got["accuracy"]) + float(got_swapped["accuracy"]) == pytest.approx(1.0), (
        "swapping chosen and rejected must turn accuracy a into 1 - a: are the chosen rows the "
        "first half of the rewards?"
    )
    assert float(got["loss"]) == pytest.approx(
        float(reference_bradley_terry_loss(r_c, r_r)), rel=1e-5
    )


@pytest.mark.graded(exercise="9.5", points=1)
def test_reward_model_step_loss_is_finite_when_the_model_is_badly_wrong(solution, graded_rng):
    n = int(graded_rng.integers(2, 6))
    batch = random_pair_batch(graded_rng, n)
    model, optimizer = bag_of_words_and_adam(0)
    with torch.no_grad():
        model.mlp[-1].weight.mul_(1e4)  # huge rewards: a pair ranked wrong costs thousands
        model.mlp[-1].bias.zero_()
        r_c = model(batch["chosen_ids"], batch["chosen_mask"])
        r_r = model(batch["rejected_ids"], batch["rejected_mask"])
    got = solution.reward_model_step(model, optimizer, batch)
    want = float(reference_bradley_terry_loss(r_c, r_r))
    assert math.isfinite(float(got["loss"])) and float(got["loss"]) == pytest.approx(
        want, rel=1e-4
    ), "the loss must stay finite for large reward gaps (use your stable bradley_terry_loss)"


# 9.6 --------------------------------------------------------------------------------------------
# a partial of a library class: it pickles by reference into the grading sandbox
make_small_bag_of_words = functools.partial(BagOfWordsRewardModel, VOCAB, dim=4, hidden=8)


def learnable_pairs(rng: np.random.Generator, n: int) -> dict:
    """Pairs whose chosen row has more of the 'good' tokens (ids < 10), so a model can learn."""
    batch = random_pair_batch(rng, n)
    good = (batch["chosen_ids"] < 10) & (batch["chosen_mask"] > 0)
    bad = (batch["rejected_ids"] < 10) & (batch["rejected_mask"] > 0)
    flip = good.sum(1) < bad.sum(1)
    for key in ("ids", "mask"):
        c, r = batch[f"chosen_{key}"].clone(), batch[f"rejected_{key}"].clone()
        batch[f"chosen_{key}"] = torch.where(flip[:, None], r, c)
        batch[f"rejected_{key}"] = torch.where(flip[:, None], c, r)
    return batch


@pytest.mark.graded(exercise="9.6", points=3)
def test_accuracy_vs_pairs_matches_the_reference_seeded_run(solution, graded_rng):
    train, evaluation = learnable_pairs(graded_rng, 200), learnable_pairs(graded_rng, 100)
    sizes = sorted(int(k) for k in graded_rng.choice(np.arange(10, 200), size=3, replace=False))
    seeds = [int(s) for s in graded_rng.integers(0, 1000, size=2)]
    kwargs = {"epochs": 2, "lr": 0.05, "batch_size": 16}
    got = np.asarray(
        solution.accuracy_vs_pairs(
            make_small_bag_of_words, train, evaluation, sizes, seeds, **kwargs
        )
    )
    want = reference_accuracy_vs_pairs(
        make_small_bag_of_words, train, evaluation, sizes, seeds, **kwargs
    )
    assert got.shape == (len(seeds), len(sizes)), "one row per seed, one column per size"
    np.testing.assert_allclose(
        got,
        want,
        atol=1e-6,
        err_msg="a seeded run must match the reference: permutation from "
        "np.random.default_rng(seed), torch.manual_seed(seed) before make_model(), Adam(lr), "
        "epochs over order[:k] in order, batches of batch_size, your reward_model_step (9.5) "
        "per batch with its defaults",
    )


@pytest.mark.graded(exercise="9.6", points=2)
def test_each_size_trains_a_fresh_model_not_one_training_log(solution, graded_rng):
    train, evaluation = learnable_pairs(graded_rng, 160), learnable_pairs(graded_rng, 80)
    small, large = int(graded_rng.integers(16, 48)), int(graded_rng.integers(100, 160))
    seed = int(graded_rng.integers(0, 1000))
    kwargs = {"epochs": 2, "lr": 0.05, "batch_size": 16}
    both = np.asarray(
        solution.accuracy_vs_pairs(
            make_small_bag_of_words, train, evaluation, [small, large], [seed], **kwargs
        )
    )
    alone = np.asarray(
        solution.accuracy_vs_pairs(
            make_small_bag_of_words, train, evaluation, [large], [seed], **kwargs
        )
    )
    assert both[0, 1] == pytest.approx(alone[0, 0], abs=1e-9), (
        "the model for the larger subset must not depend on the smaller one: build a fresh model "
        "(and optimizer) per size, after torch.manual_seed(seed), instead of continuing training"
    )
    repeated = np.asarray(
        solution.accuracy_vs_pairs(
            make_small_bag_of_words, train, evaluation, [large], [seed, seed], **kwargs
        )
    )
    assert repeated[0, 0] == pytest.approx(repeated[1, 0], abs=1e-9), (
        "the same seed must give the same result: seed the permutation and the model from it"
    )
