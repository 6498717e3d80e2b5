"""Graded tests of module 10 (RLHF with PPO): exercises 10.1-10.5."""

import math

import numpy as np
import pytest
import torch

from rlhf_edu.rlhf.kl_control import adaptive_kl_update as reference_adaptive_kl_update
from rlhf_edu.rlhf.ppo import clipped_policy_loss as reference_clipped_policy_loss
from rlhf_edu.rlhf.ppo import kl_penalized_rewards as reference_kl_penalized_rewards
from rlhf_edu.rlhf.ppo import token_gae as reference_token_gae
from rlhf_edu.rlhf.ppo import whiten as reference_whiten


def response_mask(rng: np.random.Generator, batch: int, T: int) -> torch.Tensor:
    """1 for the first L_i tokens of row i (1 <= L_i <= T), 0 after: responses that ended at EOS."""
    lengths = rng.integers(1, T + 1, size=batch)
    lengths[0] = T  # at least one response uses every position
    return (torch.arange(T)[None, :] < torch.as_tensor(lengths)[:, None]).long()


def randn(rng: np.random.Generator, *shape: int) -> torch.Tensor:
    return torch.as_tensor(rng.normal(size=shape), dtype=torch.float32)


# 10.1 -------------------------------------------------------------------------------------------
@pytest.mark.graded(exercise="10.1", points=2)
def test_kl_penalized_rewards_match_reference_on_random_batches(solution, graded_rng):
    for _ in range(5):
        batch, T = int(graded_rng.integers(1, 7)), int(graded_rng.integers(1, 9))
        mask = response_mask(graded_rng, batch, T)
        logprobs, ref_logprobs = randn(graded_rng, batch, T), randn(graded_rng, batch, T)
        scores = randn(graded_rng, batch)
        kl_coef = float(graded_rng.uniform(0, 0.5))
        got = solution.kl_penalized_rewards(scores, logprobs, ref_logprobs, mask, kl_coef)
        want = reference_kl_penalized_rewards(scores, logprobs, ref_logprobs, mask, kl_coef)
        assert tuple(got.shape) == (batch, T), (
            f"expected shape {(batch, T)}, got {tuple(got.shape)}"
        )
        torch.testing.assert_close(got.float(), want, atol=1e-5, rtol=1e-5)


@pytest.mark.graded(exercise="10.1", points=1)
def test_score_lands_on_the_last_response_token_and_padding_gets_nothing(solution, graded_rng):
    batch, T = 4, 6
    mask = response_mask(graded_rng, batch, T)
    logprobs = randn(graded_rng, batch, T)
    scores = randn(graded_rng, batch)
    got = solution.kl_penalized_rewards(scores, logprobs, logprobs.clone(), mask, 0.3)
    last = mask.sum(1) - 1
    for i in range(batch):
        assert got[i, last[i]].item() == pytest.approx(scores[i].item(), abs=1e-6), (
            f"row {i}: the score belongs on token {last[i].item()}, the last one the mask keeps"
        )
    assert (got[mask == 0] == 0).all(), "positions after EOS (mask 0) must carry no reward"


# 10.2 -------------------------------------------------------------------------------------------
@pytest.mark.graded(exercise="10.2", points=1)
def test_whiten_matches_reference_with_and_without_mean_shift(solution, graded_rng):
    for shift_mean in (True, False):
        batch, T = int(graded_rng.integers(2, 7)), int(graded_rng.integers(2, 9))
        mask = response_mask(graded_rng, batch, T)
        values = randn(graded_rng, batch, T) * 3 + 1
        got = solution.whiten(values, mask, shift_mean=shift_mean)
        want = reference_whiten(values, mask, shift_mean=shift_mean)
        torch.testing.assert_close((got * mask).float(), want, atol=1e-4, rtol=1e-4)


@pytest.mark.graded(exercise="10.2", points=1)
def test_whiten_ignores_whatever_sits_in_the_padding(solution, graded_rng):
    mask = response_mask(graded_rng, 5, 7)
    values = randn(graded_rng, 5, 7)
    garbage = values.clone()
    garbage[mask == 0] = float(graded_rng.uniform(100, 1000))
    a = solution.whiten(values, mask) * mask
    b = solution.whiten(garbage, mask) * mask
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


# 10.3 -------------------------------------------------------------------------------------------
@pytest.mark.graded(exercise="10.3", points=2)
def test_token_gae_matches_reference(solution, graded_rng):
    for _ in range(4):
        batch, T = int(graded_rng.integers(1, 6)), int(graded_rng.integers(1, 9))
        mask = response_mask(graded_rng, batch, T)
        rewards = randn(graded_rng, batch, T) * mask
        values = randn(graded_rng, batch, T)
        lam = float(graded_rng.uniform(0.5, 1.0))
        got_adv, got_ret = solution.token_gae(rewards, values, mask, 1.0, lam)
        want_adv, want_ret = reference_token_gae(rewards, values, mask, 1.0, lam)
        torch.testing.assert_close((got_adv * mask).float(), want_adv, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close((got_ret * mask).float(), want_ret, atol=1e-5, rtol=1e-5)


@pytest.mark.graded(exercise="10.3", points=1)
def test_token_gae_with_lambda_one_is_reward_to_go_minus_value(solution, graded_rng):
    mask = response_mask(graded_rng, 4, 6)
    rewards = randn(graded_rng, 4, 6) * mask
    values = randn(graded_rng, 4, 6)
    advantages, _ = solution.token_gae(rewards, values, mask, 1.0, 1.0)
    reward_to_go = rewards.flip(1).cumsum(1).flip(1)
    torch.testing.assert_close(
        (advantages * mask).float(), (reward_to_go - values) * mask, atol=1e-5, rtol=1e-5
    )


# 10.4 -------------------------------------------------------------------------------------------
@pytest.mark.graded(exercise="10.4", points=1)
def test_clipped_policy_loss_matches_reference(solution, graded_rng):
    for _ in range(5):
        batch, T = int(graded_rng.integers(1, 6)), int(graded_rng.integers(1, 9))
        mask = response_mask(graded_rng, batch, T)
        old = randn(graded_rng, batch, T)
        new = old + 0.5 * randn(graded_rng, batch, T)
        advantages = randn(graded_rng, batch, T)
        clip = float(graded_rng.uniform(0.05, 0.4))
        got = solution.clipped_policy_loss(new, old, advantages, mask, clip)
        want = reference_clipped_policy_loss(new, old, advantages, mask, clip)
        assert float(got) == pytest.approx(float(want), abs=1e-5)


@pytest.mark.graded(exercise="10.4", points=1)
def test_clipped_policy_loss_gives_no_gradient_beyond_the_clip(solution, graded_rng):
    clip = float(graded_rng.uniform(0.1, 0.3))
    mask = torch.ones(1, 2)
    old = torch.zeros(1, 2)
    new = torch.log(torch.tensor([[1 + 2 * clip, 1 - 2 * clip]])).requires_grad_()
    advantages = torch.tensor([[1.0, -1.0]])  # both tokens pushed past the clip in their direction
    loss = solution.clipped_policy_loss(new, old, advantages, mask, clip)
    loss.backward()
    assert torch.allclose(new.grad, torch.zeros_like(new.grad)), (
        "once the ratio is past 1 +/- clip in the advantage's direction, the gradient must vanish"
    )
    # objective per token: min(r A, clip(r) A) = (1 + clip) * 1 and (1 - clip) * -1
    assert float(loss.detach()) == pytest.approx(-((1 + clip) - (1 - clip)) / 2, abs=1e-5)


# 10.5 -------------------------------------------------------------------------------------------
@pytest.mark.graded(exercise="10.5", points=1)
def test_adaptive_kl_update_matches_reference(solution, graded_rng):
    for _ in range(10):
        beta = float(graded_rng.uniform(0.01, 1.0))
        target = float(graded_rng.uniform(1, 10))
        kl = float(graded_rng.uniform(0, 20))
        horizon = float(graded_rng.uniform(500, 20000))
        n = int(graded_rng.integers(1, 512))
        got = solution.adaptive_kl_update(beta, kl, target, horizon, n)
        want = reference_adaptive_kl_update(beta, kl, target, horizon, n)
        assert got == pytest.approx(want, rel=1e-9)


@pytest.mark.graded(exercise="10.5", points=1)
def test_adaptive_kl_update_direction_and_clipping(solution, graded_rng):
    beta, target, horizon, n = 0.2, 6.0, 1000.0, int(graded_rng.integers(10, 100))
    assert solution.adaptive_kl_update(beta, 12.0, target, horizon, n) > beta, "KL above target"
    assert solution.adaptive_kl_update(beta, 3.0, target, horizon, n) < beta, "KL below target"
    assert solution.adaptive_kl_update(beta, target, target, horizon, n) == pytest.approx(beta)
    huge = solution.adaptive_kl_update(beta, 1000.0, target, horizon, n)
    assert huge == pytest.approx(beta * (1 + 0.2 * n / horizon)), "the error is clipped at +0.2"
    assert math.isfinite(huge)
