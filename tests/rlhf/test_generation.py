"""The LM plumbing lives once, in ``rlhf.generation``: padding, position ids, log-probs, sampling
and the evaluation of a policy on prompts; ``lm`` re-exports what notebook 08 teaches."""

from __future__ import annotations

import pytest
import torch
from helpers.tiny_gpt2 import PROMPTS, letter_reward, tiny_policy, tiny_tokenizer

from rlhf_edu.rlhf import generation, lm
from rlhf_edu.rlhf.ppo import RLHFPPOConfig, RLHFPPOTrainer, _derived_seed


def test_pad_rows_pads_on_either_side_and_masks_the_padding():
    ids, mask = generation.pad_rows([[5, 6, 7], [8]], pad_value=1, side="left")
    assert ids.tolist() == [[5, 6, 7], [1, 1, 8]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    ids, mask = generation.pad_rows([[5, 6, 7], [8]], pad_value=1, side="right")
    assert ids.tolist() == [[5, 6, 7], [8, 1, 1]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    with pytest.raises(ValueError, match="padding_side"):
        generation.pad_rows([[1]], 0, side="middle")
    with pytest.raises(ValueError, match="rows is empty"):
        generation.pad_rows([], 0)


def test_position_ids_count_real_tokens_only():
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    assert generation.position_ids_from_mask(mask).tolist() == [[0, 0, 0, 1, 2], [0, 1, 2, 3, 4]]


def test_lm_reexports_the_one_implementation_of_each_piece():
    assert lm.position_ids_from_mask is generation.position_ids_from_mask
    assert lm.token_logprobs is generation.token_logprobs
    assert lm.sequence_logprob is generation.sequence_logprob
    assert lm.disable_dropout is generation.disable_dropout
    assert lm.quiet_transformers is generation.quiet_transformers
    # the text sampler of notebooks 08-09 (transformers' generate) under its taught name
    assert lm.sample_responses is generation.generate_responses


def test_full_sequence_and_response_only_logprobs_agree():
    """``token_logprobs`` (notebook 08: one pass over the whole sequence) and the response-only
    pass that PPO and DPO use give the same log-probabilities of the response tokens."""
    tokenizer, policy = tiny_tokenizer(), tiny_policy()
    batch = generation.encode_prompts(tokenizer, PROMPTS, 4, 64)
    response = torch.randint(2, len(tokenizer), (len(PROMPTS), 4), generator=torch.Generator())
    ids = torch.cat([batch.input_ids, response], 1)
    mask = torch.cat([batch.attention_mask, torch.ones_like(response)], 1)
    with torch.no_grad():
        full = generation.token_logprobs(policy, ids, mask, temperature=0.7)[:, -4:]
        logits, _ = generation.response_logits_and_hidden(policy, ids, mask, 4, 0.7)
        only_response = generation.logprobs_from_logits(logits, response)
    torch.testing.assert_close(full, only_response, rtol=1e-5, atol=1e-5)


def test_trainer_evaluate_is_sample_and_score_with_the_trainers_settings():
    tokenizer = tiny_tokenizer()
    config = RLHFPPOConfig(batch_size=4, max_new_tokens=8, temperature=0.7)
    utility = lambda prompt, response: float(len(response))  # noqa: E731
    trainer = RLHFPPOTrainer(
        tiny_policy(), tokenizer, letter_reward, PROMPTS, config, seed=0, true_utility=utility
    )
    prompts = PROMPTS * 2
    out = trainer.evaluate(prompts, seed=3)
    evaluation = generation.sample_and_score(
        trainer.policy,
        trainer.ref_policy,
        tokenizer,
        prompts,
        letter_reward,
        utility,
        max_new_tokens=8,
        temperature=0.7,
        batch_size=4,
        generator=torch.Generator().manual_seed(_derived_seed(3, 0, 99)),
    )
    assert out["responses"] == evaluation.responses
    assert out["reward"] == pytest.approx(evaluation.reward, rel=1e-6)
    assert out["kl"] == pytest.approx(evaluation.kl, abs=1e-6)
    assert out["true_utility"] == pytest.approx(evaluation.true_utility)
    assert out["eos_fraction"] == pytest.approx(evaluation.eos_fraction)


def test_sample_and_score_is_seeded_and_refuses_bad_input():
    tokenizer, policy = tiny_tokenizer(), tiny_policy()
    kwargs = {"max_new_tokens": 8, "seed": 1}
    first = generation.sample_and_score(policy, policy, tokenizer, PROMPTS, letter_reward, **kwargs)
    again = generation.sample_and_score(policy, policy, tokenizer, PROMPTS, letter_reward, **kwargs)
    assert first.responses == again.responses and first.kl == 0.0
    with pytest.raises(TypeError, match="single string"):
        generation.sample_and_score(policy, policy, tokenizer, "a prompt", letter_reward, **kwargs)
    with pytest.raises(ValueError, match="non-finite scores"):
        generation.sample_and_score(
            policy, policy, tokenizer, PROMPTS, lambda p, r: [float("nan")] * len(r), **kwargs
        )
