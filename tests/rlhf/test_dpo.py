"""DPO: the loss and a short training run on a tiny random GPT-2."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from helpers.tiny_gpt2 import tiny_policy, tiny_tokenizer

from rlhf_edu.rlhf.dpo import DPOConfig, dpo_loss, response_logprobs, train_dpo
from rlhf_edu.rlhf.preferences import PreferencePair


def test_dpo_loss_is_log_2_when_policy_equals_reference():
    lp = torch.randn(5)
    assert dpo_loss(lp, lp - 1, lp, lp - 1, beta=0.1).item() == pytest.approx(math.log(2))


def test_dpo_loss_matches_the_formula_and_falls_as_the_chosen_margin_grows():
    g = torch.Generator().manual_seed(0)
    pc, pr, rc, rr = (torch.randn(8, generator=g) for _ in range(4))
    expected = -F.logsigmoid(0.5 * ((pc - rc) - (pr - rr))).mean()
    torch.testing.assert_close(dpo_loss(pc, pr, rc, rr, 0.5), expected)
    assert dpo_loss(pc + 1, pr, rc, rr, 0.5) < dpo_loss(pc, pr, rc, rr, 0.5)


@pytest.mark.parametrize("beta", [0.0, -0.1, float("inf")])
def test_dpo_loss_rejects_a_non_positive_beta(beta):
    x = torch.zeros(2)
    with pytest.raises(ValueError, match="beta"):
        dpo_loss(x, x, x, x, beta)


def test_response_logprobs_do_not_depend_on_padding_in_the_batch():
    policy, tok = tiny_policy(), tiny_tokenizer()
    prompts = ["A", "Thoughts on the bakery, twice:"]
    responses = [" The bread was good.", " Bad."]
    with torch.no_grad():
        together = response_logprobs(policy, tok, prompts, responses)
        alone = torch.cat(
            [response_logprobs(policy, tok, [p], [r]) for p, r in zip(prompts, responses)]
        )
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)


def test_train_dpo_learns_to_prefer_the_chosen_responses():
    torch.set_num_threads(1)
    pairs = [
        PreferencePair("Review of the hotel:", " The room was great.", " The room was awful."),
        PreferencePair("Review of the gym:", " The class was great.", " The class was awful."),
        PreferencePair("Thoughts on the bakery:", " The cake was great.", " The cake was awful."),
    ] * 4
    policy, tok = tiny_policy(), tiny_tokenizer()
    result = train_dpo(
        policy, tok, pairs, DPOConfig(beta=0.5, learning_rate=3e-3, batch_size=6, epochs=5)
    )
    loss = result.history["loss"]
    assert loss[0] == pytest.approx(math.log(2), abs=1e-4)
    assert loss[-1] < 0.5 * loss[0]
    assert result.history["accuracy"][-1] == 1.0
    assert not any(p.requires_grad for p in result.ref_policy.parameters())


def test_train_dpo_refuses_empty_pairs_and_bad_config():
    with pytest.raises(ValueError, match="pairs is empty"):
        train_dpo(tiny_policy(), tiny_tokenizer(), [])
    with pytest.raises(ValueError, match="beta"):
        DPOConfig(beta=0.0)


def test_optimal_kl_policy_maximises_the_objective_and_its_implicit_reward_is_r_plus_a_constant():
    import numpy as np

    from rlhf_edu.rlhf.dpo import implicit_reward, kl_regularized_objective, optimal_kl_policy

    ref = np.array([0.4, 0.3, 0.2, 0.1])
    r = np.array([1.0, -0.5, 2.0, 0.0])
    beta = 0.7
    pi_star = optimal_kl_policy(ref, r, beta)
    assert pi_star.sum() == pytest.approx(1.0)
    best = kl_regularized_objective(pi_star, ref, r, beta)
    rng = np.random.default_rng(0)
    for _ in range(200):
        q = pi_star * np.exp(rng.normal(scale=0.3, size=4))
        assert kl_regularized_objective(q / q.sum(), ref, r, beta) <= best + 1e-12
    # the objective at pi* is beta log Z
    assert best == pytest.approx(beta * np.log(np.sum(ref * np.exp(r / beta))))
    shift = implicit_reward(pi_star, ref, beta) - r
    np.testing.assert_allclose(shift, np.full(4, shift[0]), atol=1e-12)
    assert kl_regularized_objective(np.array([0, 0, 1.0, 0]), ref, r, beta) == pytest.approx(
        2.0 - beta * np.log(1 / 0.2)
    )
    assert optimal_kl_policy(ref, r, 1e-4)[2] == pytest.approx(1.0)  # no overflow
    with pytest.raises(ValueError, match="ref_probs"):
        optimal_kl_policy(np.array([0.5, 0.6]), np.zeros(2), beta)


def test_train_dpo_runs_the_step_it_is_given():
    from rlhf_edu.rlhf.dpo import dpo_step

    torch.set_num_threads(1)
    pairs = [
        PreferencePair("Review of the hotel:", " The room was great.", " The room was awful."),
        PreferencePair("Review of the gym:", " The class was great.", " The class was awful."),
    ] * 2
    config = DPOConfig(beta=0.5, learning_rate=3e-3, batch_size=2, epochs=1)
    calls = []

    def step(policy, tokenizer, optimizer, batch, beta, max_grad_norm):
        calls.append(sorted(batch))
        return dpo_step(policy, tokenizer, optimizer, batch, beta, max_grad_norm)

    default = train_dpo(tiny_policy(), tiny_tokenizer(), pairs, config)
    given = train_dpo(tiny_policy(), tiny_tokenizer(), pairs, config, step=step)
    assert len(calls) == 2
    assert calls[0] == ["chosen", "prompts", "ref_chosen_logps", "ref_rejected_logps", "rejected"]
    assert given.history["loss"] == default.history["loss"]
    assert given.history["loss"][0] == pytest.approx(math.log(2), abs=1e-4)
    with pytest.raises(TypeError, match="step"):
        train_dpo(tiny_policy(), tiny_tokenizer(), pairs, config, step=3)
