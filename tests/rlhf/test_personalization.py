"""Personalisation: a population with a minority, and reward models for everyone, per user and
conditioned on the user."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rlhf_edu.app import experiment_personalization as study
from rlhf_edu.app.cli import main
from rlhf_edu.rlhf.feedback.personalization import (
    critic_utility,
    default_population,
    fit_conditioned_reward_model,
    group_ceiling,
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


@pytest.mark.slow  # about 30 s on 2 cores
def test_personalization_experiment_shows_what_one_model_costs_the_minority(tmp_path, monkeypatch):
    monkeypatch.setattr(study, "N_PROMPTS", 30)
    assert main(["experiment", "personalization", "--seeds", "1", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["groups"] == {"majority": 0.8, "minority": 0.2}
    for key in ("single_rm", "conditioned_rm", "per_user_rm", "ceiling"):
        assert set(results[key]) == {"majority", "minority"}
    # the single model serves the majority and fails the minority; per-user models do not
    assert results["single_rm"]["minority"] < 0.5 < results["per_user_rm"]["minority"]
    assert results["single_rm"]["majority"] > 0.55
    steering = results["steering"]
    assert steering["per_user_rm"]["minority"] > steering["single_rm"]["minority"]
    assert (tmp_path / "personalization.png").stat().st_size > 10_000
