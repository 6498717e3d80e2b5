"""The fast path gives exactly the readable loop's results for the same seed."""

import gymnasium as gym
import numpy as np
import pytest

import rlhf_edu.envs  # noqa: F401  (registers rlhf_edu/... ids)
from rlhf_edu.tabular import double_q_learning, expected_sarsa, q_learning, sarsa
from rlhf_edu.tabular.fast import supports_fast_path

TAXI = "Taxi-v4" if "Taxi-v4" in gym.registry else "Taxi-v3"


@pytest.mark.parametrize("method", [q_learning, sarsa, expected_sarsa, double_q_learning])
@pytest.mark.parametrize(
    "env_id, n_episodes, gamma",
    [
        ("FrozenLake8x8-v1", 150, 0.99),
        ("FrozenLake-v1", 200, 0.95),
        ("CliffWalking-v1", 40, 1.0),
        (TAXI, 30, 0.99),
        ("rlhf_edu/WindyGridworld-v0", 20, 1.0),
        ("rlhf_edu/MaximizationBias-v0", 100, 1.0),
    ],
)
def test_fast_path_q_table_equals_gymnasium_loop(method, env_id, n_episodes, gamma):
    readable = method(gym.make(env_id), n_episodes, 0.5, gamma, 0.1, seed=7, fast=False)
    fast = method(gym.make(env_id), n_episodes, 0.5, gamma, 0.1, seed=7, fast=True)
    np.testing.assert_array_equal(fast.Q, readable.Q)
    np.testing.assert_array_equal(fast.episode_returns, readable.episode_returns)
    np.testing.assert_array_equal(fast.episode_lengths, readable.episode_lengths)


def test_fast_path_equal_with_epsilon_decay_and_extra_time_limit():
    kwargs = {"epsilon_final": 0.0, "max_episode_steps": 30}
    a = q_learning("FrozenLake8x8-v1", 200, 0.2, 0.99, 1.0, 3, fast=False, **kwargs)
    b = q_learning("FrozenLake8x8-v1", 200, 0.2, 0.99, 1.0, 3, fast=True, **kwargs)
    np.testing.assert_array_equal(a.Q, b.Q)
    assert a.episode_lengths.max() <= 30


def test_fast_path_is_used_only_for_plain_toy_text_envs():
    assert supports_fast_path(gym.make("FrozenLake-v1"))
    assert not supports_fast_path(gym.wrappers.RecordEpisodeStatistics(gym.make("FrozenLake-v1")))
    assert not supports_fast_path(gym.make("FrozenLake-v1", render_mode="ansi"))
    assert not supports_fast_path(gym.make(TAXI, fickle_passenger=True))
