"""Graded tests of module 01 (bandits): exercises 1.1-1.4."""

import numpy as np
import pytest

from rlhf_edu.tabular.bandits import gradient_bandit_update as reference_gradient_update
from rlhf_edu.tabular.bandits import ucb_action as reference_ucb


@pytest.mark.graded(exercise="1.1", points=1)
def test_epsilon_greedy_with_zero_epsilon_picks_only_greedy_actions_and_breaks_ties(
    solution, graded_rng
):
    n = int(graded_rng.integers(3, 8))
    Q_row = graded_rng.normal(size=n)
    tied = graded_rng.choice(n, size=2, replace=False)
    Q_row[tied] = Q_row.max() + 1.0
    rng = np.random.default_rng(int(graded_rng.integers(2**31)))
    picks = [solution.epsilon_greedy(Q_row, 0.0, rng) for _ in range(600)]
    assert set(picks) == set(tied.tolist()), "with epsilon = 0 only (all) greedy actions are chosen"
    assert all(isinstance(a, (int, np.integer)) for a in picks)


@pytest.mark.graded(exercise="1.1", points=2)
def test_epsilon_greedy_explores_with_probability_epsilon(solution, graded_rng):
    n = int(graded_rng.integers(3, 7))
    epsilon = float(graded_rng.uniform(0.2, 0.6))
    Q_row = graded_rng.normal(size=n)
    best = int(Q_row.argmax())
    rng = np.random.default_rng(int(graded_rng.integers(2**31)))
    picks = np.array([solution.epsilon_greedy(Q_row, epsilon, rng) for _ in range(6000)])
    freq = np.bincount(picks, minlength=n) / len(picks)
    expected = np.full(n, epsilon / n)
    expected[best] += 1 - epsilon
    np.testing.assert_allclose(freq, expected, atol=0.03)


@pytest.mark.graded(exercise="1.2", points=2)
def test_sample_average_update_gives_the_running_mean(solution, graded_rng):
    k = int(graded_rng.integers(2, 6))
    Q, N = np.zeros(k), np.zeros(k)
    rewards = {a: [] for a in range(k)}
    for _ in range(60):
        a = int(graded_rng.integers(k))
        r = float(graded_rng.normal())
        rewards[a].append(r)
        solution.sample_average_update(Q, N, a, r)
    for a in range(k):
        assert N[a] == len(rewards[a])
        assert Q[a] == pytest.approx(np.mean(rewards[a]) if rewards[a] else 0.0, abs=1e-9)


@pytest.mark.graded(exercise="1.3", points=2)
def test_ucb_action_matches_reference(solution, graded_rng):
    for _ in range(50):
        k = int(graded_rng.integers(2, 8))
        Q = graded_rng.normal(size=k)
        N = graded_rng.integers(0 if graded_rng.random() < 0.3 else 1, 20, size=k).astype(float)
        t = int(N.sum()) + 1
        c = float(graded_rng.uniform(0, 3))
        assert solution.ucb_action(Q, N, t, c) == reference_ucb(Q, N, t, c), (Q, N, t, c)


@pytest.mark.graded(exercise="1.4", points=3)
def test_gradient_bandit_update_matches_reference(solution, graded_rng):
    for _ in range(20):
        k = int(graded_rng.integers(2, 8))
        H = graded_rng.normal(size=k)
        H_ref = H.copy()
        a, r, baseline = (
            int(graded_rng.integers(k)),
            float(graded_rng.normal()),
            float(graded_rng.normal()),
        )
        alpha = float(graded_rng.uniform(0.01, 0.5))
        solution.gradient_bandit_update(H, a, r, baseline, alpha)
        reference_gradient_update(H_ref, a, r, baseline, alpha)
        np.testing.assert_allclose(H, H_ref, atol=1e-10)
