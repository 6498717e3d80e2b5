"""Graded tests of module 11 (DPO and best-of-n): exercises 11.1-11.2."""

import math

import numpy as np
import pytest
import torch

from rlhf_edu.rlhf.best_of_n import best_of_n_kl as reference_best_of_n_kl
from rlhf_edu.rlhf.dpo import dpo_loss as reference_dpo_loss


def randn(rng: np.random.Generator, *shape: int) -> torch.Tensor:
    return torch.as_tensor(rng.normal(size=shape) * 5, dtype=torch.float32)


@pytest.mark.graded(exercise="11.1", points=2)
def test_dpo_loss_matches_reference_on_random_log_probs(solution, graded_rng):
    for _ in range(6):
        n = int(graded_rng.integers(1, 17))
        args = [randn(graded_rng, n) for _ in range(4)]
        beta = float(graded_rng.uniform(0.01, 1.0))
        got = solution.dpo_loss(*args, beta)
        want = reference_dpo_loss(*args, beta)
        assert got.ndim == 0, "dpo_loss returns the mean over the batch (a scalar tensor)"
        assert float(got) == pytest.approx(float(want), rel=1e-5, abs=1e-6)


@pytest.mark.graded(exercise="11.1", points=1)
def test_dpo_loss_is_log2_at_the_reference_and_stable_for_large_margins(solution, graded_rng):
    lp = randn(graded_rng, 8)
    other = randn(graded_rng, 8)
    beta = float(graded_rng.uniform(0.05, 0.5))
    assert float(solution.dpo_loss(lp, other, lp, other, beta)) == pytest.approx(math.log(2))
    big = torch.full((3,), 1e4)
    zero = torch.zeros(3)
    loss = solution.dpo_loss(zero, big, zero, zero, beta)  # rejected far more likely: huge loss
    assert math.isfinite(float(loss)) and float(loss) == pytest.approx(beta * 1e4, rel=1e-4)
    pc = randn(graded_rng, 4).requires_grad_()
    solution.dpo_loss(
        pc, zero[:1].expand(4), zero[:1].expand(4), zero[:1].expand(4), beta
    ).backward()
    expected = -beta * torch.sigmoid(-beta * pc.detach()) / 4
    torch.testing.assert_close(pc.grad, expected, atol=1e-6, rtol=1e-4)


@pytest.mark.graded(exercise="11.2", points=1)
def test_best_of_n_kl_matches_the_closed_form(solution, graded_rng):
    for n in [1, 2, *graded_rng.integers(3, 1000, size=5).tolist()]:
        assert solution.best_of_n_kl(int(n)) == pytest.approx(reference_best_of_n_kl(int(n)))
    assert solution.best_of_n_kl(1) == pytest.approx(0.0)
