"""Graded tests of module 08 (language models as policies): 8.1 the sampling distribution
(temperature, top-k), 8.2 the entropy per token, 8.3 the response mask up to the first EOS,
8.4 pad = EOS (find the bug), 8.5 the log-probability of a response, 8.6 the masked mean per
row, 8.7 temperature in sampling but not in training (find the bug)."""

import numpy as np
import pytest
import torch

from rlhf_edu.rlhf import generation
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


@pytest.mark.graded(exercise="8.5", points=2)
def test_sequence_logprob_matches_reference_on_random_batches(solution, graded_rng):
    for _ in range(5):
        batch, T, vocab = int(graded_rng.integers(1, 5)), int(graded_rng.integers(2, 9)), 7
        logits, input_ids, mask = random_batch(graded_rng, batch, T, vocab)
        got = solution.sequence_logprob(logits, input_ids, mask)
        want = reference_sequence_logprob(logits, input_ids, mask)
        assert tuple(got.shape) == (batch,), f"expected shape {(batch,)}, got {tuple(got.shape)}"
        torch.testing.assert_close(got.float(), want, atol=1e-4, rtol=1e-4)


@pytest.mark.graded(exercise="8.5", points=1)
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


@pytest.mark.graded(exercise="8.5", points=1)
def test_a_certain_response_has_log_probability_zero(solution, graded_rng):
    batch, T, vocab = 2, 6, 4
    input_ids = torch.as_tensor(graded_rng.integers(0, vocab, size=(batch, T)))
    logits = torch.full((batch, T, vocab), -30.0)
    for t in range(T - 1):
        logits[torch.arange(batch), t, input_ids[:, t + 1]] = 30.0  # each next token is certain
    mask = torch.ones(batch, T, dtype=torch.long)
    got = solution.sequence_logprob(logits, input_ids, mask)
    torch.testing.assert_close(got.float(), torch.zeros(batch), atol=1e-4, rtol=0)


# -- 8.1 the sampling distribution ----------------------------------------------------------------


@pytest.mark.graded(exercise="8.1", points=1)
def test_distribution_at_a_temperature_matches_the_reference(solution, graded_rng):
    logits = torch.tensor(graded_rng.normal(scale=2.0, size=(3, 4, 9)), dtype=torch.float32)
    for temperature in (
        float(graded_rng.uniform(0.3, 0.9)),
        1.0,
        float(graded_rng.uniform(1.5, 3)),
    ):
        got = solution.next_token_distribution(logits, temperature)
        want = generation.next_token_distribution(logits, temperature)
        assert tuple(got.shape) == tuple(logits.shape), (
            f"expected shape {tuple(logits.shape)}, got {tuple(got.shape)}"
        )
        if not torch.allclose(got.float(), want, atol=1e-5):
            flipped = generation.next_token_distribution(logits, 1 / temperature)
            hint = (
                " (multiplied by T instead of dividing?)"
                if torch.allclose(got.float(), flipped, atol=1e-5)
                else ""
            )
            pytest.fail(
                f"softmax(logits / T) differs from the reference at T = {temperature:.3g}{hint}"
            )


@pytest.mark.graded(exercise="8.1", points=1)
def test_top_k_keeps_exactly_the_k_largest_and_renormalises(solution, graded_rng):
    vocab = int(graded_rng.integers(6, 20))
    logits = torch.tensor(graded_rng.permutation(vocab) * 0.5, dtype=torch.float32)[None].repeat(
        2, 1
    )
    logits[1] = logits[1].flip(0)
    k = int(graded_rng.integers(1, vocab))
    temperature = float(graded_rng.uniform(0.5, 2.0))
    got = solution.next_token_distribution(logits, temperature, top_k=k)
    want = generation.next_token_distribution(logits, temperature, top_k=k)
    assert ((got > 0).sum(-1) == k).all(), (
        f"top_k={k} must leave exactly {k} tokens with probability > 0"
    )
    torch.testing.assert_close(
        got.float().sum(-1), torch.ones(2), msg="each row must sum to 1 (renormalise)"
    )
    torch.testing.assert_close(got.float(), want, atol=1e-5, rtol=1e-5)
    every = solution.next_token_distribution(logits, temperature, top_k=None)
    torch.testing.assert_close(
        every.float(), generation.next_token_distribution(logits, temperature), atol=1e-5, rtol=1e-5
    )


# -- 8.2 the entropy ------------------------------------------------------------------------------


@pytest.mark.graded(exercise="8.2", points=1)
def test_entropy_per_position_matches_the_reference(solution, graded_rng):
    logits = torch.tensor(graded_rng.normal(scale=2.0, size=(2, 5, 7)), dtype=torch.float32)
    temperature = float(graded_rng.uniform(0.4, 2.0))
    got = solution.token_entropy(logits, temperature)
    assert tuple(got.shape) == (2, 5), (
        f"one entropy per position: expected (2, 5), got {tuple(got.shape)}"
    )
    torch.testing.assert_close(
        got.float(), generation.token_entropy(logits, temperature), atol=1e-5, rtol=1e-5
    )


@pytest.mark.graded(exercise="8.2", points=1)
def test_entropy_is_log_v_for_uniform_and_zero_for_a_sure_token(solution, graded_rng):
    vocab = int(graded_rng.integers(3, 50))
    logits = torch.zeros(2, vocab)
    logits[1, int(graded_rng.integers(vocab))] = 1000.0
    got = solution.token_entropy(logits, 1.0)
    assert torch.isfinite(got).all(), (
        "NaN entropy: use log_softmax, not log(softmax(...)) (0 * log 0)"
    )
    torch.testing.assert_close(
        got.float(), torch.tensor([np.log(vocab), 0.0], dtype=torch.float32), atol=1e-4, rtol=0
    )


# -- 8.3 the response mask ------------------------------------------------------------------------


def sampled_rows(rng, batch, T, eos, pad, vocab=9):
    """Rows like a sampler's: tokens other than eos/pad, an EOS at a random step (or none), pads after."""
    ids = torch.as_tensor(rng.integers(2, vocab, size=(batch, T)))
    for i in range(batch):
        end = int(rng.integers(0, T + 1))  # T: the row never ended
        if end < T:
            ids[i, end] = eos
            ids[i, end + 1 :] = pad
    return ids


@pytest.mark.graded(exercise="8.3", points=1)
def test_response_mask_matches_the_reference_on_sampled_rows(solution, graded_rng):
    ids = sampled_rows(graded_rng, 6, int(graded_rng.integers(3, 10)), eos=0, pad=1)
    got = solution.response_mask(ids, 0)
    want = generation.response_mask(ids, 0)
    assert tuple(got.shape) == tuple(ids.shape), (
        f"expected shape {tuple(ids.shape)}, got {tuple(got.shape)}"
    )
    ends_included = bool(((got == 1) & (ids == 0)).any()) or not bool((ids == 0).any())
    assert ends_included, "the EOS token itself must be in the mask: emitting it was an action"
    torch.testing.assert_close(got.long(), want)


@pytest.mark.graded(exercise="8.3", points=1)
def test_response_mask_stops_at_the_first_eos_even_when_more_follow(solution, graded_rng):
    T = int(graded_rng.integers(5, 10))
    ids = torch.as_tensor(graded_rng.integers(2, 9, size=(2, T)))
    first = int(graded_rng.integers(0, T - 2))
    ids[0, first] = 0
    ids[0, first + 2] = 0  # a second EOS after the end (e.g. sampling did not stop)
    got = solution.response_mask(ids, 0)
    want = torch.ones(2, T, dtype=torch.long)
    want[0, first + 1 :] = 0
    torch.testing.assert_close(
        got.long(), want, msg="everything after the first EOS is outside the response"
    )


# -- 8.4 pad = EOS --------------------------------------------------------------------------------


@pytest.mark.graded(exercise="8.4", points=2)
def test_the_real_eos_counts_when_pad_is_eos(solution, graded_rng):
    batch, T = 5, int(graded_rng.integers(4, 10))
    ids = sampled_rows(graded_rng, batch, T, eos=0, pad=0)
    ids[0, : T - 2] = torch.as_tensor(graded_rng.integers(2, 9, size=T - 2))
    ids[0, T - 2 :] = 0  # row 0 surely ends with an EOS followed by one pad
    token_logprobs = torch.tensor(-graded_rng.random((batch, T)) * 3, dtype=torch.float32)
    got = solution.response_logprob_sum(token_logprobs, ids, 0)
    want = generation.response_logprob_sum(token_logprobs, ids, 0)
    buggy = (token_logprobs * (ids != 0).float()).sum(-1)
    assert tuple(got.shape) == (batch,), f"expected shape ({batch},), got {tuple(got.shape)}"
    if torch.allclose(got.float(), buggy) and not torch.allclose(buggy, want):
        pytest.fail(
            "the end token is dropped with the padding: pad = EOS, so ids != pad masks the real EOS too"
        )
    torch.testing.assert_close(
        got.float(),
        want,
        atol=1e-5,
        rtol=1e-5,
        msg="the first pad/EOS of a row counts, the later ones do not",
    )


# -- 8.6 the masked mean --------------------------------------------------------------------------


@pytest.mark.graded(exercise="8.6", points=1)
def test_per_token_mean_matches_the_reference_and_an_empty_row_is_zero(solution, graded_rng):
    batch, T = 4, int(graded_rng.integers(3, 9))
    values = torch.tensor(graded_rng.normal(size=(batch, T)), dtype=torch.float32)
    mask = torch.as_tensor(graded_rng.random((batch, T)) < 0.6).long()
    mask[0] = 0
    mask[1, 0] = 1
    got = solution.per_token_mean(values, mask)
    assert tuple(got.shape) == (batch,), (
        f"one mean per row: expected ({batch},), got {tuple(got.shape)}"
    )
    assert torch.isfinite(got).all(), (
        "a row with no masked-in token must give 0, not NaN (clamp the count)"
    )
    torch.testing.assert_close(
        got.float(), generation.per_token_mean(values, mask), atol=1e-5, rtol=1e-5
    )


# -- 8.7 temperature ------------------------------------------------------------------------------


@pytest.mark.graded(exercise="8.7", points=2)
def test_samples_at_temperature_are_scored_at_that_temperature(solution, graded_rng):
    batch, T, vocab = 3, int(graded_rng.integers(2, 7)), 6
    logits = torch.tensor(graded_rng.normal(scale=2.0, size=(batch, T, vocab)), dtype=torch.float32)
    temperature = float(graded_rng.choice([0.5, 0.7, 1.5]))
    probs = torch.softmax(logits / temperature, -1)
    generator = torch.Generator().manual_seed(int(graded_rng.integers(2**31)))
    ids = torch.multinomial(probs.reshape(-1, vocab), 1, generator=generator).reshape(batch, T)
    mask = torch.ones(batch, T, dtype=torch.long)
    mask[0, T - 1] = 0
    sampler_logprobs = torch.log(probs).gather(-1, ids[..., None]).squeeze(-1) * mask
    got = solution.response_token_logprobs(logits, ids, mask, temperature)
    at_one = torch.log_softmax(logits, -1).gather(-1, ids[..., None]).squeeze(-1) * mask
    assert tuple(got.shape) == (batch, T), f"expected shape ({batch}, {T}), got {tuple(got.shape)}"
    if torch.allclose(got.float(), at_one, atol=1e-5):
        pytest.fail(
            f"the samples were drawn at temperature {temperature} but scored at 1: the first PPO "
            "ratio is not 1 (temperature applied in sampling but not in training)"
        )
    ratio = torch.exp(got.float() - sampler_logprobs)
    torch.testing.assert_close(
        ratio,
        torch.ones_like(ratio),
        atol=1e-4,
        rtol=0,
        msg="before any update the ratio to the sampling distribution must be 1 (masked positions: 0)",
    )
