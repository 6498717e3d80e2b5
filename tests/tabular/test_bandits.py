"""Bandits: the pure updates and Figure 2.2's qualitative results (fewer runs than the book)."""

import numpy as np
import pytest

from rlhf_edu.tabular import (
    EpsilonGreedyAgent,
    GradientBanditAgent,
    UCBAgent,
    gradient_bandit_update,
    run_testbed,
    sample_average_update,
    softmax,
    ucb_action,
)
from rlhf_edu.tabular.bandits import (
    bandit_testbed_loop,
    epsilon_greedy_actions,
    ucb_actions,
    update_action_values,
)


def test_sample_average_update_is_the_running_mean():
    Q, N = np.zeros(3), np.zeros(3)
    for r in [1.0, 2.0, 6.0]:
        sample_average_update(Q, N, 1, r)
    assert Q[1] == pytest.approx(3.0) and N[1] == 3


def test_ucb_tries_every_arm_first_then_adds_the_bonus():
    assert ucb_action(np.zeros(3), np.array([1.0, 0.0, 1.0]), 3, 2.0) == 1
    Q, N = np.array([1.0, 0.9]), np.array([100.0, 1.0])
    assert ucb_action(Q, N, 101, 2.0) == 1
    assert ucb_action(Q, N, 101, 0.0) == 0


def test_gradient_bandit_raises_the_chosen_arm_when_reward_beats_baseline():
    H = np.zeros(4)
    gradient_bandit_update(H, 2, r=1.0, baseline=0.0, alpha=0.1)
    assert H[2] > 0 and np.all(H[[0, 1, 3]] < 0) and H.sum() == pytest.approx(0.0)
    assert softmax(np.array([1000.0, 1000.0])) == pytest.approx([0.5, 0.5])


def test_figure_2_2_ordering_and_asymptotes():
    """200 runs x 1000 steps: epsilon 0.1 explores most and finds the best arm most often;
    greedy sticks at about 1.0 average reward and ~35% optimal actions."""
    results = {
        eps: run_testbed("epsilon_greedy", 200, 1000, seed=0, epsilon=eps)
        for eps in (0.0, 0.01, 0.1)
    }
    late = {eps: (r[-200:].mean(), o[-200:].mean()) for eps, (r, o) in results.items()}
    assert late[0.1][0] > late[0.01][0] > late[0.0][0]
    assert late[0.1][1] > late[0.01][1] > late[0.0][1]
    assert 0.85 < late[0.0][0] < 1.2 and 0.25 < late[0.0][1] < 0.45
    assert 1.25 < late[0.1][0] < 1.45 and 0.72 < late[0.1][1] < 0.86
    # early on, the greedy method improves fastest (Figure 2.2's first steps)
    assert results[0.0][0][:10].mean() > results[0.1][0][:10].mean() - 0.1


def test_optimistic_greedy_and_ucb_beat_realistic_epsilon_greedy_late():
    _, optimistic = run_testbed(
        "epsilon_greedy", 200, 1000, 1, epsilon=0.0, initial_value=5.0, alpha=0.1
    )
    _, realistic = run_testbed("epsilon_greedy", 200, 1000, 1, epsilon=0.1, alpha=0.1)
    assert optimistic[-200:].mean() > realistic[-200:].mean()  # Figure 2.3
    ucb, _ = run_testbed("ucb", 200, 1000, 1, c=2.0)
    eg, _ = run_testbed("epsilon_greedy", 200, 1000, 1, epsilon=0.1)
    assert ucb[-500:].mean() > eg[-500:].mean()  # Figure 2.4


def test_agents_learn_the_best_arm_of_one_bandit():
    rng = np.random.default_rng(0)
    q_star = np.array([0.0, 1.5, 0.5])
    for agent in [
        EpsilonGreedyAgent(3, 0.1, seed=0),
        UCBAgent(3, 1.0),
        GradientBanditAgent(3, 0.1, seed=0),
    ]:
        counts = np.zeros(3)
        for _ in range(1000):
            a = agent.act()
            agent.update(a, q_star[a] + rng.standard_normal())
            counts[a] += 1
        assert counts.argmax() == 1


@pytest.mark.parametrize(
    "kwargs, match",
    [({"epsilon": 1.5}, "epsilon"), ({"n_runs": 0}, "n_runs"), ({"alpha": 0.0}, "alpha")],
)
def test_testbed_bad_arguments_raise(kwargs, match):
    args = {"n_runs": 2, "n_steps": 2, "seed": 0} | kwargs
    with pytest.raises(ValueError, match=match):
        run_testbed("epsilon_greedy", **args)
    with pytest.raises(ValueError, match="method"):
        run_testbed("thompson", 2, 2, 0)


def test_ucb_actions_agree_with_ucb_action_row_by_row():
    rng = np.random.default_rng(0)
    Q = rng.normal(size=(40, 5))
    N = rng.integers(0, 4, size=(40, 5)).astype(float)
    want = [ucb_action(Q[i], N[i], 7, 1.5) for i in range(40)]
    np.testing.assert_array_equal(ucb_actions(Q, N, 7, 1.5), want)


def test_update_action_values_keeps_a_running_mean_per_run_and_arm():
    Q, N = np.zeros((2, 3)), np.zeros((2, 3))
    update_action_values(Q, N, np.array([1, 2]), np.array([1.0, 4.0]), None)
    update_action_values(Q, N, np.array([1, 0]), np.array([3.0, -1.0]), None)
    np.testing.assert_allclose(Q, [[0, 2, 0], [-1, 0, 4]])
    np.testing.assert_allclose(N, [[0, 2, 0], [1, 0, 1]])
    update_action_values(Q, N, np.array([1, 0]), np.array([4.0, 1.0]), 0.5)
    np.testing.assert_allclose(Q[:, :2], [[0, 3], [0, 0]])


def test_testbed_loop_with_epsilon_greedy_actions_is_run_testbed():
    select = lambda Q, N, t, rng: epsilon_greedy_actions(Q, 0.1, rng)  # noqa: E731
    got = bandit_testbed_loop(select, 50, 100, 4)
    want = run_testbed("epsilon_greedy", 50, 100, 4, epsilon=0.1)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
