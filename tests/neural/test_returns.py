"""Specifications of discounted returns and GAE."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rlhf_edu.neural import compute_gae, discounted_returns


def naive_returns(rewards: list[float], gamma: float) -> list[float]:
    return [sum(gamma**k * r for k, r in enumerate(rewards[t:])) for t in range(len(rewards))]


def test_discounted_returns_match_the_definition_as_a_sum():
    rewards = [1.0, 0.0, -2.0, 3.0, 0.5]
    got = discounted_returns(torch.tensor(rewards), 0.9)
    assert torch.allclose(got, torch.tensor(naive_returns(rewards, 0.9)))


def test_discounted_returns_with_gamma_one_is_the_reward_to_go_sum():
    got = discounted_returns([1.0, 1.0, 1.0], 1.0)
    assert got.tolist() == [3.0, 2.0, 1.0]


def test_discounted_returns_restart_after_a_done():
    rewards = torch.tensor([1.0, 1.0, 1.0, 1.0])
    dones = torch.tensor([0.0, 1.0, 0.0, 0.0])
    got = discounted_returns(rewards, 0.5, dones=dones)
    assert torch.allclose(got, torch.tensor([1.5, 1.0, 1.5, 1.0]))


def test_discounted_returns_columns_are_independent_envs():
    rewards = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    got = discounted_returns(rewards, 0.5)
    assert torch.allclose(got[:, 0], discounted_returns(rewards[:, 0], 0.5))
    assert torch.allclose(got[:, 1], discounted_returns(rewards[:, 1], 0.5))


def test_gae_with_lambda_one_equals_monte_carlo_return_minus_value():
    rng = np.random.default_rng(0)
    rewards = torch.tensor(rng.normal(size=6))
    values = torch.tensor(rng.normal(size=6))
    dones = torch.zeros(6)
    dones[-1] = 1.0
    advantages, returns = compute_gae(rewards, values, dones, torch.tensor(5.0), 0.9, 1.0)
    assert torch.allclose(returns, discounted_returns(rewards, 0.9))
    assert torch.allclose(advantages, discounted_returns(rewards, 0.9) - values)


def test_gae_with_lambda_zero_is_the_one_step_td_error():
    rewards = torch.tensor([1.0, 2.0, 3.0])
    values = torch.tensor([0.5, 0.25, 1.0])
    dones = torch.tensor([0.0, 0.0, 0.0])
    advantages, returns = compute_gae(rewards, values, dones, torch.tensor(2.0), 0.9, 0.0)
    next_values = torch.tensor([0.25, 1.0, 2.0])
    assert torch.allclose(advantages, rewards + 0.9 * next_values - values)
    assert torch.allclose(returns, advantages + values)


def test_gae_does_not_bootstrap_across_a_termination():
    rewards = torch.tensor([0.0, 1.0, 0.0])
    values = torch.tensor([0.0, 0.0, 100.0])
    dones = torch.tensor([0.0, 1.0, 0.0])
    advantages, _ = compute_gae(rewards, values, dones, torch.tensor(0.0), 1.0, 1.0)
    # step 1 terminated: its advantage is r_1 - V(s_1) = 1, nothing of V(s_2) = 100 leaks in
    assert advantages[1].item() == pytest.approx(1.0)
    assert advantages[0].item() == pytest.approx(1.0)


def test_gae_over_envs_matches_gae_of_each_env():
    rng = np.random.default_rng(1)
    rewards = torch.tensor(rng.normal(size=(7, 3)))
    values = torch.tensor(rng.normal(size=(7, 3)))
    dones = torch.tensor(rng.random((7, 3)) < 0.3, dtype=torch.float64)
    last_value = torch.tensor(rng.normal(size=3))
    advantages, returns = compute_gae(rewards, values, dones, last_value, 0.99, 0.95)
    for env in range(3):
        a, r = compute_gae(
            rewards[:, env], values[:, env], dones[:, env], last_value[env], 0.99, 0.95
        )
        assert torch.allclose(advantages[:, env], a)
        assert torch.allclose(returns[:, env], r)


def test_gae_matches_a_hand_computed_example():
    # gamma 0.5, lam 0.5: deltas = [1 + .5*2 - 1, 0 + .5*4 - 2] = [1, 0]; A_1 = 0, A_0 = 1 + .25*0
    advantages, returns = compute_gae(
        torch.tensor([1.0, 0.0]),
        torch.tensor([1.0, 2.0]),
        torch.zeros(2),
        torch.tensor(4.0),
        0.5,
        0.5,
    )
    assert advantages.tolist() == [1.0, 0.0]
    assert returns.tolist() == [2.0, 2.0]


@pytest.mark.parametrize("field,value", [("gamma", 1.5), ("gamma", -0.1), ("lam", 2.0)])
def test_gae_rejects_gamma_or_lambda_outside_the_unit_interval(field, value):
    kwargs = {"gamma": 0.9, "lam": 0.9, field: value}
    with pytest.raises(ValueError, match=field):
        compute_gae(torch.zeros(3), torch.zeros(3), torch.zeros(3), torch.tensor(0.0), **kwargs)


def test_gae_rejects_mismatched_shapes_naming_the_argument():
    with pytest.raises(ValueError, match="values"):
        compute_gae(torch.zeros(3), torch.zeros(4), torch.zeros(3), torch.tensor(0.0), 0.9, 0.9)
    with pytest.raises(ValueError, match="last_value"):
        compute_gae(
            torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(3), 0.9, 0.9
        )
