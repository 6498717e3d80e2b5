"""The LM-policy pieces notebook 08 has students write: the sampling distribution, entropy, the
response mask, pad = EOS, per-token means and scoring at the sampling temperature."""

import math

import pytest
import torch

from rlhf_edu.rlhf import generation


def test_next_token_distribution_applies_temperature_and_top_k():
    logits = torch.tensor([[0.0, 0.0, math.log(2.0)]])
    torch.testing.assert_close(
        generation.next_token_distribution(logits), torch.tensor([[0.25, 0.25, 0.5]])
    )
    torch.testing.assert_close(
        generation.next_token_distribution(logits, 1.0, top_k=1), torch.tensor([[0.0, 0.0, 1.0]])
    )
    # ties with the k-th largest are kept
    torch.testing.assert_close(
        generation.next_token_distribution(torch.zeros(1, 3), 1.0, top_k=1),
        torch.full((1, 3), 1 / 3),
    )
    sharp = generation.next_token_distribution(logits, 0.1)
    assert float(sharp[0, 2]) > 0.99
    with pytest.raises(ValueError, match="temperature"):
        generation.next_token_distribution(logits, 0.0)
    with pytest.raises(ValueError, match="top_k"):
        generation.next_token_distribution(logits, 1.0, top_k=0)


def test_token_entropy_is_log_v_for_uniform_and_finite_for_huge_logits():
    logits = torch.zeros(2, 3, 4)
    logits[1, 0, 2] = 1000.0
    got = generation.token_entropy(logits)
    assert got.shape == (2, 3)
    assert float(got[0, 0]) == pytest.approx(math.log(4), abs=1e-6)
    assert float(got[1, 0]) == pytest.approx(0.0, abs=1e-6)


def test_response_mask_includes_the_first_eos_and_nothing_after():
    ids = torch.tensor([[5, 0, 1, 1], [3, 4, 5, 6], [0, 7, 0, 1]])
    torch.testing.assert_close(
        generation.response_mask(ids, 0), torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]])
    )


def test_response_logprob_sum_counts_the_real_eos_when_pad_is_eos():
    ids = torch.tensor([[5, 7, 0, 0, 0], [4, 6, 8, 9, 3]])
    logprobs = torch.tensor([[-1.0, -2.0, -0.5, -9.0, -9.0], [-1.0, -1.0, -1.0, -1.0, -1.0]])
    torch.testing.assert_close(
        generation.response_logprob_sum(logprobs, ids, 0), torch.tensor([-3.5, -5.0])
    )


def test_response_token_logprobs_score_at_the_sampling_temperature():
    logits = torch.tensor([[[2.0, 1.0, 0.0, -1.0], [0.0, 0.5, 1.0, 1.5]]])
    ids, mask = torch.tensor([[1, 3]]), torch.tensor([[1, 0]])
    got = generation.response_token_logprobs(logits, ids, mask, 0.7)
    want = torch.log_softmax(logits[0, 0] / 0.7, -1)[1]
    torch.testing.assert_close(got, torch.stack([want, torch.tensor(0.0)])[None])


def test_per_token_mean_averages_each_row_over_its_mask_and_gives_zero_for_an_empty_row():
    values = torch.tensor([[1.0, 2.0, 9.0], [4.0, 4.0, 4.0]])
    mask = torch.tensor([[1, 1, 0], [0, 0, 0]])
    torch.testing.assert_close(generation.per_token_mean(values, mask), torch.tensor([1.5, 0.0]))
    with pytest.raises(ValueError, match="same shape"):
        generation.per_token_mean(values, mask[:, :2])
