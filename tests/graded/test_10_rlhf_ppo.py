"""Graded tests of module 10 (RLHF with PPO): exercises 10.1-10.9."""

import copy
import dataclasses
import functools
import math

import numpy as np
import pytest
import torch

from rlhf_edu.grading.selfcheck import failure, given
from rlhf_edu.rlhf.kl_control import adaptive_kl_update as reference_adaptive_kl_update
from rlhf_edu.rlhf.kl_estimators import kl_estimator_sweep as reference_kl_estimator_sweep
from rlhf_edu.rlhf.kl_estimators import kl_estimators as reference_kl_estimators
from rlhf_edu.rlhf.ppo import RLHFParts, RLHFPPOConfig, RLHFPPOTrainer, masked_mean
from rlhf_edu.rlhf.ppo import clipped_policy_loss as reference_clipped_policy_loss
from rlhf_edu.rlhf.ppo import clipped_value_loss as reference_clipped_value_loss
from rlhf_edu.rlhf.ppo import kl_penalized_rewards as reference_kl_penalized_rewards
from rlhf_edu.rlhf.ppo import rlhf_step as reference_rlhf_step
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


# 10.6 -------------------------------------------------------------------------------------------
@pytest.mark.graded(exercise="10.6", points=1)
def test_clipped_value_loss_matches_reference(solution, graded_rng):
    for clip_range in (float(graded_rng.uniform(0.05, 0.5)), None, 0.2):
        batch, T = int(graded_rng.integers(1, 6)), int(graded_rng.integers(1, 9))
        mask = response_mask(graded_rng, batch, T)
        old_values, returns = randn(graded_rng, batch, T), randn(graded_rng, batch, T)
        values = old_values + 0.5 * randn(graded_rng, batch, T)
        got = solution.clipped_value_loss(values, old_values, returns, mask, clip_range)
        want = reference_clipped_value_loss(values, old_values, returns, mask, clip_range)
        assert float(got) == pytest.approx(float(want), abs=1e-5), (
            f"with clip_range={clip_range}: expected {float(want):.5f}, got {float(got):.5f}"
        )


@pytest.mark.graded(exercise="10.6", points=1)
def test_clipped_value_loss_is_pessimistic_halved_and_ignores_padding(solution, graded_rng):
    clip = float(graded_rng.uniform(0.1, 0.3))
    mask = torch.tensor([[1, 1, 0]])
    old_values = torch.zeros(1, 3)
    values = torch.tensor([[1.0, -1.0, 50.0]])  # token 2 is padding: its error must not count
    returns = torch.tensor([[2.0, 0.0, -50.0]])
    got = float(solution.clipped_value_loss(values, old_values, returns, mask, clip))
    # token 0: unclipped (1 - 2)^2 = 1, clipped (clip - 2)^2 is larger: the max is taken;
    # token 1: unclipped (-1 - 0)^2 = 1, clipped (-clip - 0)^2 is smaller: the max is 1
    want = 0.5 * ((clip - 2.0) ** 2 + 1.0) / 2
    assert got == pytest.approx(want, abs=1e-5), (
        f"expected {want:.4f}: 1/2 x the mean over the response tokens of the LARGER of the "
        f"clipped and unclipped squared errors; got {got:.4f}"
    )


# 10.7 -------------------------------------------------------------------------------------------
PROMPTS = [
    "Review of the pizza place:",
    "My visit to the hotel:",
    "Thoughts on the bakery:",
    "Review of the gym:",
    "A",
    "Thoughts on the sushi bar, which we visited twice last week:",
]


@functools.lru_cache(maxsize=1)
def tiny_tokenizer():
    from rlhf_edu.rlhf.corpus import generate_corpus
    from rlhf_edu.rlhf.lm import train_tokenizer

    return train_tokenizer(generate_corpus(300, seed=0), vocab_size=300)


def tiny_gpt2(seed: int):
    from transformers import GPT2LMHeadModel

    from rlhf_edu.rlhf.lm import tiny_gpt2_config

    config = tiny_gpt2_config(tiny_tokenizer(), n_layer=1, n_embd=32, n_head=2, n_positions=64)
    torch.manual_seed(seed)
    return GPT2LMHeadModel(config).eval()


def letter_reward(prompts, responses):
    """A toy reward model: the share of the letter 'e' in the response."""
    return torch.tensor([r.count("e") / max(len(r), 1) * 10 for r in responses])


def seeded_update(graded_rng, **changes):
    """The first update of a trainer on a random tiny GPT-2 (a different random reference, so the
    KL penalty is not 0), its responses cut to random lengths (padding after them):
    ``(trainer, args)``, args being rlhf_step's arguments but the model, optimizer and parts."""
    seed = int(graded_rng.integers(0, 2**31 - 1))
    config = RLHFPPOConfig(
        batch_size=8, max_new_tokens=8, ppo_epochs=2, n_minibatches=2, learning_rate=3e-3
    ).replace(**changes)
    torch.set_num_threads(1)
    trainer = RLHFPPOTrainer(
        tiny_gpt2(seed),
        tiny_tokenizer(),
        letter_reward,
        PROMPTS,
        config,
        seed=seed,
        ref_policy=tiny_gpt2(seed + 1),
    )
    rollout, minibatches = trainer.collect()
    # responses of different lengths, as if they had stopped at EOS: padding after each one's end
    # (never past a response's real end: the rollout holds no log-prob for the padding there)
    mask = response_mask(graded_rng, *rollout.response_mask.shape).to(rollout.response_mask.dtype)
    mask = mask * rollout.response_mask
    rollout = dataclasses.replace(
        rollout,
        response_mask=mask,
        logprobs=rollout.logprobs * mask,
        ref_logprobs=rollout.ref_logprobs * mask,
        values=rollout.values * mask,
    )
    scores = trainer.penalized_scores(rollout)
    return trainer, (rollout, scores, float(graded_rng.uniform(0.05, 0.5)), minibatches, config)


def run_step(step, trainer, args):
    model, optimizer = copy.deepcopy((trainer.model, trainer.optimizer))  # the same start each time
    rollout, scores, kl_coef, minibatches, config = copy.deepcopy(args)
    plan = [list(rows) for rows in minibatches]
    return step(model, optimizer, rollout, scores.clone(), kl_coef, plan, config, RLHFParts())


def close(a, b) -> bool:
    a, b = torch.as_tensor(a, dtype=torch.float32), torch.as_tensor(b, dtype=torch.float32)
    return a.shape == b.shape and torch.allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.graded(exercise="10.7", points=3)
def test_rlhf_step_matches_the_reference_update(solution, graded_rng):
    trainer, args = seeded_update(graded_rng)
    got = run_step(solution.rlhf_step, trainer, args)
    want = run_step(reference_rlhf_step, trainer, args)
    mask = args[0].response_mask.bool()
    assert isinstance(got, dict), "return a dict (see the docstring)"
    assert close(torch.as_tensor(got["rewards"])[mask], want["rewards"][mask]), (
        "the per-token rewards differ: parts.kl_penalized_rewards(scores, rollout.logprobs, "
        "rollout.ref_logprobs, rollout.response_mask, kl_coef), with the scores argument"
    )
    assert close(torch.as_tensor(got["returns"])[mask], want["returns"][mask]), (
        "the returns differ: parts.token_gae(rewards, rollout.values, mask, config.gamma, "
        "config.lam)"
    )
    assert close(torch.as_tensor(got["advantages"])[mask], want["advantages"][mask]), (
        "the advantages differ: whitened over the response tokens (mask) when "
        "config.whiten_advantages?"
    )
    n = sum(len(rows) for rows in args[3])
    assert len(got["policy_loss"]) == len(got["value_loss"]) == n, (
        f"expected one loss per minibatch ({n}: every epoch's minibatches, in the plan's order)"
    )
    assert close(got["policy_loss"][0], want["policy_loss"][0]), (
        "the first minibatch's policy loss differs: the ratio must be exactly 1 there; forward "
        "pass on prompt + response with the attention mask, old log-probs = rollout.logprobs[rows]"
    )
    assert close(got["value_loss"][0], want["value_loss"][0]), (
        "the first minibatch's value loss differs: parts.clipped_value_loss(values, "
        "rollout.values[rows], returns[rows], mask[rows], config.value_clip_range)"
    )
    assert close(got["policy_loss"], want["policy_loss"]) and close(
        got["value_loss"], want["value_loss"]
    ), (
        "the losses after the first optimizer step differ: zero_grad before each backward? loss "
        "= policy loss + config.vf_coef * value loss? gradient norm clipped to "
        "config.max_grad_norm? one optimizer.step() per minibatch?"
    )


@pytest.mark.graded(exercise="10.7", points=1)
def test_rlhf_step_trains_at_the_sampling_temperature(solution, graded_rng):
    trainer, args = seeded_update(graded_rng, temperature=0.6, n_minibatches=1)
    got = run_step(solution.rlhf_step, trainer, args)
    mask = args[0].response_mask.float()
    ratio_one_loss = -masked_mean(torch.as_tensor(got["advantages"]) * mask, mask).item()
    assert got["policy_loss"][0] == pytest.approx(ratio_one_loss, abs=1e-5), (
        "at temperature 0.6 the first minibatch's ratio is not 1: temperature applied in "
        "sampling but not in the training forward pass? (model(..., config.temperature))"
    )
    want = run_step(reference_rlhf_step, trainer, args)
    assert close(got["policy_loss"], want["policy_loss"]), "the policy losses differ at T = 0.6"


@pytest.mark.graded(exercise="10.7", points=1)
def test_rlhf_step_keeps_the_rollouts_old_logprobs_for_every_epoch(solution, graded_rng):
    trainer, args = seeded_update(graded_rng, ppo_epochs=3, n_minibatches=1, learning_rate=1e-2)
    got = run_step(solution.rlhf_step, trainer, args)
    want = run_step(reference_rlhf_step, trainer, args)
    mask = args[0].response_mask.float()
    ratio_one_loss = -masked_mean(want["advantages"] * mask, mask).item()
    assert abs(want["policy_loss"][2] - ratio_one_loss) > 1e-4  # the policy has moved by epoch 3
    assert got["policy_loss"][2] != pytest.approx(ratio_one_loss, abs=1e-6), (
        "the ratio is 1 again at the third epoch: the old log-probs must stay the rollout's "
        "(fixed, detached) for the whole update, not be recomputed from the current policy"
    )
    assert close(got["policy_loss"], want["policy_loss"]), (
        "the policy losses of the later epochs differ: old log-probs = rollout.logprobs[rows], "
        "old values = rollout.values[rows], the advantages computed once before the epochs"
    )


# 10.8 -------------------------------------------------------------------------------------------
@pytest.mark.graded(
    exercise="10.8",
    points=1,
    checks="k1, k2, k3 equal the reference's on random log-probs of random shapes",
    hint="log r = ref_logprobs - logprobs; k1 = -log r, k2 = (log r)^2 / 2, k3 = (r - 1) - log r",
)
def test_kl_estimators_match_reference(solution, graded_rng):
    for _ in range(4):
        shape = tuple(
            int(n) for n in graded_rng.integers(1, 6, size=int(graded_rng.integers(1, 3)))
        )
        logprobs = randn(graded_rng, *shape) - 2.0
        ref_logprobs = logprobs + 0.7 * randn(graded_rng, *shape)
        given(f"log-probs of shape {shape}, log-ratios of spread 0.7")
        got = solution.kl_estimators(logprobs, ref_logprobs)
        want = reference_kl_estimators(logprobs, ref_logprobs)
        assert len(got) == 3, f"expected the tuple (k1, k2, k3), got {len(got)} items"
        for name, g, w in zip(("k1", "k2", "k3"), got, want):
            assert tuple(g.shape) == shape, f"{name} has shape {tuple(g.shape)}, expected {shape}"
            flipped = reference_kl_estimators(ref_logprobs, logprobs)[
                "k1 k2 k3".split().index(name)
            ]
            ok = torch.allclose(g.float(), w, atol=1e-5, rtol=1e-5)
            assert ok, failure(
                f"{name} differs from the reference",
                "log r is ref_logprobs - logprobs (r = pi_ref / pi), not the other way round"
                if torch.allclose(g.float(), flipped, atol=1e-5, rtol=1e-5)
                else f"check the formula of {name}",
            )


@pytest.mark.graded(
    exercise="10.8",
    points=1,
    checks="k3 is never negative and stays accurate for nearly equal log-probs; k1 can be negative",
    hint="compute r - 1 as torch.expm1(log_r): exp(log_r) - 1 loses the digits when r is near 1",
)
def test_k3_is_nonnegative_and_accurate_near_r_equal_one(solution, graded_rng):
    logprobs = randn(graded_rng, 200).double()
    ref_logprobs = logprobs + torch.as_tensor(graded_rng.normal(0, 1e-7, size=200))
    given("200 samples whose log-ratios are about 1e-7 (float64)")
    k1, k2, k3 = solution.kl_estimators(logprobs, ref_logprobs)
    assert (k3 >= 0).all(), failure("k3 is negative on some samples", "k3 = (r - 1) - log r")
    assert (k1 < 0).any(), "k1 = -log r is negative where pi_ref(x) > pi(x)"
    # near r = 1, k3 = (log r)^2 / 2 + O((log r)^3): the relative error must be tiny
    assert torch.allclose(k3, k2, rtol=1e-4, atol=0), failure(
        "k3 is not close to (log r)^2 / 2 when r is within 1e-7 of 1",
        "use torch.expm1(log_r) for r - 1 (exp(log_r) - 1 cancels catastrophically)",
    )


# 10.9 -------------------------------------------------------------------------------------------
def sweep_case(rng: np.random.Generator):
    K = int(rng.integers(3, 9))
    ref_logits, direction = rng.normal(size=K), rng.normal(size=K)
    scales = np.round(rng.uniform(0.05, 1.5, size=int(rng.integers(2, 5))), 3)
    n_samples, seed = int(rng.integers(200, 600)), int(rng.integers(10_000))
    words = f"K={K} outcomes, scales {scales.tolist()}, n_samples={n_samples}, seed={seed}"
    return (ref_logits, direction, scales, n_samples, seed), words


@pytest.mark.graded(
    exercise="10.9",
    points=1,
    checks="the exact KL at each scale equals the reference's",
    hint="pi = softmax(ref_logits + scale * direction), pi_ref = softmax(ref_logits), "
    "KL = sum_x pi(x) (log pi(x) - log pi_ref(x)), a sum weighted by pi, not by pi_ref",
)
def test_kl_sweep_exact_kl_matches_reference(solution, graded_rng):
    args, words = sweep_case(graded_rng)
    given(words)
    got = solution.kl_estimator_sweep(*args)
    want = reference_kl_estimator_sweep(*args)
    assert np.asarray(got["exact"]).shape == want["exact"].shape, "one exact KL per scale"
    assert np.allclose(got["exact"], want["exact"], rtol=1e-6, atol=1e-9), failure(
        f"got {np.round(got['exact'], 5).tolist()}, expected {np.round(want['exact'], 5).tolist()}",
        "KL(pi || pi_ref) weights by pi (the policy); is it the reverse KL?",
    )


@pytest.mark.graded(
    exercise="10.9",
    points=1,
    checks="the means and stds of k1, k2, k3 equal the reference's with the same seed",
    hint="one rng = np.random.default_rng(seed) for the whole sweep, rng.choice(K, "
    "size=n_samples, p=pi) per scale in order; std with ddof=1; rows k1, k2, k3",
)
def test_kl_sweep_statistics_match_reference(solution, graded_rng):
    args, words = sweep_case(graded_rng)
    given(words)
    got = solution.kl_estimator_sweep(*args)
    want = reference_kl_estimator_sweep(*args)
    for key in ("mean", "std"):
        assert np.asarray(got[key]).shape == want[key].shape, (
            f"{key} has shape {np.asarray(got[key]).shape}, expected {want[key].shape} "
            "(rows k1, k2, k3; one column per scale)"
        )
    assert np.allclose(got["mean"], want["mean"], rtol=1e-5, atol=1e-8), failure(
        "the estimators' means differ from the reference's",
        "draws from pi (not pi_ref), the same generator across scales, your kl_estimators",
    )
    assert np.allclose(got["std"], want["std"], rtol=1e-5, atol=1e-8), failure(
        "the estimators' standard deviations differ", "Tensor.std() / np.std(ddof=1)"
    )


@pytest.mark.graded(
    exercise="10.9",
    points=1,
    checks="Schulman's claims hold: k1 and k3 unbiased, k3 tighter than k1 near the reference",
    hint="sample x ~ pi (the policy), not pi_ref: the estimators are unbiased only under pi",
)
def test_kl_sweep_k1_k3_unbiased_and_k3_tighter_near_reference(solution, graded_rng):
    K = int(graded_rng.integers(5, 12))
    ref_logits, direction = graded_rng.normal(size=K), graded_rng.normal(size=K)
    seed, n = int(graded_rng.integers(10_000)), 4000
    given(f"K={K} outcomes, scales [0.1, 0.5], n_samples={n}, seed={seed}")
    got = solution.kl_estimator_sweep(ref_logits, direction, [0.1, 0.5], n, seed)
    exact, mean, std = (np.asarray(got[key]) for key in ("exact", "mean", "std"))
    for row, name in ((0, "k1"), (2, "k3")):
        z = np.abs(mean[row] - exact) / (std[row] / np.sqrt(n))
        assert (z < 5).all(), failure(
            f"the mean of {name} is {z.max():.1f} standard errors from the exact KL",
            "samples must come from pi, the policy, and log r = log pi_ref - log pi",
        )
    assert std[2, 0] < 0.5 * std[0, 0], failure(
        f"at scale 0.1 the std of k3 ({std[2, 0]:.4g}) is not well below k1's ({std[0, 0]:.4g})",
        "k3 = (r - 1) - log r with r = pi_ref / pi",
    )
