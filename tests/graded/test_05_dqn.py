"""Graded tests of module 05 (DQN): exercises 5.1 ``td_target`` and 5.2 ``linear_epsilon``."""

import pytest
import torch

from rlhf_edu.neural.dqn import linear_epsilon as reference_epsilon
from rlhf_edu.neural.dqn import td_target as reference_td_target


def random_batch(rng):
    batch, n_actions = int(rng.integers(2, 20)), int(rng.integers(2, 6))
    rewards = torch.tensor(rng.normal(size=batch), dtype=torch.float32)
    next_q = torch.tensor(rng.normal(size=(batch, n_actions)) * 5, dtype=torch.float32)
    terminated = torch.tensor(rng.random(batch) < 0.4, dtype=torch.float32)
    return rewards, next_q, terminated, float(rng.uniform(0.5, 1.0))


@pytest.mark.graded(exercise="5.1", points=1)
def test_td_target_bootstraps_from_the_max_next_q_value(solution, graded_rng):
    rewards, next_q, _, gamma = random_batch(graded_rng)
    terminated = torch.zeros_like(rewards)
    got = solution.td_target(rewards, next_q, terminated, gamma)
    torch.testing.assert_close(got, rewards + gamma * next_q.max(dim=-1).values)


@pytest.mark.graded(exercise="5.1", points=1)
def test_td_target_of_a_terminal_transition_is_the_reward(solution, graded_rng):
    rewards, next_q, _, gamma = random_batch(graded_rng)
    got = solution.td_target(rewards, next_q, torch.ones_like(rewards), gamma)
    torch.testing.assert_close(got, rewards)


@pytest.mark.graded(exercise="5.1", points=1)
def test_td_target_matches_the_reference_on_random_batches(solution, graded_rng):
    for _ in range(10):
        rewards, next_q, terminated, gamma = random_batch(graded_rng)
        torch.testing.assert_close(
            solution.td_target(rewards, next_q, terminated, gamma),
            reference_td_target(rewards, next_q, terminated, gamma),
        )


@pytest.mark.graded(exercise="5.2", points=1)
def test_epsilon_starts_at_start_and_stays_at_end_after_the_decay(solution, graded_rng):
    start, end = float(graded_rng.uniform(0.5, 1.0)), float(graded_rng.uniform(0.0, 0.1))
    decay = int(graded_rng.integers(10, 1000))
    assert solution.linear_epsilon(0, start, end, decay) == pytest.approx(start)
    assert solution.linear_epsilon(decay, start, end, decay) == pytest.approx(end)
    assert solution.linear_epsilon(decay * 3, start, end, decay) == pytest.approx(end)


@pytest.mark.graded(exercise="5.2", points=1)
def test_epsilon_decays_linearly_like_the_reference(solution, graded_rng):
    start, end = float(graded_rng.uniform(0.5, 1.0)), float(graded_rng.uniform(0.0, 0.1))
    decay = int(graded_rng.integers(10, 1000))
    for step in graded_rng.integers(0, 2 * decay, size=20):
        assert solution.linear_epsilon(int(step), start, end, decay) == pytest.approx(
            reference_epsilon(int(step), start, end, decay)
        )
