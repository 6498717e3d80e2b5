"""Graded tests of module 07 (actor-critic, PPO): 7.1 ``compute_gae``, 7.2 the clipped loss."""

import pytest
import torch

from rlhf_edu.neural.ppo import clipped_surrogate_loss as reference_clipped
from rlhf_edu.neural.returns import compute_gae as reference_gae


def random_rollout(rng):
    T, n = int(rng.integers(1, 25)), int(rng.integers(1, 5))
    rewards = torch.tensor(rng.normal(size=(T, n)))
    values = torch.tensor(rng.normal(size=(T, n)))
    dones = torch.tensor(rng.random((T, n)) < 0.2, dtype=torch.float64)
    last_value = torch.tensor(rng.normal(size=n))
    return rewards, values, dones, last_value


@pytest.mark.graded(exercise="7.1", points=1)
def test_gae_with_lambda_zero_is_the_td_error(solution, graded_rng):
    rewards, values, _, last_value = random_rollout(graded_rng)
    dones = torch.zeros_like(rewards)
    gamma = float(graded_rng.uniform(0.5, 1.0))
    advantages, returns = solution.compute_gae(rewards, values, dones, last_value, gamma, 0.0)
    next_values = torch.cat([values[1:], last_value[None]])
    torch.testing.assert_close(advantages, rewards + gamma * next_values - values)
    torch.testing.assert_close(returns, advantages + values)


@pytest.mark.graded(exercise="7.1", points=2)
def test_gae_matches_the_reference_with_terminations(solution, graded_rng):
    for _ in range(5):
        rewards, values, dones, last_value = random_rollout(graded_rng)
        gamma, lam = float(graded_rng.uniform(0.5, 1.0)), float(graded_rng.uniform(0.0, 1.0))
        got = solution.compute_gae(rewards, values, dones, last_value, gamma, lam)
        expected = reference_gae(rewards, values, dones, last_value, gamma, lam)
        torch.testing.assert_close(got[0], expected[0])
        torch.testing.assert_close(got[1], expected[1])


@pytest.mark.graded(exercise="7.2", points=1)
def test_clipped_loss_is_minus_the_advantage_when_the_ratio_is_one(solution, graded_rng):
    n = int(graded_rng.integers(2, 50))
    logprobs = torch.tensor(-graded_rng.random(n))
    advantages = torch.tensor(graded_rng.normal(size=n))
    got = solution.clipped_surrogate_loss(logprobs, logprobs.clone(), advantages, 0.2)
    torch.testing.assert_close(got, -advantages.mean())


@pytest.mark.graded(exercise="7.2", points=2)
def test_clipped_loss_matches_the_reference_and_its_gradient(solution, graded_rng):
    for _ in range(5):
        n = int(graded_rng.integers(2, 50))
        old = torch.tensor(-graded_rng.random(n))
        new = (old + torch.tensor(graded_rng.normal(size=n) * 0.5)).requires_grad_(True)
        new_ref = new.detach().clone().requires_grad_(True)
        advantages = torch.tensor(graded_rng.normal(size=n))
        clip = float(graded_rng.uniform(0.05, 0.4))
        got = solution.clipped_surrogate_loss(new, old, advantages, clip)
        expected = reference_clipped(new_ref, old, advantages, clip)
        torch.testing.assert_close(got, expected)
        got.backward()
        expected.backward()
        # clipped samples pass no gradient
        torch.testing.assert_close(new.grad, new_ref.grad)
