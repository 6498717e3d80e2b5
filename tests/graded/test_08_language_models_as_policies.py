"""Graded tests of module 08 (language models as policies): exercise 8.1."""

import numpy as np
import pytest
import torch

from rlhf_edu.rlhf.lm import sequence_logprob as reference_sequence_logprob


def random_batch(rng: np.random.Generator, batch: int, T: int, vocab: int):
    """Random logits, token ids and a response mask: a prompt of P_i tokens, then a response of
    R_i >= 1 tokens, then padding (mask 0)."""
    logits = torch.as_tensor(rng.normal(scale=2.0, size=(batch, T, vocab)), dtype=torch.float32)
    input_ids = torch.as_tensor(rng.integers(0, vocab, size=(batch, T)))
    mask = torch.zeros(batch, T, dtype=torch.long)
    for i in range(batch):
        prompt = int(rng.integers(1, T))
        end = int(rng.integers(prompt + 1, T + 1))
        mask[i, prompt:end] = 1
    return logits, input_ids, mask


@pytest.mark.graded(exercise="8.1", points=2)
def test_sequence_logprob_matches_reference_on_random_batches(solution, graded_rng):
    for _ in range(5):
        batch, T, vocab = int(graded_rng.integers(1, 5)), int(graded_rng.integers(2, 9)), 7
        logits, input_ids, mask = random_batch(graded_rng, batch, T, vocab)
        got = solution.sequence_logprob(logits, input_ids, mask)
        want = reference_sequence_logprob(logits, input_ids, mask)
        assert tuple(got.shape) == (batch,), f"expected shape {(batch,)}, got {tuple(got.shape)}"
        torch.testing.assert_close(got.float(), want, atol=1e-4, rtol=1e-4)


@pytest.mark.graded(exercise="8.1", points=1)
def test_masked_tokens_and_their_logits_do_not_count(solution, graded_rng):
    logits, input_ids, mask = random_batch(graded_rng, 3, 8, 5)
    before = solution.sequence_logprob(logits, input_ids, mask)
    changed_ids, changed_logits = input_ids.clone(), logits.clone()
    masked_positions = mask == 0
    masked_positions[:, 0] = True  # the first token is never predicted
    changed_ids[masked_positions] = (changed_ids[masked_positions] + 1) % 5
    # logits at t predict token t + 1: change the logits whose prediction is not counted
    predicts_masked = torch.zeros_like(mask, dtype=torch.bool)
    predicts_masked[:, :-1] = mask[:, 1:] == 0
    predicts_masked[:, -1] = True  # the last logits predict nothing
    changed_logits[predicts_masked] += 3.0 * torch.randn(int(predicts_masked.sum()), 5)
    after = solution.sequence_logprob(changed_logits, changed_ids, mask)
    assert tuple(after.shape) == (3,), f"expected shape (3,), got {tuple(after.shape)}"
    torch.testing.assert_close(
        after.float(),
        before.float(),
        atol=1e-5,
        rtol=1e-5,
        msg="prompt and padding tokens (mask 0), and the logits that predict them, must not count",
    )


@pytest.mark.graded(exercise="8.1", points=1)
def test_a_certain_response_has_log_probability_zero(solution, graded_rng):
    batch, T, vocab = 2, 6, 4
    input_ids = torch.as_tensor(graded_rng.integers(0, vocab, size=(batch, T)))
    logits = torch.full((batch, T, vocab), -30.0)
    for t in range(T - 1):
        logits[torch.arange(batch), t, input_ids[:, t + 1]] = 30.0  # each next token is certain
    mask = torch.ones(batch, T, dtype=torch.long)
    got = solution.sequence_logprob(logits, input_ids, mask)
    torch.testing.assert_close(got.float(), torch.zeros(batch), atol=1e-4, rtol=0)
