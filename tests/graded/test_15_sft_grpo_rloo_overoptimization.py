"""Graded tests of module 15 (SFT, GRPO/RLOO and over-optimisation): exercises 15.1 to 15.6.

15.1 ``sft_loss``, 15.2 ``group_advantages``, 15.3 ``rloo_advantages``, 15.4 ``best_of_n_kl``,
15.5 ``best_of_n_estimate`` (find the bug), 15.6 ``fit_gao_coefficients``.
"""

import itertools
import math

import numpy as np
import pytest
import torch

from rlhf_edu.grading.selfcheck import failure, given
from rlhf_edu.rlhf.grpo import group_advantages as reference_group_advantages
from rlhf_edu.rlhf.overoptimization import best_of_n_estimate as reference_estimate
from rlhf_edu.rlhf.overoptimization import fit_gao_coefficients as reference_fit
from rlhf_edu.rlhf.overoptimization import gao_curve
from rlhf_edu.rlhf.rloo import rloo_advantages as reference_rloo
from rlhf_edu.rlhf.sft import sft_loss as reference_sft_loss

# --- 15.1 sft_loss ------------------------------------------------------------------------------


def sft_batch(rng: np.random.Generator, vocab: int = 11):
    """Random logits and token ids, and a response mask with a prompt, a response and padding on
    the left or the right of each row: ``(logits, input_ids, response_mask, attention_mask)``."""
    batch, length = int(rng.integers(2, 5)), int(rng.integers(6, 10))
    logits = torch.tensor(rng.normal(size=(batch, length, vocab)), dtype=torch.float32)
    input_ids = torch.tensor(rng.integers(0, vocab, size=(batch, length)))
    response_mask = torch.zeros(batch, length, dtype=torch.long)
    attention_mask = torch.zeros(batch, length, dtype=torch.long)
    left_pad = bool(rng.integers(2))
    for row in range(batch):
        n_real = int(rng.integers(4, length + 1))
        n_prompt = int(rng.integers(1, n_real - 1))
        start = length - n_real if left_pad else 0
        attention_mask[row, start : start + n_real] = 1
        response_mask[row, start + n_prompt : start + n_real] = 1
    return logits, input_ids, response_mask, attention_mask


def _unshifted_loss(logits, input_ids, mask):
    nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), input_ids, reduction="none")
    return float((nll * mask).sum() / mask.sum())


@pytest.mark.graded(
    exercise="15.1",
    points=1,
    checks="the SFT loss of random batches (prompt, response, padding)",
    hint="shift by one (logits[:, t] predicts token t + 1) and average over response tokens only",
)
def test_sft_loss_matches_the_response_only_mean(solution, graded_rng):
    for _ in range(4):
        logits, input_ids, response_mask, attention_mask = sft_batch(graded_rng)
        given(f"a batch of {input_ids.shape[0]} rows of {input_ids.shape[1]} tokens")
        got = float(solution.sft_loss(logits, input_ids, response_mask))
        want = float(reference_sft_loss(logits, input_ids, response_mask))
        on_all = float(reference_sft_loss(logits, input_ids, attention_mask))
        unshifted = _unshifted_loss(logits, input_ids, response_mask)
        hint = "compare with the formula of the lesson"
        if math.isclose(got, on_all, rel_tol=1e-5):
            hint = "it is the loss on every real token: the prompt is trained on too"
        elif math.isclose(got, unshifted, rel_tol=1e-5):
            hint = "targets are not shifted: logits[:, t] predicts input_ids[:, t + 1]"
        assert got == pytest.approx(want, rel=1e-5), failure(
            f"got {got:.5g}, expected {want:.5g}", hint=hint
        )


@pytest.mark.graded(
    exercise="15.1",
    points=1,
    checks="no gradient reaches the logits that predict prompt or padding tokens",
    hint="mask the per-token losses before the mean; the mask of token t + 1 weighs logits[:, t]",
)
def test_sft_loss_sends_no_gradient_to_prompt_or_padding_predictions(solution, graded_rng):
    logits, input_ids, response_mask, _ = sft_batch(graded_rng)
    given(f"a batch of {input_ids.shape[0]} rows of {input_ids.shape[1]} tokens")
    logits = logits.clone().requires_grad_(True)
    solution.sft_loss(logits, input_ids, response_mask).backward()
    per_position = logits.grad.abs().sum(-1)  # (batch, length)
    predicts_response = torch.zeros_like(per_position, dtype=torch.bool)
    predicts_response[:, :-1] = response_mask[:, 1:].bool()
    assert float(per_position[~predicts_response].max()) < 1e-7, failure(
        "the logits that predict prompt or padding tokens receive a gradient"
    )
    assert float(per_position[predicts_response].min()) > 0, failure(
        "some logits that predict a response token receive no gradient"
    )


@pytest.mark.graded(
    exercise="15.1",
    points=1,
    checks="a mask with no response token raises ValueError",
    hint="0 / 0 is NaN: check the number of response tokens first",
)
def test_sft_loss_rejects_a_mask_without_response_tokens(solution, graded_rng):
    logits, input_ids, response_mask, _ = sft_batch(graded_rng)
    with pytest.raises(ValueError):
        solution.sft_loss(logits, input_ids, torch.zeros_like(response_mask))


# --- 15.2 group_advantages ----------------------------------------------------------------------


@pytest.mark.graded(
    exercise="15.2",
    points=1,
    checks="GRPO advantages of random groups, scaled and not",
    hint="per group: subtract the mean, divide by the unbiased std (divide by G - 1) plus eps",
)
def test_group_advantages_match_the_formula(solution, graded_rng):
    for scale in (True, False):
        group_size = int(graded_rng.integers(2, 6))
        scores = torch.tensor(graded_rng.normal(size=group_size * int(graded_rng.integers(1, 5))))
        given(f"{scores.numel()} scores in groups of {group_size}, scale={scale}")
        got = torch.as_tensor(solution.group_advantages(scores, group_size, scale)).double()
        want = reference_group_advantages(scores, group_size, scale).double()
        groups = scores.double().view(-1, group_size)
        biased = (groups - groups.mean(1, keepdim=True)) / (groups.std(1, False, True) + 1e-4)
        hint = "compare with the formula of the lesson"
        if torch.allclose(got, biased.reshape(-1), atol=1e-4):
            hint = "that is the biased std (divide by G); GRPO and TRL use the unbiased one"
        assert torch.allclose(got, want, atol=1e-4), failure(
            f"got {np.round(got.numpy(), 4)}, expected {np.round(want.numpy(), 4)}", hint=hint
        )


@pytest.mark.graded(
    exercise="15.2",
    points=1,
    checks="a group size that does not divide the scores raises ValueError",
)
def test_group_advantages_reject_a_group_size_that_does_not_divide(solution):
    with pytest.raises(ValueError):
        solution.group_advantages(torch.arange(7.0), 3)


# --- 15.3 rloo_advantages -----------------------------------------------------------------------


@pytest.mark.graded(
    exercise="15.3",
    points=1,
    checks="RLOO advantages of random prompts' samples",
    hint="the baseline of sample i is the mean of the *other* k - 1 samples of its prompt",
)
def test_rloo_advantages_match_the_leave_one_out_formula(solution, graded_rng):
    for _ in range(3):
        k = int(graded_rng.integers(2, 6))
        scores = torch.tensor(graded_rng.normal(size=k * int(graded_rng.integers(1, 5))))
        given(f"{scores.numel()} scores, k = {k}")
        got = torch.as_tensor(solution.rloo_advantages(scores, k)).double()
        want = reference_rloo(scores, k).double()
        centred = (scores - scores.view(-1, k).mean(1).repeat_interleave(k)).double()
        hint = "the baseline of sample i is the mean of the *other* k - 1 samples of its prompt"
        if torch.allclose(got, centred, atol=1e-5):
            hint = "that subtracts the mean of all k samples, the sample itself included"
        assert torch.allclose(got, want, atol=1e-5), failure(
            f"got {np.round(got.numpy(), 4)}, expected {np.round(want.numpy(), 4)}", hint=hint
        )


@pytest.mark.graded(
    exercise="15.3",
    points=1,
    checks="k < 2 and a k that does not divide the scores raise ValueError",
    hint="with k = 1 there is no other sample to form a baseline",
)
def test_rloo_advantages_reject_bad_k(solution):
    with pytest.raises(ValueError):
        solution.rloo_advantages(torch.arange(4.0), 1)
    with pytest.raises(ValueError):
        solution.rloo_advantages(torch.arange(7.0), 2)


# --- 15.4 best_of_n_kl --------------------------------------------------------------------------


@pytest.mark.graded(
    exercise="15.4",
    points=1,
    checks="the best-of-n KL bound for n = 1 and random n",
    hint="log n - (n - 1) / n, natural log",
)
def test_best_of_n_kl_is_the_bound(solution, graded_rng):
    assert solution.best_of_n_kl(1) == pytest.approx(0.0, abs=1e-12)
    for n in graded_rng.integers(2, 1000, size=4):
        given(f"n = {int(n)}")
        want = math.log(int(n)) - (int(n) - 1) / int(n)
        assert solution.best_of_n_kl(int(n)) == pytest.approx(want, rel=1e-9)


# --- 15.5 best_of_n_estimate (find the bug) -----------------------------------------------------


@pytest.mark.graded(
    exercise="15.5",
    points=1,
    checks="the best-of-n estimate on random proxy and gold scores",
    hint="rank the samples by the *proxy* score: best-of-n picks what the proxy prefers",
)
def test_best_of_n_estimate_matches_reference(solution, graded_rng):
    for _ in range(3):
        n_prompts, n_samples = int(graded_rng.integers(1, 4)), int(graded_rng.integers(3, 12))
        proxy = graded_rng.normal(size=(n_prompts, n_samples))
        gold = graded_rng.normal(size=(n_prompts, n_samples))
        n = int(graded_rng.integers(1, n_samples + 1))
        given(f"{n_prompts} prompt(s), {n_samples} samples each, n = {n}")
        got = tuple(float(v) for v in solution.best_of_n_estimate(proxy, gold, n))
        want = reference_estimate(proxy, gold, n)
        oracle = reference_estimate(gold, gold, n)[1]
        hint = "compare with the lesson's weights C(i, n - 1) / C(N, n)"
        if n > 1 and math.isclose(got[1], oracle, rel_tol=1e-9):
            hint = (
                "the gold score is that of the gold's own best: samples ranked by gold, not proxy"
            )
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12), failure(
            f"got {got}, expected {want}", hint=hint
        )


@pytest.mark.graded(
    exercise="15.5",
    points=1,
    checks="the estimate equals the average over every n-subset of the samples",
    hint="each n-subset's best by proxy, averaged over all subsets: the weights must sum to 1",
)
def test_best_of_n_estimate_averages_every_subset(solution, graded_rng):
    proxy = graded_rng.permutation(6).reshape(1, 6).astype(float)
    gold = graded_rng.normal(size=(1, 6))
    for n in (1, 2, 4, 6):
        given(f"proxy {proxy[0].tolist()}, gold {np.round(gold[0], 3).tolist()}, n = {n}")
        picks = [max(c, key=lambda j: proxy[0, j]) for c in itertools.combinations(range(6), n)]
        want = (float(np.mean(proxy[0, picks])), float(np.mean(gold[0, picks])))
        got = tuple(float(v) for v in solution.best_of_n_estimate(proxy, gold, n))
        assert got == pytest.approx(want, abs=1e-9), failure(f"got {got}, expected {want}")


# --- 15.6 fit_gao_coefficients ------------------------------------------------------------------


@pytest.mark.graded(
    exercise="15.6",
    points=1,
    checks="noiseless curves of both forms give back their alpha and beta",
    hint="R = alpha d - beta d^2 (bon) or alpha d - beta d log d (rl): mind beta's minus sign",
)
def test_fit_recovers_noiseless_coefficients(solution, graded_rng):
    for form in ("bon", "rl"):
        alpha, beta = graded_rng.uniform(0.5, 2.0), graded_rng.uniform(0.1, 0.8)
        d = np.sort(graded_rng.uniform(0.1, 4.0, size=9))
        given(f"form {form!r}, alpha {alpha:.3f}, beta {beta:.3f}, d in [0.1, 4]")
        got = solution.fit_gao_coefficients(form, d, gao_curve(form, d, alpha, beta))
        assert tuple(map(float, got)) == pytest.approx((alpha, beta), abs=1e-6), failure(
            f"got {tuple(map(float, got))}, expected ({alpha:.6g}, {beta:.6g})"
        )


@pytest.mark.graded(
    exercise="15.6",
    points=1,
    checks="noisy curves give the least-squares coefficients",
    hint="least squares on the two basis columns, without an intercept (R(0) = 0)",
)
def test_fit_is_least_squares_on_noisy_points(solution, graded_rng):
    for form in ("bon", "rl"):
        d = np.sort(graded_rng.uniform(0.2, 3.0, size=12))
        gold = gao_curve(form, d, 1.0, 0.3) + graded_rng.normal(0, 0.05, size=12)
        given(f"form {form!r}, 12 noisy points")
        got = tuple(map(float, solution.fit_gao_coefficients(form, d, gold)))
        want = reference_fit(form, d, gold)
        assert got == pytest.approx(want, abs=1e-6), failure(f"got {got}, expected {want}")


@pytest.mark.graded(
    exercise="15.6",
    points=1,
    checks="the RL form at d = 0 (0 log 0 = 0), and an unknown form raises ValueError",
    hint="d log d -> 0 as d -> 0: avoid log(0) giving nan",
)
def test_fit_handles_the_origin_and_names_a_bad_form(solution, graded_rng):
    d = np.concatenate([[0.0], np.sort(graded_rng.uniform(0.2, 3.0, size=8))])
    got = tuple(map(float, solution.fit_gao_coefficients("rl", d, gao_curve("rl", d, 0.9, 0.4))))
    assert all(np.isfinite(got)) and got == pytest.approx((0.9, 0.4), abs=1e-6), failure(
        f"got {got}, expected (0.9, 0.4)"
    )
    with pytest.raises(ValueError):
        solution.fit_gao_coefficients("dpo", d, d)
