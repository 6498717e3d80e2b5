"""GRPO's group advantages and RLOO's leave-one-out advantages, checked against their formulas."""

from __future__ import annotations

import pytest
import torch

from rlhf_edu.rlhf.grpo import group_advantages
from rlhf_edu.rlhf.rloo import rloo_advantages


def test_group_advantages_standardise_each_group_with_the_unbiased_std():
    scores = torch.tensor([1.0, 2.0, 3.0, 10.0, 10.0, 13.0])
    got = group_advantages(scores, group_size=3)
    first = (scores[:3] - 2.0) / (torch.tensor([1.0, 2.0, 3.0]).std(unbiased=True) + 1e-4)
    second = (scores[3:] - 11.0) / (torch.tensor([10.0, 10.0, 13.0]).std(unbiased=True) + 1e-4)
    torch.testing.assert_close(got, torch.cat([first, second]))
    torch.testing.assert_close(got.view(2, 3).sum(1), torch.zeros(2), atol=1e-5, rtol=0)


def test_group_advantages_without_scaling_only_subtract_the_mean_and_ties_give_zero():
    scores = torch.tensor([1.0, 2.0, 3.0, 5.0, 5.0, 5.0])
    torch.testing.assert_close(
        group_advantages(scores, 3, scale=False), torch.tensor([-1.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    )
    assert torch.equal(
        group_advantages(scores, 3)[3:], torch.zeros(3)
    )  # std 0: eps keeps it finite


def test_rloo_subtracts_the_mean_of_the_other_samples():
    scores = torch.tensor([1.0, 2.0, 6.0, 0.0, 0.0, 4.0])
    got = rloo_advantages(scores, k=3)
    torch.testing.assert_close(got[:3], torch.tensor([1 - 4.0, 2 - 3.5, 6 - 1.5]))
    torch.testing.assert_close(got, 1.5 * group_advantages(scores, 3, scale=False))  # k/(k-1)


def test_bad_groups_are_errors_that_name_the_argument():
    with pytest.raises(ValueError, match="group_size=4 does not divide the 6 scores"):
        group_advantages(torch.zeros(6), 4)
    with pytest.raises(ValueError, match="group_size must be an int >= 2"):
        group_advantages(torch.zeros(6), 1)
    with pytest.raises(ValueError, match="k must be an int >= 2"):
        rloo_advantages(torch.zeros(6), 1)
    with pytest.raises(ValueError, match="k=4 does not divide"):
        rloo_advantages(torch.zeros(6), 4)
    with pytest.raises(ValueError, match="scores must be 1-D"):
        rloo_advantages(torch.zeros(2, 3), 3)
