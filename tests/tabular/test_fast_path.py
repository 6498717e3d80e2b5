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


@pytest.mark.parametrize(
    "env_id", ["FrozenLake-v1", "CliffWalking-v1", TAXI, "rlhf_edu/WindyGridworld-v0",
               "rlhf_edu/MaximizationBias-v0"],
)  # fmt: skip
def test_fast_env_steps_exactly_like_the_gymnasium_env(env_id):
    from rlhf_edu.tabular.fast import FastEnv

    env, fast_env = gym.make(env_id), FastEnv(gym.make(env_id))
    rng = np.random.default_rng(0)
    for episode in range(30):
        seed = 3 if episode == 0 else None
        assert env.reset(seed=seed)[0] == fast_env.reset(seed=seed)[0]
        while True:
            a = int(rng.integers(env.action_space.n))
            expected, got = env.step(a), fast_env.step(a)
            assert got[:4] == expected[:4]
            if expected[2] or expected[3]:
                break


def test_fast_env_rejects_envs_it_cannot_step_and_bad_actions():
    from rlhf_edu.tabular.fast import FastEnv

    with pytest.raises(TypeError, match="toy-text"):
        FastEnv(gym.wrappers.RecordEpisodeStatistics(gym.make("FrozenLake-v1")))
    env = FastEnv(gym.make("FrozenLake-v1"))
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(4)


@pytest.mark.parametrize("fast_env", [False, True])
def test_td_control_with_each_episode_function_equals_the_library_loop(fast_env):
    from rlhf_edu.tabular.fast import FastEnv
    from rlhf_edu.tabular.td import (
        expected_sarsa_episode,
        q_learning_episode,
        sarsa_episode,
        td_control,
        train_q_learning,
    )

    for env_id in ("CliffWalking-v1", "FrozenLake-v1"):

        def make(env_id=env_id):
            return FastEnv(gym.make(env_id)) if fast_env else gym.make(env_id)

        for episode, method in [
            (q_learning_episode, q_learning),
            (sarsa_episode, sarsa),
            (expected_sarsa_episode, expected_sarsa),
        ]:
            mine = td_control(make(), episode, 40, 0.5, 0.99, 0.1, 5)
            library = method(env_id, 40, 0.5, 0.99, 0.1, seed=5)
            np.testing.assert_array_equal(mine.Q, library.Q)
            np.testing.assert_array_equal(mine.episode_lengths, library.episode_lengths)
        scheduled = train_q_learning(make(), 60, 0.3, 0.99, 1.0, 2, 0.05)
        library = q_learning(env_id, 60, 0.3, 0.99, 1.0, seed=2, epsilon_final=0.05, fast=False)
        np.testing.assert_array_equal(scheduled.Q, library.Q)
        same_alpha = train_q_learning(make(), 60, 0.3, 0.99, 1.0, 2, 0.05, alpha_final=0.3)
        np.testing.assert_array_equal(same_alpha.Q, library.Q)
        decayed = train_q_learning(make(), 60, 0.3, 0.99, 1.0, 2, 0.05, alpha_final=0.01)
        assert not library.Q.any() or not np.array_equal(decayed.Q, library.Q)
