"""Graded tests of module 06 (REINFORCE): 6.1 ``discounted_returns`` and 6.2 ``reinforce_loss``."""

import pytest
import torch

from rlhf_edu.neural.reinforce import reinforce_loss as reference_loss
from rlhf_edu.neural.returns import discounted_returns as reference_returns


@pytest.mark.graded(exercise="6.1", points=1)
def test_reward_to_go_matches_the_sum_definition(solution, graded_rng):
    for _ in range(5):
        T = int(graded_rng.integers(1, 30))
        gamma = float(graded_rng.uniform(0.0, 1.0))
        rewards = torch.tensor(graded_rng.normal(size=T), dtype=torch.float64)
        expected = torch.tensor(
            [sum(gamma**k * rewards[t + k].item() for k in range(T - t)) for t in range(T)],
            dtype=torch.float64,
        )
        got = torch.as_tensor(solution.discounted_returns(rewards, gamma), dtype=torch.float64)
        torch.testing.assert_close(got, expected)


@pytest.mark.graded(exercise="6.1", points=1)
def test_reward_to_go_restarts_at_dones_and_handles_envs(solution, graded_rng):
    T, n = int(graded_rng.integers(2, 20)), int(graded_rng.integers(1, 4))
    rewards = torch.tensor(graded_rng.normal(size=(T, n)))
    dones = torch.tensor(graded_rng.random((T, n)) < 0.3, dtype=torch.float64)
    gamma = float(graded_rng.uniform(0.5, 1.0))
    got = solution.discounted_returns(rewards, gamma, dones)
    torch.testing.assert_close(
        torch.as_tensor(got, dtype=torch.float64), reference_returns(rewards, gamma, dones)
    )


@pytest.mark.graded(exercise="6.2", points=1)
def test_reinforce_loss_matches_the_reference(solution, graded_rng):
    n = int(graded_rng.integers(2, 50))
    logprobs = torch.tensor(-graded_rng.random(n))
    returns = torch.tensor(graded_rng.normal(size=n))
    baselines = torch.tensor(graded_rng.normal(size=n))
    torch.testing.assert_close(
        solution.reinforce_loss(logprobs, returns), reference_loss(logprobs, returns)
    )
    torch.testing.assert_close(
        solution.reinforce_loss(logprobs, returns, baselines),
        reference_loss(logprobs, returns, baselines),
    )


@pytest.mark.graded(exercise="6.2", points=1)
def test_reinforce_loss_gradient_flows_to_the_policy_only(solution, graded_rng):
    n = int(graded_rng.integers(2, 50))
    logprobs = torch.tensor(-graded_rng.random(n), requires_grad=True)
    returns = torch.tensor(graded_rng.normal(size=n))
    baselines = torch.tensor(graded_rng.normal(size=n), requires_grad=True)
    solution.reinforce_loss(logprobs, returns, baselines).backward()
    # d loss / d logprob_t = -(G_t - b_t) / n; the baseline gets no gradient from this loss
    torch.testing.assert_close(logprobs.grad, -(returns - baselines.detach()) / n)
    assert baselines.grad is None or torch.all(baselines.grad == 0)
