"""Graded tests of module 06 (REINFORCE): 6.1-6.2 the policy-gradient theorem checked on a softmax
bandit, 6.3 ``discounted_returns``, 6.4 the G_0 find-the-bug, 6.5 ``reinforce_loss`` and 6.6 the
training loop ``reinforce_loop``."""

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlhf_edu.neural import reinforce as reference
from rlhf_edu.neural.returns import discounted_returns as reference_returns


def random_bandit(rng):
    n_arms = int(rng.integers(2, 7))
    return rng.normal(size=n_arms) * 2, rng.normal(size=n_arms)


# 6.1 exact gradient ---------------------------------------------------------------------------


@pytest.mark.graded(exercise="6.1", points=1)
def test_exact_bandit_gradient_matches_finite_differences(solution, graded_rng):
    theta, rewards = random_bandit(graded_rng)
    got = np.asarray(solution.softmax_bandit_gradient(theta, rewards), dtype=np.float64)

    def objective(t):
        pi = np.exp(t - t.max())
        return (pi / pi.sum()) @ rewards

    eps = 1e-6
    numeric = np.array(
        [
            (objective(theta + eps * e) - objective(theta - eps * e)) / (2 * eps)
            for e in np.eye(len(theta))
        ]
    )
    np.testing.assert_allclose(got, numeric, atol=1e-6, err_msg="d J / d theta, J = pi . r")


@pytest.mark.graded(exercise="6.1", points=1)
def test_exact_bandit_gradient_matches_the_reference_and_is_stable(solution, graded_rng):
    for _ in range(5):
        theta, rewards = random_bandit(graded_rng)
        np.testing.assert_allclose(
            solution.softmax_bandit_gradient(theta, rewards),
            reference.softmax_bandit_gradient(theta, rewards),
            atol=1e-10,
        )
    theta = np.array([800.0, 799.0, 0.0])  # exp(800) overflows: subtract the max first
    got = np.asarray(solution.softmax_bandit_gradient(theta, np.array([1.0, 0.0, 0.0])))
    assert np.all(np.isfinite(got)), "softmax overflowed: subtract max(theta) before exp"
    np.testing.assert_allclose(
        got, reference.softmax_bandit_gradient(theta, np.array([1.0, 0.0, 0.0])), atol=1e-10
    )


# 6.2 score-function estimate ------------------------------------------------------------------


@pytest.mark.graded(exercise="6.2", points=2)
def test_score_function_estimate_matches_the_reference_draw_for_draw(solution, graded_rng):
    for _ in range(3):
        theta, rewards = random_bandit(graded_rng)
        seed, n = int(graded_rng.integers(10_000)), int(graded_rng.integers(1, 200))
        got = solution.score_function_gradient(theta, rewards, n, np.random.default_rng(seed))
        want = reference.score_function_gradient(theta, rewards, n, np.random.default_rng(seed))
        np.testing.assert_allclose(
            got,
            want,
            atol=1e-10,
            err_msg="mean of r(a_i) (onehot(a_i) - pi), actions from one "
            "rng.choice(n_arms, size=n_samples, p=pi)",
        )


@pytest.mark.graded(exercise="6.2", points=1)
def test_score_function_estimate_is_unbiased(solution, graded_rng):
    theta, rewards = random_bandit(graded_rng)
    rng = np.random.default_rng(int(graded_rng.integers(10_000)))
    estimate = np.asarray(solution.score_function_gradient(theta, rewards, 200_000, rng))
    exact = reference.softmax_bandit_gradient(theta, rewards)
    pi = reference.softmax_probs(theta)
    # standard error of the mean: at most |r|_max * 2 / sqrt(n); allow 6 of them
    tolerance = 6 * 2 * np.abs(rewards).max() / np.sqrt(200_000)
    assert np.abs(estimate - exact).max() < tolerance, (
        "the estimate does not average to the exact gradient: weight by r(a) and use "
        "grad log pi(a) = onehot(a) - pi"
    )
    assert pi.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError):
        solution.score_function_gradient(theta, rewards, 0, rng)


# 6.3 discounted_returns -----------------------------------------------------------------------


@pytest.mark.graded(exercise="6.3", points=1)
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
        torch.testing.assert_close(got, expected, msg="G_t = rewards[t] + gamma * G_{t+1}")


@pytest.mark.graded(exercise="6.3", points=1)
def test_reward_to_go_restarts_at_dones_and_handles_envs(solution, graded_rng):
    T, n = int(graded_rng.integers(2, 20)), int(graded_rng.integers(1, 4))
    rewards = torch.tensor(graded_rng.normal(size=(T, n)))
    dones = torch.tensor(graded_rng.random((T, n)) < 0.3, dtype=torch.float64)
    gamma = float(graded_rng.uniform(0.5, 1.0))
    got = solution.discounted_returns(rewards, gamma, dones)
    torch.testing.assert_close(
        torch.as_tensor(got, dtype=torch.float64), reference_returns(rewards, gamma, dones)
    )


# 6.4 find the bug: episode_policy_loss --------------------------------------------------------


def episode_inputs(rng):
    T = int(rng.integers(3, 25))
    logprobs = torch.tensor(-rng.random(T) * 2, requires_grad=True)
    rewards = torch.tensor(rng.normal(size=T))
    return logprobs, rewards, float(rng.uniform(0.5, 1.0))


@pytest.mark.graded(exercise="6.4", points=1)
def test_each_step_is_weighted_by_its_reward_to_go_not_g0(solution, graded_rng):
    logprobs, rewards, gamma = episode_inputs(graded_rng)
    solution.episode_policy_loss(logprobs, rewards, gamma).backward()
    weights = -logprobs.grad
    rtg = reference_returns(rewards, gamma)
    g0 = torch.full_like(rtg, rtg[0].item())
    assert not torch.allclose(weights, g0), (
        "every step is weighted by G_0, the whole episode's return: use the reward-to-go G_t"
    )
    torch.testing.assert_close(weights, rtg, msg="d loss / d logprobs[t] should be -G_t")


@pytest.mark.graded(exercise="6.4", points=1)
def test_fixed_episode_loss_matches_the_reference(solution, graded_rng):
    for _ in range(3):
        logprobs, rewards, gamma = episode_inputs(graded_rng)
        got = solution.episode_policy_loss(logprobs, rewards, gamma)
        want = reference.episode_policy_loss(logprobs, rewards, gamma)
        assert got.shape == (), "return a scalar: the sum over the episode's steps"
        torch.testing.assert_close(got, want)


# 6.5 reinforce_loss ---------------------------------------------------------------------------


@pytest.mark.graded(exercise="6.5", points=1)
def test_reinforce_loss_matches_the_reference(solution, graded_rng):
    n = int(graded_rng.integers(2, 50))
    logprobs = torch.tensor(-graded_rng.random(n))
    returns = torch.tensor(graded_rng.normal(size=n))
    baselines = torch.tensor(graded_rng.normal(size=n))
    torch.testing.assert_close(
        solution.reinforce_loss(logprobs, returns), reference.reinforce_loss(logprobs, returns)
    )
    torch.testing.assert_close(
        solution.reinforce_loss(logprobs, returns, baselines),
        reference.reinforce_loss(logprobs, returns, baselines),
    )


@pytest.mark.graded(exercise="6.5", points=1)
def test_reinforce_loss_gradient_flows_to_the_policy_only(solution, graded_rng):
    n = int(graded_rng.integers(2, 50))
    logprobs = torch.tensor(-graded_rng.random(n), requires_grad=True)
    returns = torch.tensor(graded_rng.normal(size=n))
    baselines = torch.tensor(graded_rng.normal(size=n), requires_grad=True)
    solution.reinforce_loss(logprobs, returns, baselines).backward()
    # d loss / d logprob_t = -(G_t - b_t) / n; the baseline gets no gradient from this loss
    torch.testing.assert_close(logprobs.grad, -(returns - baselines.detach()) / n)
    assert baselines.grad is None or torch.all(baselines.grad == 0), (
        "gradient reached the baseline: detach it in the policy loss"
    )


# 6.6 reinforce_loop ---------------------------------------------------------------------------


def small_policy(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))


@pytest.mark.graded(exercise="6.6", points=3)
def test_seeded_loop_matches_the_reference_run(solution, graded_rng):
    seed = int(graded_rng.integers(1000))
    use_baseline = bool(graded_rng.random() < 0.5)
    policy = small_policy(seed)
    args = (6, 4, 0.99, 0.02, seed, use_baseline)
    want = reference.reinforce_loop(gym.make("CartPole-v1"), copy.deepcopy(policy), *args)
    got = solution.reinforce_loop(gym.make("CartPole-v1"), copy.deepcopy(policy), *args)
    assert len(got) == len(want), "return one mean episode return per update"
    assert got[0] == pytest.approx(want[0]), (
        "the first batch of episodes differs: torch.manual_seed(seed) once at the start, "
        "run_episode(env, policy, seed=seed) for the first episode only"
    )
    assert np.allclose(got, want, rtol=1e-6), (
        f"use_baseline={use_baseline}: after the first update the returns differ from the "
        f"reference's ({np.round(got, 1).tolist()} vs {np.round(want, 1).tolist()}): check the "
        "reward-to-go per episode (not G_0, not across episodes), the batch-mean baseline, "
        "reinforce_loss (a mean) and one Adam step per update"
    )


@pytest.mark.graded(exercise="6.6", points=2)
def test_loop_learns_cartpole_within_a_small_budget(solution, graded_rng):
    seed = int(graded_rng.integers(3))
    returns = solution.reinforce_loop(
        gym.make("CartPole-v1"), small_policy(seed), 15, 8, 0.99, 0.02, seed
    )
    assert len(returns) == 15
    early, late = np.mean(returns[:3]), np.mean(returns[-5:])
    # the reference goes from 20 / 27 / 16 to 75 / 87 / 46 (seeds 0 / 1 / 2)
    assert late > 2 * early and late > 35, (
        f"the mean return went from {early:.1f} to {late:.1f} in 120 episodes: does the step "
        "descend -log pi * advantage (sign), with the returns detached?"
    )
    with pytest.raises(ValueError):
        solution.reinforce_loop(gym.make("CartPole-v1"), small_policy(0), 0, 4, 0.99, 0.01, 0)
