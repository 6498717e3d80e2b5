"""Graded tests of module 07 (actor-critic, PPO): 7.1 ``compute_gae``, 7.2 the clipped loss,
7.3 the value loss, 7.4 the entropy, 7.5 advantage normalisation, 7.6 the detached old
log-probs (find the bug), 7.7 the PPO update (epochs x minibatches)."""

import copy

import numpy as np
import pytest
import torch

from rlhf_edu.neural import ppo
from rlhf_edu.neural.networks import ActorCritic
from rlhf_edu.neural.ppo import PPOConfig
from rlhf_edu.neural.ppo import categorical_entropy as reference_entropy
from rlhf_edu.neural.ppo import clipped_surrogate_loss as reference_clipped
from rlhf_edu.neural.ppo import normalize_advantages as reference_normalize
from rlhf_edu.neural.ppo import value_loss as reference_value_loss
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


@pytest.mark.graded(exercise="7.3", points=1)
def test_value_loss_without_clipping_is_half_the_mean_squared_error(solution, graded_rng):
    n = int(graded_rng.integers(2, 40))
    values = torch.tensor(graded_rng.normal(size=n))
    returns = torch.tensor(graded_rng.normal(size=n))
    got = solution.value_loss(values, returns)
    want = 0.5 * ((values - returns) ** 2).mean()
    assert not torch.isclose(got, 2 * want), (
        "the loss is mean((V - G)^2): the factor 1/2 is missing"
    )
    torch.testing.assert_close(got, want)
    # old values without a clip coefficient change nothing
    torch.testing.assert_close(solution.value_loss(values, returns, values + 5.0, None), want)


@pytest.mark.graded(exercise="7.3", points=1)
def test_clipped_value_loss_matches_the_reference_and_its_gradient(solution, graded_rng):
    for _ in range(4):
        n = int(graded_rng.integers(2, 40))
        old = torch.tensor(graded_rng.normal(size=n))
        values = (old + torch.tensor(graded_rng.normal(size=n))).requires_grad_(True)
        values_ref = values.detach().clone().requires_grad_(True)
        returns = torch.tensor(graded_rng.normal(size=n))
        clip = float(graded_rng.uniform(0.1, 0.5))
        got = solution.value_loss(values, returns, old, clip)
        want = reference_value_loss(values_ref, returns, old, clip)
        min_version = (
            0.5
            * torch.min(
                (values_ref - returns) ** 2,
                (old + (values_ref - old).clamp(-clip, clip) - returns) ** 2,
            ).mean()
        )
        assert not torch.isclose(got, min_version) or torch.isclose(want, min_version), (
            "took the min of the two squared errors: PPO's value clipping takes the max"
        )
        torch.testing.assert_close(got, want)
        got.backward()
        want.backward()
        torch.testing.assert_close(values.grad, values_ref.grad)


@pytest.mark.graded(exercise="7.4", points=1)
def test_entropy_matches_the_reference_per_row(solution, graded_rng):
    n, k = int(graded_rng.integers(1, 20)), int(graded_rng.integers(2, 7))
    logits = torch.tensor(graded_rng.normal(scale=2.0, size=(n, k)))
    got = solution.categorical_entropy(logits)
    assert tuple(got.shape) == (n,), (
        f"expected one entropy per row, shape ({n},), got {tuple(got.shape)}"
    )
    torch.testing.assert_close(got, reference_entropy(logits))


@pytest.mark.graded(exercise="7.4", points=1)
def test_entropy_is_log_k_for_uniform_and_zero_for_a_sure_action_with_huge_logits(
    solution, graded_rng
):
    k = int(graded_rng.integers(2, 9))
    logits = torch.zeros(2, k, dtype=torch.float64)
    logits[1, int(graded_rng.integers(k))] = 1000.0  # softmax underflows to exact 0 elsewhere
    got = solution.categorical_entropy(logits)
    assert torch.isfinite(got).all(), "NaN/inf entropy: use log_softmax, not log(softmax(...))"
    torch.testing.assert_close(got, torch.tensor([np.log(k), 0.0], dtype=torch.float64))


@pytest.mark.graded(exercise="7.5", points=1)
def test_advantage_normalisation_matches_the_reference_and_keeps_a_single_sample(
    solution, graded_rng
):
    n = int(graded_rng.integers(2, 64))
    advantages = torch.tensor(graded_rng.normal(3.0, 5.0, size=n))
    got = solution.normalize_advantages(advantages)
    torch.testing.assert_close(got, reference_normalize(advantages))
    one = torch.tensor([float(graded_rng.normal())], dtype=torch.float64)
    got_one = solution.normalize_advantages(one)
    assert torch.isfinite(got_one).all(), "a single sample has no std: return it unchanged"
    torch.testing.assert_close(got_one, one)


@pytest.mark.graded(exercise="7.6", points=2)
def test_first_epoch_loss_has_the_policy_gradient_not_zero(solution, graded_rng):
    n, k = int(graded_rng.integers(3, 20)), int(graded_rng.integers(2, 6))
    logits = torch.tensor(graded_rng.normal(size=(n, k)), requires_grad=True)
    actions = torch.tensor(graded_rng.integers(0, k, size=n))
    advantages = torch.tensor(graded_rng.normal(size=n))
    loss = solution.first_epoch_policy_loss(logits, actions, advantages, 0.2)
    torch.testing.assert_close(
        loss.detach(), -advantages.mean(), msg="the loss's value must be -mean(A)"
    )
    loss.backward()
    one_hot = torch.nn.functional.one_hot(actions, k).double()
    policy_gradient = -(advantages[:, None] * (one_hot - torch.softmax(logits.detach(), -1))) / n
    assert logits.grad is not None and logits.grad.abs().max() > 0, (
        "the gradient is zero: old log-probs not detached? pi_old must be a constant "
        "(the ratio exp(x - x) has derivative 0)"
    )
    torch.testing.assert_close(
        logits.grad,
        policy_gradient,
        msg="the gradient must be the policy gradient -mean(A grad log pi(a|s)); old log-probs not detached?",
    )


# -- 7.7 the update ------------------------------------------------------------------------------

KEYS = ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction")


def update_problem(rng, n=16, obs_dim=3, n_actions=3):
    seed = int(rng.integers(2**31))
    torch.manual_seed(seed)
    net = ActorCritic(obs_dim, n_actions, (8,))
    obs = torch.tensor(rng.normal(size=(n, obs_dim)), dtype=torch.float32)
    actions = torch.tensor(rng.integers(0, n_actions, size=n))
    with torch.no_grad():
        # an old policy a little different from the net, so ratios start away from 1
        logprobs = torch.log_softmax(net.logits(obs), -1).gather(-1, actions[:, None]).squeeze(-1)
        logprobs = logprobs + torch.tensor(rng.normal(scale=0.1, size=n), dtype=torch.float32)
        values = net.value(obs) + torch.tensor(rng.normal(scale=0.3, size=n), dtype=torch.float32)
    advantages = torch.tensor(rng.normal(2.0, 3.0, size=n), dtype=torch.float32)
    batch = {
        "obs": obs,
        "actions": actions,
        "logprobs": logprobs,
        "values": values,
        "advantages": advantages,
        "returns": advantages + values,
    }
    return net, batch, seed


def run_update(update_fn, net, batch, config, seed):
    net = copy.deepcopy(net)
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-2, eps=1e-5)
    return update_fn(net, optimizer, batch, config, torch.Generator().manual_seed(seed))


def matches(got, want, keys=KEYS):
    return all(
        len(got.get(k, [])) == len(want[k]) and np.allclose(got[k], want[k], atol=1e-5, rtol=1e-4)
        for k in keys
    )


CONFIG = PPOConfig(
    n_envs=4,
    n_steps=4,
    n_epochs=3,
    minibatch_size=8,
    entropy_coef=0.05,
    clip_value_coef=0.2,
    max_grad_norm=0.5,
)
#: bugs a student's update may have -> the reference run that has them
VARIANTS = {
    "advantages not normalised per minibatch?": {"normalize_advantages": False},
    "entropy bonus missing?": {"entropy_coef": 0.0},
    "entropy added to the loss instead of subtracted?": {"entropy_coef": -0.05},
    "value loss not clipped with config.clip_value_coef?": {"clip_value_coef": None},
    "gradient norm not clipped to config.max_grad_norm?": {"max_grad_norm": 1e9},
    "value loss not weighted by config.value_coef?": {"value_coef": 1.0},
}


@pytest.mark.graded(exercise="7.7", points=1)
def test_update_takes_one_step_per_minibatch_per_epoch_and_starts_from_pi_old(solution, graded_rng):
    net, batch, seed = update_problem(graded_rng)
    config = PPOConfig(n_envs=4, n_steps=4, n_epochs=2, minibatch_size=4)
    got = run_update(solution.ppo_update, net, batch, config, seed)
    missing = [k for k in KEYS if k not in got]
    assert not missing, f"the diagnostics lack {missing}"
    for k in KEYS:
        assert len(got[k]) == 2 * 4, (
            f"{k}: {len(got[k])} values, expected n_epochs * (B / minibatch_size) = 2 * 4 = 8 "
            "(one per minibatch step)"
        )
    want = run_update(ppo.ppo_update, net, batch, config, seed)
    assert np.isclose(got["approx_kl"][0], want["approx_kl"][0], atol=1e-6), (
        "the first minibatch's approx_kl differs: are the old log-probs batch['logprobs'] "
        "(and log_ratio = new - old)?"
    )


@pytest.mark.graded(exercise="7.7", points=3)
def test_update_matches_the_reference_minibatch_by_minibatch(solution, graded_rng):
    net, batch, seed = update_problem(graded_rng)
    got = run_update(solution.ppo_update, net, batch, CONFIG, seed)
    want = run_update(ppo.ppo_update, net, batch, CONFIG, seed)
    if matches(got, want):
        return
    for hint, change in VARIANTS.items():
        variant = copy.copy(CONFIG)  # setattr: a buggy setting need not pass PPOConfig's checks
        for name, value in change.items():
            setattr(variant, name, value)
        if matches(got, run_update(ppo.ppo_update, net, batch, variant, seed)):
            pytest.fail(f"your update matches the reference with {change}: {hint}")
    first = next(
        (
            i
            for i in range(len(want["policy_loss"]))
            if any(
                i >= len(got.get(k, []))
                or not np.isclose(got[k][i], want[k][i], atol=1e-5, rtol=1e-4)
                for k in KEYS
            )
        ),
        None,
    )
    pytest.fail(
        f"the diagnostics first differ at minibatch step {first} (of {len(want['policy_loss'])}); "
        "if step 0 already differs, check the loss terms and the permutation (one "
        "torch.randperm(B, generator=generator) per epoch, minibatches in order); if a later step "
        "differs, check zero_grad / backward / clip_grad_norm_ / step"
    )


@pytest.mark.graded(exercise="7.7", points=1)
def test_update_ignores_nothing_in_the_config(solution, graded_rng):
    net, batch, seed = update_problem(graded_rng, n=24)
    config = PPOConfig(
        n_envs=4,
        n_steps=6,
        n_epochs=2,
        minibatch_size=12,
        clip_coef=0.1,
        value_coef=0.8,
        entropy_coef=0.02,
        max_grad_norm=0.3,
        normalize_advantages=False,
    )
    got = run_update(solution.ppo_update, net, batch, config, seed)
    want = run_update(ppo.ppo_update, net, batch, config, seed)
    assert matches(got, want), (
        "with clip_coef 0.1, value_coef 0.8, entropy_coef 0.02, max_grad_norm 0.3, no value "
        "clipping and normalize_advantages False the diagnostics differ from the reference: "
        "read every setting from config"
    )
