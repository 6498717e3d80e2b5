"""The pure pieces of RLHF PPO: per-token KL rewards, masked whitening, GAE over tokens, the
clipped losses and the KL controllers."""

from __future__ import annotations

import pytest
import torch

from rlhf_edu.neural.returns import compute_gae
from rlhf_edu.rlhf.kl_control import AdaptiveKLController, FixedKLController
from rlhf_edu.rlhf.ppo import (
    RLHFPPOConfig,
    clipped_policy_loss,
    clipped_value_loss,
    kl_penalized_rewards,
    masked_mean,
    token_gae,
    whiten,
)

MASK = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])


def test_kl_penalized_rewards_put_penalty_on_tokens_and_score_on_last_token():
    g = torch.Generator().manual_seed(0)
    logprobs = torch.randn(3, 5, generator=g)
    ref_logprobs = torch.randn(3, 5, generator=g)
    scores = torch.tensor([1.0, -2.0, 3.0])
    rewards = kl_penalized_rewards(scores, logprobs, ref_logprobs, MASK, kl_coef=0.2)
    expected = -0.2 * (logprobs - ref_logprobs) * MASK
    expected[0, 2] += 1.0
    expected[1, 4] += -2.0
    expected[2, 0] += 3.0
    torch.testing.assert_close(rewards, expected)
    assert (rewards[MASK == 0] == 0).all()


def test_kl_penalized_rewards_with_zero_coef_are_the_scores_alone():
    logprobs = torch.randn(3, 5)
    rewards = kl_penalized_rewards(torch.ones(3), logprobs, logprobs + 1, MASK, 0.0)
    assert rewards.sum().item() == pytest.approx(3.0)


def test_kl_penalized_rewards_reject_negative_coef_and_empty_rows():
    lp = torch.zeros(3, 5)
    with pytest.raises(ValueError, match="kl_coef"):
        kl_penalized_rewards(torch.zeros(3), lp, lp, MASK, -0.1)
    with pytest.raises(ValueError, match="all-zero mask"):
        kl_penalized_rewards(torch.zeros(3), lp, lp, MASK * torch.tensor([[1], [1], [0]]), 0.1)
    with pytest.raises(ValueError, match="scores"):
        kl_penalized_rewards(torch.zeros(2), lp, lp, MASK, 0.1)


def test_whiten_uses_only_masked_positions():
    values = torch.randn(3, 5)
    garbage = values.clone()
    garbage[MASK == 0] = 1e6  # padding must not move the statistics
    a, b = whiten(values, MASK), whiten(garbage, MASK)
    torch.testing.assert_close(a, b)
    assert masked_mean(a, MASK).abs() < 1e-6
    n = MASK.sum()
    var = ((a - masked_mean(a, MASK)) ** 2 * MASK).sum() / (n - 1)
    assert var.item() == pytest.approx(1.0, rel=1e-4)
    assert (a[MASK == 0] == 0).all()


def test_whiten_without_mean_shift_keeps_the_mean():
    values = torch.randn(3, 5) + 5.0
    out = whiten(values, MASK, shift_mean=False)
    assert masked_mean(out, MASK).item() == pytest.approx(
        masked_mean(values, MASK).item(), rel=1e-5
    )


def test_token_gae_with_lambda_one_is_reward_to_go_minus_value_and_zero_on_padding():
    rewards = torch.randn(3, 5) * MASK
    values = torch.randn(3, 5)
    advantages, returns = token_gae(rewards, values, MASK, gamma=1.0, lam=1.0)
    reward_to_go = (rewards * MASK).flip(1).cumsum(1).flip(1) * MASK
    torch.testing.assert_close(advantages, (reward_to_go - values) * MASK)
    torch.testing.assert_close(returns, reward_to_go)
    assert (advantages[MASK == 0] == 0).all()


def test_token_gae_matches_compute_gae_on_each_unpadded_response():
    rewards, values = torch.randn(3, 5), torch.randn(3, 5)
    advantages, _ = token_gae(rewards, values, MASK, gamma=1.0, lam=0.9)
    for i in range(3):
        n = int(MASK[i].sum())
        dones = torch.zeros(n)
        dones[-1] = 1
        expected, _ = compute_gae(rewards[i, :n], values[i, :n], dones, torch.tensor(0.0), 1.0, 0.9)
        torch.testing.assert_close(advantages[i, :n], expected)


def test_clipped_policy_loss_is_minus_mean_advantage_at_ratio_one():
    advantages = torch.randn(3, 5)
    lp = torch.randn(3, 5)
    loss = clipped_policy_loss(lp, lp, advantages, MASK, 0.2)
    assert loss.item() == pytest.approx(-masked_mean(advantages, MASK).item(), rel=1e-6)


def test_clipped_policy_loss_ignores_ratio_beyond_the_clip_for_positive_advantages():
    mask = torch.ones(1, 2)
    advantages = torch.tensor([[1.0, 1.0]])
    old = torch.zeros(1, 2)
    new = torch.log(torch.tensor([[2.0, 3.0]])).requires_grad_()
    loss = clipped_policy_loss(new, old, advantages, mask, 0.2)
    assert loss.item() == pytest.approx(-1.2)
    loss.backward()
    assert (new.grad == 0).all()  # clipped: no incentive to move further


def test_clipped_value_loss_takes_the_larger_error_and_none_means_plain_mse():
    mask = torch.ones(1, 1)
    old, returns = torch.zeros(1, 1), torch.ones(1, 1)
    values = torch.full((1, 1), 0.9)  # moved 0.9 from old; clipped to 0.2 -> error 0.8^2
    assert clipped_value_loss(values, old, returns, mask, 0.2).item() == pytest.approx(0.5 * 0.64)
    assert clipped_value_loss(values, old, returns, mask, None).item() == pytest.approx(0.5 * 0.01)


def test_adaptive_kl_controller_raises_beta_above_target_and_lowers_it_below():
    ctl = AdaptiveKLController(0.1, target=4.0, horizon=1000)
    assert ctl.update(8.0, 100) == pytest.approx(0.1 * (1 + 0.2 * 0.1))  # error clipped at +0.2
    ctl = AdaptiveKLController(0.1, target=4.0, horizon=1000)
    assert ctl.update(3.6, 100) == pytest.approx(0.1 * (1 - 0.1 * 0.1))
    ctl = AdaptiveKLController(0.1, target=4.0, horizon=1000)
    assert ctl.update(4.0, 100) == pytest.approx(0.1)


@pytest.mark.parametrize("target", [0.0, -1.0, float("nan")])
def test_kl_target_must_be_positive(target):
    with pytest.raises(ValueError, match="kl_target"):
        AdaptiveKLController(0.1, target=target, horizon=1000)
    with pytest.raises(ValueError, match="kl_target"):
        RLHFPPOConfig(kl_target=target)


def test_fixed_kl_controller_never_moves():
    ctl = FixedKLController(0.0)
    assert ctl.update(100.0, 64) == 0.0


@pytest.mark.parametrize(
    "field, value",
    [
        ("batch_size", 0),
        ("clip_range", 0.0),
        ("lam", 1.5),
        ("temperature", 0.0),
        ("n_minibatches", 0),
    ],
)
def test_config_rejects_out_of_range_values_naming_the_field(field, value):
    with pytest.raises((ValueError, TypeError), match=field):
        RLHFPPOConfig(**{field: value})


def test_config_refuses_adaptive_kl_from_zero():
    with pytest.raises(ValueError, match="init_kl_coef"):
        RLHFPPOConfig(init_kl_coef=0.0, adaptive_kl=True)
    assert RLHFPPOConfig(init_kl_coef=0.0, adaptive_kl=False).init_kl_coef == 0.0
