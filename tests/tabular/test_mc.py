"""Monte Carlo: first-visit returns follow the reward-index convention; MC control learns the lake."""

import gymnasium as gym
import numpy as np
import pytest

from rlhf_edu.tabular.mc import first_visit_mc_control, first_visit_returns, mc_control


def test_first_visit_returns_take_the_first_visit_and_rewards_t_as_r_t_plus_1():
    # states 0 -> 1 -> 0; rewards[t] follows actions[t]
    got = first_visit_returns([0, 1, 0], [1, 0, 1], [1.0, 2.0, 4.0], 0.5)
    assert got == [(0, 1, pytest.approx(1.0 + 0.5 * 2.0 + 0.25 * 4.0)), (1, 0, 4.0)]


def test_first_visit_mc_control_is_mc_control_with_sample_averages():
    Q, returns = first_visit_mc_control(gym.make("FrozenLake-v1"), 150, 0.99, 0.2, 3)
    result = mc_control(gym.make("FrozenLake-v1"), 150, None, 0.99, 0.2, 3)
    np.testing.assert_array_equal(Q, result.Q)
    np.testing.assert_array_equal(returns, result.episode_returns)


def test_first_visit_mc_control_solves_the_calm_lake():
    Q, returns = first_visit_mc_control(
        gym.make("FrozenLake-v1", is_slippery=False), 400, 0.99, 0.1, 0
    )
    assert returns[-100:].mean() > 0.8
