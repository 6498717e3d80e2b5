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
