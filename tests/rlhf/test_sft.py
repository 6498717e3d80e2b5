"""Supervised fine-tuning: the loss counts response tokens only, and training imitates them."""

from __future__ import annotations

import pytest
import torch
from helpers.tiny_gpt2 import tiny_policy, tiny_tokenizer

from rlhf_edu.rlhf.generation import position_ids_from_mask
from rlhf_edu.rlhf.lm import encode_prompt_response
from rlhf_edu.rlhf.sft import SFTConfig, sft_loss, train_sft

PROMPTS = ["Review of the pizza place:", "My visit to the hotel:"] * 8
RESPONSES = [" The food was great.", " The room was clean."] * 8


def mean_response_nll(model, tokenizer) -> float:
    batch = encode_prompt_response(tokenizer, PROMPTS, RESPONSES)
    with torch.no_grad():
        logits = model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            position_ids=position_ids_from_mask(batch["attention_mask"]),
        ).logits
    return float(sft_loss(logits, batch["input_ids"], batch["response_mask"]))


def test_sft_loss_is_the_mean_nll_of_response_tokens_and_ignores_the_prompt():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7)
    input_ids = torch.tensor([[1, 2, 3, 4, 5], [6, 6, 2, 3, 0]])
    response_mask = torch.tensor([[0, 0, 1, 1, 1], [0, 0, 0, 1, 0]])
    logprobs = torch.log_softmax(logits, -1)
    expected = -(logprobs[0, 1, 3] + logprobs[0, 2, 4] + logprobs[0, 3, 5] + logprobs[1, 2, 3]) / 4
    torch.testing.assert_close(sft_loss(logits, input_ids, response_mask), expected)
    changed_prompt = input_ids.clone()
    changed_prompt[:, 1] = 0  # a prompt token is never a target
    torch.testing.assert_close(sft_loss(logits, changed_prompt, response_mask), expected)
    with pytest.raises(ValueError, match="no response token"):
        sft_loss(logits, input_ids, torch.zeros_like(response_mask))


def test_training_lowers_the_demonstrations_nll_and_is_seeded():
    tokenizer = tiny_tokenizer()
    config = SFTConfig(batch_size=8, epochs=10, learning_rate=1e-2)
    model = tiny_policy(seed=0)
    before = mean_response_nll(model, tokenizer)
    history = train_sft(model, tokenizer, PROMPTS, RESPONSES, config, seed=1)
    after = mean_response_nll(model, tokenizer)
    assert after < 0.5 * before, (before, after)
    assert len(history) == 20 and history.rows[-1]["loss"] < history.rows[0]["loss"]
    again = tiny_policy(seed=0)
    train_sft(again, tokenizer, PROMPTS, RESPONSES, config, seed=1)
    for a, b in zip(model.parameters(), again.parameters()):
        assert torch.equal(a, b)


def test_bad_demonstrations_and_configs_are_errors_that_name_the_problem():
    tokenizer, model = tiny_tokenizer(), tiny_policy(seed=0)
    with pytest.raises(ValueError, match="same length"):
        train_sft(model, tokenizer, PROMPTS, RESPONSES[:-1])
    with pytest.raises(ValueError, match=r"responses\[1\] is empty"):
        train_sft(model, tokenizer, ["a", "b"], [" x", "  "])
    with pytest.raises(TypeError, match="single string"):
        train_sft(model, tokenizer, "a prompt", [" x"])
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        SFTConfig(batch_size=0)
    with pytest.raises(ValueError, match="learning_rate"):
        SFTConfig(learning_rate=0.0)


def test_labeler_demonstrations_keep_each_prompts_highest_utility_sample():
    from helpers.tiny_gpt2 import PROMPTS

    from rlhf_edu.rlhf.best_of_n import best_of_n
    from rlhf_edu.rlhf.sft import labeler_demonstrations

    def utility(prompt: str, response: str) -> float:
        return response.count("e") - 0.1 * len(response)

    model, tokenizer = tiny_policy(), tiny_tokenizer()
    responses, utilities = labeler_demonstrations(
        model, tokenizer, PROMPTS, utility, n=4, max_new_tokens=6, seed=3
    )
    drafts = best_of_n(
        model, tokenizer, PROMPTS, lambda p, r: torch.zeros(len(r)), n=4, max_new_tokens=6, seed=3
    ).candidates  # the same seeded samples, unranked
    for prompt, response, value, candidates in zip(PROMPTS, responses, utilities, drafts):
        assert value == pytest.approx(max(utility(prompt, c) for c in candidates))
        assert response in candidates and utility(prompt, response) == pytest.approx(value)
    with pytest.raises(TypeError, match="utility"):
        labeler_demonstrations(model, tokenizer, PROMPTS, "mix", n=2)
