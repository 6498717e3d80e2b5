"""TD updates and control loops: targets, terminal vs truncated, determinism, bad input."""

import gymnasium as gym
import numpy as np
import pytest

from rlhf_edu.envs import TabularEnv, TabularMDP
from rlhf_edu.tabular import (
    double_q_learning,
    double_q_update,
    epsilon_greedy,
    epsilon_greedy_probabilities,
    expected_sarsa,
    expected_sarsa_update,
    mc_control,
    q_learning,
    q_learning_update,
    sarsa,
    sarsa_update,
    td0,
    td0_update,
)
from rlhf_edu.tabular.dp import value_iteration

CONTROL = [q_learning, sarsa, expected_sarsa, double_q_learning]


def test_q_learning_update_bootstraps_from_the_best_next_action():
    Q = np.array([[0.0, 0.0], [1.0, 3.0]])
    q_learning_update(Q, 0, 1, r=1.0, s_next=1, terminated=False, alpha=0.5, gamma=0.9)
    assert Q[0, 1] == pytest.approx(0.5 * (1.0 + 0.9 * 3.0))


@pytest.mark.parametrize("which", ["td0", "sarsa", "q", "expected", "double"])
def test_terminal_transitions_never_bootstrap(which):
    Q = np.array([[0.0, 0.0], [100.0, 100.0]])
    if which == "td0":
        V = np.array([0.0, 100.0])
        td0_update(V, 0, 1.0, 1, True, 0.5, 1.0)
        assert V[0] == 0.5
        return
    Q2 = Q.copy()
    if which == "sarsa":
        sarsa_update(Q, 0, 0, 1.0, 1, 0, True, 0.5, 1.0)
    elif which == "q":
        q_learning_update(Q, 0, 0, 1.0, 1, True, 0.5, 1.0)
    elif which == "expected":
        expected_sarsa_update(Q, 0, 0, 1.0, 1, True, 0.5, 1.0, 0.1)
    else:
        double_q_update(Q, Q2, 0, 0, 1.0, 1, True, 0.5, 1.0, update_first=True)
    assert Q[0, 0] == 0.5


def test_expected_sarsa_target_averages_under_epsilon_greedy():
    Q = np.array([[0.0, 0.0], [1.0, 3.0]])
    expected_sarsa_update(Q, 0, 0, 0.0, 1, False, 1.0, 1.0, epsilon=0.2)
    assert Q[0, 0] == pytest.approx(0.1 * 1.0 + 0.9 * 3.0)
    np.testing.assert_allclose(
        epsilon_greedy_probabilities(np.array([2.0, 2.0, 0.0]), 0.3), [0.45, 0.45, 0.1]
    )


def test_double_q_update_selects_with_one_table_and_evaluates_with_the_other():
    Q1 = np.array([[0.0, 0.0], [5.0, 1.0]])
    Q2 = np.array([[0.0, 0.0], [2.0, 9.0]])
    double_q_update(Q1, Q2, 0, 0, 0.0, 1, False, 1.0, 1.0, update_first=True)
    assert Q1[0, 0] == 2.0  # argmax Q1[1] = 0, valued by Q2[1, 0]
    double_q_update(Q1, Q2, 0, 1, 0.0, 1, False, 1.0, 1.0, update_first=False)
    assert Q2[0, 1] == 1.0  # argmax Q2[1] = 1, valued by Q1[1, 1]


def test_epsilon_greedy_is_greedy_at_zero_and_uniform_at_one():
    rng = np.random.default_rng(0)
    Q_row = np.array([0.0, 2.0, 1.0, 2.0])
    greedy = [epsilon_greedy(Q_row, 0.0, rng) for _ in range(400)]
    assert set(greedy) == {1, 3}  # ties broken at random, both seen
    uniform = np.bincount([epsilon_greedy(Q_row, 1.0, rng) for _ in range(4000)], minlength=4)
    assert uniform.min() > 850


def one_state_loop_env(limit: int) -> gym.Env:
    """A single non-terminal state that loops to itself with reward 1, cut by a time limit."""
    P = np.ones((1, 1, 1))
    R = np.ones((1, 1))
    mdp = TabularMDP(P, R, max_episode_steps=limit)
    return gym.wrappers.TimeLimit(TabularEnv(mdp), max_episode_steps=limit)


@pytest.mark.parametrize("method", CONTROL)
@pytest.mark.parametrize("fast", [False, True])
def test_time_limit_truncation_bootstraps(method, fast):
    # The true value with gamma = 0.5 is 1 / (1 - 0.5) = 2. Treating the time limit as a
    # terminal state would teach Q = 1 when every episode lasts one step.
    result = method(one_state_loop_env(1), 300, 0.5, 0.5, 0.0, seed=0, fast=fast)
    assert result.Q[0, 0] == pytest.approx(2.0, abs=1e-6)
    assert np.all(result.episode_lengths == 1)


def test_max_episode_steps_argument_truncates_too():
    env = TabularEnv(TabularMDP(np.ones((1, 1, 1)), np.ones((1, 1))))
    result = q_learning(env, 50, 0.5, 0.5, 0.0, seed=0, max_episode_steps=3, fast=False)
    assert np.all(result.episode_lengths == 3) and result.Q[0, 0] == pytest.approx(2.0, abs=1e-3)


@pytest.mark.parametrize("method", CONTROL + [mc_control])
def test_same_seed_same_result_and_result_shapes(method):
    a = method("FrozenLake-v1", 50, 0.1, 0.99, 0.2, seed=4)
    b = method("FrozenLake-v1", 50, 0.1, 0.99, 0.2, seed=4)
    np.testing.assert_array_equal(a.Q, b.Q)
    assert a.Q.shape == a.policy.shape == (16, 4)
    assert a.episode_returns.shape == a.episode_lengths.shape == (50,)
    np.testing.assert_array_equal(a.policy.sum(axis=1), 1.0)


def test_td0_predicts_random_walk_values():
    # S&B Example 6.2: 5 states A..E between two terminals, +1 on the right; V = 1/6 .. 5/6.
    n = 7
    P = np.zeros((n, 2, n))
    R = np.zeros((n, 2))
    for s in range(1, 6):
        P[s, 0, s - 1] = P[s, 1, s + 1] = 1.0
    R[5, 1] = 1.0
    P[0, :, 0] = P[6, :, 6] = 1.0
    terminal = np.zeros(n, dtype=bool)
    terminal[[0, 6]] = True
    initial = np.zeros(n)
    initial[3] = 1.0
    env = TabularEnv(TabularMDP(P, R, terminal, initial=initial))
    V = td0(env, np.full((n, 2), 0.5), 3000, 0.02, 1.0, seed=0)
    np.testing.assert_allclose(V[1:6], np.arange(1, 6) / 6, atol=0.06)


# ------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("method", CONTROL + [mc_control])
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"gamma": 1.5}, ValueError, r"gamma must be in \[0, 1\]"),
        ({"gamma": -0.1}, ValueError, r"gamma must be in \[0, 1\]"),
        ({"alpha": 0.0}, ValueError, r"alpha must be in \(0.0, 1.0\]"),
        ({"alpha": 1.5}, ValueError, r"alpha must be in \(0.0, 1.0\]"),
        ({"epsilon": -0.1}, ValueError, r"epsilon must be in \[0.0, 1.0\]"),
        ({"epsilon": 2.0}, ValueError, r"epsilon must be in \[0.0, 1.0\]"),
        ({"n_episodes": 0}, ValueError, r"n_episodes must be an int >= 1"),
        ({"n_episodes": 2.5}, TypeError, r"n_episodes must be an int"),
        ({"seed": -1}, ValueError, r"seed"),
    ],
)
def test_bad_hyperparameters_raise_naming_the_argument(method, kwargs, error, match):
    args = {"n_episodes": 5, "alpha": 0.1, "gamma": 0.9, "epsilon": 0.1, "seed": 0} | kwargs
    with pytest.raises(error, match=match):
        method("FrozenLake-v1", **args)


@pytest.mark.parametrize("method", CONTROL + [mc_control])
def test_non_discrete_spaces_raise_type_error(method):
    with pytest.raises(TypeError, match="observation_space must be gymnasium.spaces.Discrete"):
        method("CartPole-v1", 5, 0.1, 0.9, 0.1, 0)
    env = gym.make("FrozenLake-v1")
    env.action_space = gym.spaces.Box(-1, 1, (1,))
    with pytest.raises(TypeError, match="action_space must be gymnasium.spaces.Discrete"):
        method(env, 5, 0.1, 0.9, 0.1, 0)


def test_td0_rejects_policy_rows_not_summing_to_one():
    with pytest.raises(ValueError, match="sum to 1"):
        td0("FrozenLake-v1", np.full((16, 4), 0.3), 5, 0.1, 0.9, 0)


def test_first_visit_returns_discount_backwards_and_keep_first_visits():
    from rlhf_edu.tabular import first_visit_returns

    # G_2 = 3, G_1 = 2 + 0.5 * 3 = 3.5, G_0 = 1 + 0.5 * 3.5 = 2.75; (0, 0) is first visited at t = 0
    assert first_visit_returns([0, 1, 0], [0, 0, 0], [1.0, 2.0, 3.0], 0.5) == [
        (0, 0, 2.75),
        (1, 0, 3.5),
    ]


def test_mc_control_finds_a_near_optimal_gridworld_policy():
    from rlhf_edu.envs import sb_gridworld_4x4
    from rlhf_edu.tabular import policy_evaluation, start_value, value_iteration

    mdp = sb_gridworld_4x4()
    V_star, _ = value_iteration(mdp, 1.0)
    result = mc_control("rlhf_edu/GridWorld4x4-v0", 10_000, None, 1.0, 0.1, seed=0)
    V_greedy = policy_evaluation(mdp, result.policy, 0.99)
    assert start_value(mdp, V_greedy) > start_value(mdp, V_star) - 0.25


def test_policy_returns_uses_fixed_seeds_and_the_time_limit():
    from rlhf_edu.tabular.td import policy_returns

    env = gym.make("FrozenLake-v1")
    left = np.zeros((16, 4))
    left[:, 0] = 1.0  # always LEFT never reaches the goal
    np.testing.assert_array_equal(policy_returns(env, left, 5, seed=0), np.zeros(5))
    _, policy = value_iteration(TabularMDP.from_gymnasium(env), 0.99)
    first = policy_returns(env, policy, 300, seed=10)
    np.testing.assert_array_equal(first, policy_returns(env, policy, 300, seed=10))
    assert 0.65 < first.mean() < 0.83  # the exact success within 100 steps is 0.740


@pytest.mark.parametrize("method", ["q_learning", "double_q_learning"])
def test_maximization_bias_with_a_single_step_update_equals_the_vectorised_run(method):
    from rlhf_edu.tabular import maximization_bias_experiment

    update = q_learning_update if method == "q_learning" else double_q_update
    vectorised = maximization_bias_experiment(method, 50, 40, seed=3)
    per_run = maximization_bias_experiment(method, 50, 40, seed=3, update=update)
    np.testing.assert_array_equal(per_run, vectorised)
