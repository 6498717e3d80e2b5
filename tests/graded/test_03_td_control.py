"""Graded tests of module 03 (TD control): exercises 3.1-3.4."""

import numpy as np
import pytest

from rlhf_edu.tabular import td as reference


def random_case(rng: np.random.Generator):
    n_states, n_actions = int(rng.integers(2, 6)), int(rng.integers(2, 5))
    Q = rng.normal(size=(n_states, n_actions))
    s, s_next = int(rng.integers(n_states)), int(rng.integers(n_states))
    a, a_next = int(rng.integers(n_actions)), int(rng.integers(n_actions))
    r = float(rng.normal())
    alpha, gamma = float(rng.uniform(0.05, 1.0)), float(rng.uniform(0.0, 1.0))
    return Q, s, a, r, s_next, a_next, alpha, gamma


@pytest.mark.graded(exercise="3.1", points=2)
def test_sarsa_update_matches_reference_terminal_or_not(solution, graded_rng):
    for i in range(30):
        Q, s, a, r, s_next, a_next, alpha, gamma = random_case(graded_rng)
        terminated = i % 3 == 0
        Q_ref = Q.copy()
        solution.sarsa_update(Q, s, a, r, s_next, a_next, terminated, alpha, gamma)
        reference.sarsa_update(Q_ref, s, a, r, s_next, a_next, terminated, alpha, gamma)
        np.testing.assert_allclose(Q, Q_ref, atol=1e-12)


@pytest.mark.graded(exercise="3.2", points=1)
def test_q_learning_update_does_not_bootstrap_from_terminal_states(solution, graded_rng):
    Q, s, a, r, s_next, _, alpha, gamma = random_case(graded_rng)
    Q[s_next] += 100.0
    before = Q[s, a]
    solution.q_learning_update(Q, s, a, r, s_next, True, alpha, gamma)
    if s != s_next:
        assert Q[s, a] == pytest.approx(before + alpha * (r - before))


@pytest.mark.graded(exercise="3.2", points=2)
def test_q_learning_update_matches_reference(solution, graded_rng):
    for i in range(30):
        Q, s, a, r, s_next, _, alpha, gamma = random_case(graded_rng)
        terminated = i % 4 == 0
        Q_ref = Q.copy()
        solution.q_learning_update(Q, s, a, r, s_next, terminated, alpha, gamma)
        reference.q_learning_update(Q_ref, s, a, r, s_next, terminated, alpha, gamma)
        np.testing.assert_allclose(Q, Q_ref, atol=1e-12)


@pytest.mark.graded(exercise="3.3", points=3)
def test_expected_sarsa_update_matches_reference_including_ties(solution, graded_rng):
    for i in range(30):
        Q, s, a, r, s_next, _, alpha, gamma = random_case(graded_rng)
        if i % 2:
            Q[s_next, :2] = Q[s_next].max() + 0.5  # two greedy actions share 1 - epsilon
        epsilon = float(graded_rng.uniform(0, 1))
        terminated = i % 5 == 0
        Q_ref = Q.copy()
        solution.expected_sarsa_update(Q, s, a, r, s_next, terminated, alpha, gamma, epsilon)
        reference.expected_sarsa_update(Q_ref, s, a, r, s_next, terminated, alpha, gamma, epsilon)
        np.testing.assert_allclose(Q, Q_ref, atol=1e-10)


@pytest.mark.graded(exercise="3.4", points=3)
def test_double_q_update_matches_reference_for_both_tables(solution, graded_rng):
    for i in range(30):
        Q1, s, a, r, s_next, _, alpha, gamma = random_case(graded_rng)
        Q2 = graded_rng.normal(size=Q1.shape)
        update_first, terminated = bool(i % 2), i % 5 == 0
        Q1_ref, Q2_ref = Q1.copy(), Q2.copy()
        solution.double_q_update(Q1, Q2, s, a, r, s_next, terminated, alpha, gamma, update_first)
        reference.double_q_update(
            Q1_ref, Q2_ref, s, a, r, s_next, terminated, alpha, gamma, update_first
        )
        np.testing.assert_allclose(Q1, Q1_ref, atol=1e-12)
        np.testing.assert_allclose(Q2, Q2_ref, atol=1e-12)
