"""Graded tests of module 04 (Q-learning on FrozenLake and Taxi): exercises 4.1-4.3."""

import gymnasium as gym
import numpy as np
import pytest

from rlhf_edu.envs import TabularMDP
from rlhf_edu.tabular import dp as reference
from rlhf_edu.tabular.td import epsilon_for_episode as reference_epsilon


@pytest.mark.graded(exercise="4.1", points=2)
def test_epsilon_schedule_matches_reference(solution, graded_rng):
    for _ in range(30):
        n_episodes = int(graded_rng.integers(2, 500))
        episode = int(graded_rng.integers(n_episodes))
        epsilon, final = float(graded_rng.uniform(0.5, 1)), float(graded_rng.uniform(0, 0.5))
        assert solution.epsilon_for_episode(epsilon, final, episode, n_episodes) == pytest.approx(
            reference_epsilon(epsilon, final, episode, n_episodes)
        )
    assert solution.epsilon_for_episode(0.3, None, 5, 10) == 0.3
    assert solution.epsilon_for_episode(1.0, 0.1, 9, 10) == pytest.approx(0.1)


@pytest.mark.graded(exercise="4.2", points=2)
def test_greedy_policy_is_one_hot_on_a_best_action(solution, graded_rng):
    Q = graded_rng.normal(size=(20, 5)).round(1)
    policy = np.asarray(solution.greedy_policy(Q, 1e-9))
    assert policy.shape == Q.shape
    np.testing.assert_array_equal(policy.sum(axis=1), 1.0)
    assert set(np.unique(policy)) <= {0.0, 1.0}
    np.testing.assert_allclose(Q[np.arange(20), policy.argmax(axis=1)], Q.max(axis=1))
    np.testing.assert_array_equal(policy, reference.greedy_policy(Q, 1e-9))


@pytest.mark.graded(exercise="4.3", points=1)
def test_finite_horizon_success_of_frozenlake_optimum(solution):
    mdp = TabularMDP.from_gymnasium(gym.make("FrozenLake-v1"))
    _, policy = reference.value_iteration(mdp, 0.99)
    V = solution.finite_horizon_evaluation(mdp, policy, 100, 1.0)
    assert float(mdp.initial @ V) == pytest.approx(0.740, abs=1e-3)


@pytest.mark.graded(exercise="4.3", points=2)
def test_finite_horizon_evaluation_matches_reference(solution, graded_rng):
    mdp = TabularMDP.from_gymnasium(gym.make("FrozenLake8x8-v1"))
    for _ in range(3):
        policy = graded_rng.dirichlet(np.ones(4), size=64)
        horizon = int(graded_rng.integers(1, 60))
        gamma = float(graded_rng.uniform(0.8, 1.0))
        np.testing.assert_allclose(
            solution.finite_horizon_evaluation(mdp, policy, horizon, gamma),
            reference.finite_horizon_evaluation(mdp, policy, horizon, gamma),
            atol=1e-10,
        )
