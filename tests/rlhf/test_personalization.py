"""Personalisation: a population with a minority, and reward models for everyone, per user and
conditioned on the user."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rlhf_edu.app import experiment_personalization as study
from rlhf_edu.app.cli import main
from rlhf_edu.data import (
    PERSONALIZATION_STUDY_PATH,
    load_personalization_study,
    write_personalization_study,
)
from rlhf_edu.rlhf.feedback.personalization import (
    conditioned_reward,
    critic_utility,
    default_population,
    fit_conditioned_reward_model,
    group_ceiling,
    label_pairs,
    per_group_accuracy,
    single_rm_optimum,
    steer_best_of_n,
)


def test_default_population_has_a_majority_and_a_minority_of_critics():
    population = default_population(n_users=10, minority_share=0.2)
    assert population.shares() == {"majority": 0.8, "minority": 0.2}
    assert population.members("minority") == [8, 9]
    with pytest.raises(ValueError, match="no group 'elves'"):
        population.members("elves")
    with pytest.raises(ValueError, match="minority_share"):
        default_population(minority_share=0.7)


def test_critics_prefer_short_negative_reviews():
    short_negative = " The staff were rude."
    long_positive = " The food was great and the staff were friendly." * 2
    assert critic_utility("", short_negative) > critic_utility("", long_positive)


def test_conditioned_model_learns_opposite_tastes_for_two_users():
    rng = np.random.default_rng(0)
    phi = torch.as_tensor(rng.normal(size=(400, 2, 3)), dtype=torch.float32)
    users = torch.tensor([0, 1] * 200)
    taste = torch.tensor([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]])
    utilities = (phi * taste[users][:, None, :]).sum(-1)  # (n, 2)
    chosen_first = utilities[:, 0] > utilities[:, 1]
    phi = torch.where(chosen_first[:, None, None], phi, phi.flip(1))
    model = fit_conditioned_reward_model(phi, users, n_users=2, seed=0)
    assert model(phi[:, 0], users).shape == (400,)
    probe = torch.tensor([[1.0, 0.0, 0.0]])
    assert model(probe, torch.tensor([0])) > model(torch.zeros(1, 3), torch.tensor([0]))
    assert model(probe, torch.tensor([1])) < model(torch.zeros(1, 3), torch.tensor([1]))
    with pytest.raises(ValueError, match="user ids must be in 0..1"):
        fit_conditioned_reward_model(phi, users + 1, n_users=2)


def test_group_ceiling_is_the_mean_bradley_terry_probability_of_the_better_answer():
    population = default_population()
    gaps = np.array([0.0, 0.4, -0.4])
    expected = np.mean([0.5, 1 / (1 + np.exp(-1.0)), 1 / (1 + np.exp(-1.0))])
    assert group_ceiling(population, "minority", gaps) == pytest.approx(expected)


def test_conditioned_reward_with_no_deviation_is_the_single_model():
    rng = np.random.default_rng(1)
    phi = torch.as_tensor(rng.normal(size=(5, 4)), dtype=torch.float32)
    weight, bias = torch.ones(4), torch.tensor(0.5)
    user = torch.tensor([0, 1, 2, 1, 0])
    single = phi @ weight + bias
    torch.testing.assert_close(
        conditioned_reward(phi, user, weight, bias, torch.zeros(3, 4)), single
    )
    deviation = torch.zeros(3, 4)
    deviation[1] = 1.0
    got = conditioned_reward(phi, user, weight, bias, deviation)
    torch.testing.assert_close(got, single + (user == 1) * phi.sum(-1))
    with pytest.raises(ValueError, match="phi must be"):
        conditioned_reward(phi, user[:3], weight, bias, deviation)


def test_per_group_accuracy_scores_each_group_on_its_own_pairs():
    margins = np.array([1.0, -1.0, 0.0, 2.0, -3.0])
    labels = np.array([True, True, False, False, False])
    groups = ["b", "a", "b", "a", "a"]
    assert per_group_accuracy(margins, labels, groups) == {"b": 1.0, "a": pytest.approx(1 / 3)}
    with pytest.raises(ValueError, match="must be \\(n,\\) alike"):
        per_group_accuracy(margins, labels[:4], groups)


def test_single_models_optimum_is_the_utility_mixture_for_small_gaps():
    rng = np.random.default_rng(0)
    utilities = 0.05 * rng.normal(size=(2, 8))
    r_star, mixture = single_rm_optimum(utilities, np.array([0.8, 0.2]), temperature=0.4)
    assert np.abs(r_star - mixture).max() < 0.01 * np.abs(mixture).max()
    # with the population's real gaps it still ranks like the majority, against the minority
    big_r, _ = single_rm_optimum(20 * utilities, np.array([0.8, 0.2]), temperature=0.4)
    assert np.corrcoef(big_r, utilities[0])[0, 1] > 0.9
    with pytest.raises(ValueError, match="shares"):
        single_rm_optimum(utilities, np.array([0.5, 0.6]), 0.4)


def test_steer_best_of_n_picks_each_users_favourite():
    phi = torch.tensor([[[1.0], [-1.0], [0.0]], [[0.0], [2.0], [-2.0]]])  # (2 prompts, 3, 1)
    tastes = torch.tensor([[1.0], [-1.0]])

    def reward(phi_y, users):
        return (phi_y * tastes[users]).sum(-1)

    assert steer_best_of_n(phi, 0, reward).tolist() == [0, 1]
    assert steer_best_of_n(phi, 1, reward).tolist() == [1, 2]


def test_label_pairs_orders_each_pair_by_its_labellers_choice():
    population = default_population()
    pairs = label_pairs(population, [0, 9, 9], seed=4)
    assert pairs.users.tolist() == [0, 9, 9] and pairs.gaps.shape == (3,)
    first = pairs.chosen_first()
    for k in range(3):
        chosen = pairs.phi_a[k] if pairs.a_chosen[k] else pairs.phi_b[k]
        torch.testing.assert_close(first[k, 0], chosen)
    assert label_pairs(population, [0, 9, 9], seed=4).a_chosen.tolist() == pairs.a_chosen.tolist()
    with pytest.raises(ValueError, match="users must be ids in 0..9"):
        label_pairs(population, [10], seed=0)


def test_stored_study_shows_the_effects_on_every_seed():
    stored = load_personalization_study()
    assert stored["seeds"] == [0, 1, 2] and len(stored["per_seed"]) == 3
    for run in stored["per_seed"]:
        accuracy, steering = run["accuracy"], run["steering"]
        # the single model fails the minority (worse than a coin); conditioning recovers it
        assert accuracy["single_rm"]["minority"] < 0.5 < accuracy["conditioned_rm"]["minority"]
        assert accuracy["single_rm"]["majority"] > accuracy["conditioned_rm"]["majority"]
        for group in ("majority", "minority"):
            assert max(accuracy[m][group] for m in study.MODELS) < accuracy["ceiling"][group]
        # steered by the single model the minority is worse off than with no steering at all
        assert steering["single_rm"]["minority"] < steering["base"]["minority"]
        assert steering["conditioned_rm"]["minority"] > steering["base"]["minority"]
        assert steering["single_rm"]["majority"] > steering["base"]["majority"]


def test_stored_study_matches_what_the_current_code_computes(tmp_path):
    """Seed 1's accuracies of the single and conditioned models (and the ceilings) recomputed
    with the code as it is now match the stored numbers (catches stale results)."""
    stored = load_personalization_study()
    scorers = study.fit_population_models(1, models=("single_rm", "conditioned_rm"))
    now = study.held_out_accuracy(scorers, 1)
    for name in ("single_rm", "conditioned_rm", "ceiling"):
        assert now[name] == pytest.approx(stored["per_seed"][1]["accuracy"][name], abs=2e-6)
    copy = write_personalization_study(stored, tmp_path / "copy.json")
    assert copy.read_text() == PERSONALIZATION_STUDY_PATH.read_text()  # the writer is stable


@pytest.mark.slow  # about 20 s on 2 cores: generation on the tiny GPT-2
def test_stored_steering_matches_what_the_current_code_computes():
    stored = load_personalization_study()["per_seed"][0]["steering"]
    scorers = study.fit_population_models(0, models=("conditioned_rm",))
    policy, tokenizer = study.load_tiny_lm()
    now = study.steering_utility(scorers, policy, tokenizer, 0)
    for name in ("base", "conditioned_rm", "best"):
        assert now[name] == pytest.approx(stored[name], abs=2e-6)


@pytest.mark.slow  # about 60 s on 2 cores
def test_personalization_experiment_shows_what_one_model_costs_the_minority(tmp_path, monkeypatch):
    monkeypatch.setattr(study, "N_PROMPTS", 16)
    assert main(["experiment", "personalization", "--seeds", "1", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["groups"] == {"majority": 0.8, "minority": 0.2}
    for key in ("single_rm", "conditioned_rm", "per_user_rm", "ceiling"):
        assert set(results[key]) == {"majority", "minority"}
    # the single model serves the majority and fails the minority; per-user models do not
    assert results["single_rm"]["minority"] < 0.5 < results["per_user_rm"]["minority"]
    assert results["single_rm"]["majority"] > 0.55
    steering = results["steering"]
    assert set(steering) == {"base", "single_rm", "conditioned_rm", "per_user_rm", "best"}
    assert steering["conditioned_rm"]["minority"] > steering["single_rm"]["minority"]
    assert steering["single_rm"]["majority"] > steering["base"]["majority"]
    assert (tmp_path / "personalization.png").stat().st_size > 10_000
