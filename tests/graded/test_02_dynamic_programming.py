"""Graded tests of module 02 (dynamic programming): exercises 2.1-2.3."""

import numpy as np
import pytest

from rlhf_edu.envs import TabularMDP, sb_gridworld_4x4, sb_gridworld_5x5
from rlhf_edu.tabular.dp import policy_evaluation as reference_evaluation
from rlhf_edu.tabular.dp import q_from_v as reference_q_from_v
from rlhf_edu.tabular.dp import value_iteration as reference_value_iteration


def random_mdp(rng: np.random.Generator) -> TabularMDP:
    """A random MDP with one absorbing terminal state (the last)."""
    n_states, n_actions = int(rng.integers(3, 7)), int(rng.integers(2, 4))
    P = rng.random((n_states, n_actions, n_states)) * (
        rng.random((n_states, n_actions, n_states)) < 0.6
    )
    P[:, :, -1] += 0.1  # every action can end the episode
    P /= P.sum(axis=2, keepdims=True)
    R = rng.normal(size=(n_states, n_actions))
    P[-1] = 0.0
    P[-1, :, -1] = 1.0
    R[-1] = 0.0
    terminal = np.zeros(n_states, dtype=bool)
    terminal[-1] = True
    return TabularMDP(P, R, terminal)


@pytest.mark.graded(exercise="2.1", points=2)
def test_q_from_v_matches_reference_on_random_mdps(solution, graded_rng):
    for _ in range(10):
        mdp = random_mdp(graded_rng)
        V = graded_rng.normal(size=mdp.n_states)
        gamma = float(graded_rng.uniform(0.5, 1.0))
        np.testing.assert_allclose(
            solution.q_from_v(mdp, V, gamma), reference_q_from_v(mdp, V, gamma), atol=1e-10
        )


@pytest.mark.graded(exercise="2.2", points=1)
def test_policy_evaluation_reproduces_example_4_1(solution):
    mdp = sb_gridworld_4x4()
    V = solution.policy_evaluation(mdp, np.full((16, 4), 0.25), 1.0, 1e-8)
    np.testing.assert_allclose(np.asarray(V).reshape(4, 4)[0], [0, -14, -20, -22], atol=1e-3)


@pytest.mark.graded(exercise="2.2", points=2)
def test_policy_evaluation_matches_reference_on_random_mdps_and_policies(solution, graded_rng):
    for _ in range(5):
        mdp = random_mdp(graded_rng)
        policy = graded_rng.dirichlet(np.ones(mdp.n_actions), size=mdp.n_states)
        gamma = float(graded_rng.uniform(0.5, 0.99))
        want = reference_evaluation(mdp, policy, gamma, 1e-10)
        np.testing.assert_allclose(
            solution.policy_evaluation(mdp, policy, gamma, 1e-10), want, atol=1e-6
        )


@pytest.mark.graded(exercise="2.3", points=1)
def test_value_iteration_reproduces_figure_3_5(solution):
    V, policy = solution.value_iteration(sb_gridworld_5x5(), 0.9, 1e-8)
    np.testing.assert_allclose(
        np.asarray(V).reshape(5, 5)[0], [22.0, 24.4, 22.0, 19.4, 17.5], atol=0.051
    )
    assert np.asarray(policy).shape == (25, 4)


@pytest.mark.graded(exercise="2.3", points=2)
def test_value_iteration_matches_reference_and_its_policy_is_greedy(solution, graded_rng):
    for _ in range(5):
        mdp = random_mdp(graded_rng)
        gamma = float(graded_rng.uniform(0.5, 0.99))
        V, policy = solution.value_iteration(mdp, gamma, 1e-10)
        V_ref, _ = reference_value_iteration(mdp, gamma, 1e-10)
        np.testing.assert_allclose(V, V_ref, atol=1e-6)
        Q = reference_q_from_v(mdp, V_ref, gamma)
        chosen = np.asarray(policy).argmax(axis=1)
        np.testing.assert_allclose(Q[np.arange(mdp.n_states), chosen], Q.max(axis=1), atol=1e-6)
