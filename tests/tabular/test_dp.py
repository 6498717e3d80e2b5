"""Dynamic programming reproduces Sutton & Barto's numbers and FrozenLake's known optima."""

import gymnasium as gym
import numpy as np
import pytest

from rlhf_edu.envs import TabularMDP, sb_gridworld_4x4, sb_gridworld_5x5
from rlhf_edu.tabular import (
    finite_horizon_evaluation,
    finite_horizon_optimum,
    policy_evaluation,
    policy_iteration,
    q_from_v,
    start_value,
    value_iteration,
)
from rlhf_edu.tabular.dp import (
    bellman_contraction_sides,
    greedy_policy_reaching_terminal,
    improve_policy,
)


def uniform(mdp):
    return np.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions)


def test_example_4_1_random_policy_values():
    mdp = sb_gridworld_4x4()
    V = policy_evaluation(mdp, uniform(mdp), gamma=1.0, theta=1e-10)
    expected = [
        [0, -14, -20, -22],
        [-14, -18, -20, -20],
        [-20, -20, -18, -14],
        [-22, -20, -14, 0],
    ]
    np.testing.assert_allclose(V.reshape(4, 4), expected, atol=1e-4)


def test_figure_3_2_random_policy_values():
    mdp = sb_gridworld_5x5()
    V = policy_evaluation(mdp, uniform(mdp), gamma=0.9)
    expected = [
        [3.3, 8.8, 4.4, 5.3, 1.5],
        [1.5, 3.0, 2.3, 1.9, 0.5],
        [0.1, 0.7, 0.7, 0.4, -0.4],
        [-1.0, -0.4, -0.4, -0.6, -1.2],
        [-1.9, -1.3, -1.2, -1.4, -2.0],
    ]
    np.testing.assert_allclose(V.reshape(5, 5), expected, atol=0.051)


def test_figure_3_5_optimal_values():
    V, _ = value_iteration(sb_gridworld_5x5(), gamma=0.9)
    expected = [
        [22.0, 24.4, 22.0, 19.4, 17.5],
        [19.8, 22.0, 19.8, 17.8, 16.0],
        [17.8, 19.8, 17.8, 16.0, 14.4],
        [16.0, 17.8, 16.0, 14.4, 13.0],
        [14.4, 16.0, 14.4, 13.0, 11.7],
    ]
    np.testing.assert_allclose(V.reshape(5, 5), expected, atol=0.051)


@pytest.mark.parametrize("make, gamma", [(sb_gridworld_4x4, 1.0), (sb_gridworld_5x5, 0.9)])
def test_value_iteration_matches_policy_iteration_on_gridworld(make, gamma):
    mdp = make()
    V_vi, _ = value_iteration(mdp, gamma)
    V_pi, policy = policy_iteration(mdp, gamma)
    np.testing.assert_allclose(V_vi, V_pi, atol=1e-6)
    assert np.all(policy.sum(axis=1) == 1) and set(np.unique(policy)) <= {0.0, 1.0}


def test_policy_iteration_terminates_when_two_actions_are_equally_good():
    # Exercise 4.4: two identical actions everywhere; an improvement step that flips between
    # equally good actions would loop forever.
    P = np.zeros((3, 2, 3))
    P[0, :, 1] = P[1, :, 2] = P[2, :, 2] = 1.0
    R = np.array([[-1.0, -1.0], [-1.0, -1.0], [0.0, 0.0]])
    mdp = TabularMDP(P, R, terminal=np.array([False, False, True]))
    V, policy = policy_iteration(mdp, gamma=1.0, max_iterations=10)
    np.testing.assert_allclose(V, [-2, -1, 0])
    # the 4x4 gridworld has many tied optimal actions too
    V, _ = policy_iteration(sb_gridworld_4x4(), gamma=1.0, max_iterations=20)
    assert V.reshape(4, 4)[0, 3] == pytest.approx(-3)


def test_q_from_v_is_zero_in_terminal_states():
    mdp = sb_gridworld_4x4()
    Q = q_from_v(mdp, np.full(16, -5.0), 1.0)
    assert np.all(Q[[0, 15]] == 0) and Q[1, 0] == -1  # left from cell 1 enters the terminal


@pytest.mark.parametrize(
    "env_id, horizon, optimum, vi_policy_success",
    [("FrozenLake-v1", 100, 0.744, 0.740), ("FrozenLake8x8-v1", 200, 0.913, 0.894)],
)
def test_frozenlake_success_within_time_limit_matches_gymnasium_note(
    env_id, horizon, optimum, vi_policy_success
):
    """Gymnasium's registration notes the optima 0.74 (4x4) and 0.91 (8x8) within the time limit."""
    mdp = TabularMDP.from_gymnasium(gym.make(env_id))
    best = start_value(mdp, finite_horizon_optimum(mdp, horizon))
    assert best == pytest.approx(optimum, abs=5e-4)
    _, policy = value_iteration(mdp, gamma=0.995, theta=1e-10)
    success = start_value(mdp, finite_horizon_evaluation(mdp, policy, horizon))
    assert success == pytest.approx(vi_policy_success, abs=5e-4)
    assert success <= best + 1e-12


def test_finite_horizon_evaluation_matches_monte_carlo():
    env = gym.make("FrozenLake-v1")
    mdp = TabularMDP.from_gymnasium(env)
    _, policy = value_iteration(mdp, gamma=0.99)
    exact = start_value(mdp, finite_horizon_evaluation(mdp, policy, 100))
    from rlhf_edu.envs import estimate_success_rate

    estimate = estimate_success_rate(env, lambda s: int(policy[s].argmax()), 2000, seed=0)
    assert abs(estimate - exact) < 4 * np.sqrt(exact * (1 - exact) / 2000)


@pytest.mark.parametrize("gamma", [-0.1, 1.5])
def test_gamma_outside_unit_interval_raises(gamma):
    with pytest.raises(ValueError, match="gamma must be in \\[0, 1\\]"):
        value_iteration(sb_gridworld_4x4(), gamma)


def test_policy_rows_must_sum_to_one():
    mdp = sb_gridworld_4x4()
    bad = np.full((16, 4), 0.3)
    with pytest.raises(ValueError, match="sum to 1"):
        policy_evaluation(mdp, bad, 1.0)
    with pytest.raises(ValueError, match="shape"):
        policy_evaluation(mdp, np.full((16, 3), 1 / 3), 1.0)


def test_value_iteration_at_gamma_1_on_slippery_8x8_lake_reaches_the_goal():
    # All Q* of a safe tile are within 1e-9 at gamma = 1 (the goal is reached "eventually" by
    # every careful action); plain argmax took LEFT in dozens of states and never arrived.
    lake = TabularMDP.from_gymnasium(gym.make("FrozenLake8x8-v1"))
    V, policy = value_iteration(lake, 1.0, 1e-10)
    eventually = start_value(lake, finite_horizon_evaluation(lake, policy, 5000))
    assert eventually == pytest.approx(start_value(lake, V), abs=1e-3)
    assert start_value(lake, finite_horizon_evaluation(lake, policy, 200)) > 0.85


def test_greedy_policy_reaching_terminal_uses_only_best_actions():
    mdp = sb_gridworld_4x4()
    V, _ = value_iteration(mdp, 0.9)
    Q = q_from_v(mdp, V, 0.9)
    policy = greedy_policy_reaching_terminal(mdp, Q, 1e-9)
    chosen = Q[np.arange(16), policy.argmax(axis=1)]
    np.testing.assert_allclose(chosen, Q.max(axis=1), atol=1e-9)


def test_bellman_optimality_backup_is_a_gamma_contraction():
    rng = np.random.default_rng(0)
    mdp = sb_gridworld_5x5()
    for gamma in (0.0, 0.5, 0.9):
        for _ in range(20):
            V1, V2 = rng.normal(size=(2, 25)) * 10
            lhs, rhs = bellman_contraction_sides(mdp, V1, V2, gamma)
            assert lhs <= rhs + 1e-12
    # a constant shift moves every backed-up value by exactly gamma * shift (no terminal states)
    V = rng.normal(size=25)
    lhs, rhs = bellman_contraction_sides(mdp, V, V + 3.0, 0.9)
    assert lhs == pytest.approx(rhs) == pytest.approx(2.7)


def test_improve_policy_keeps_an_action_that_is_still_among_the_best():
    Q = np.array([[1.0, 1.0, 0.0], [0.0, 2.0, 2.0], [3.0, 0.0, 1.0]])
    np.testing.assert_array_equal(improve_policy(Q, None), [0, 1, 0])
    np.testing.assert_array_equal(improve_policy(Q, np.array([1, 2, 2])), [1, 2, 0])
