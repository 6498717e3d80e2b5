"""Graded tests of module 12 (human feedback as collected): exercises 12.1-12.8.

12.1 ``ordinal_logit_loss``, 12.2 ``plackett_luce_loss``, 12.3 ``plackett_luce_gradient``,
12.4 ``comment_loss``, 12.5 ``edits_to_pairs``, 12.6 ``cohen_kappa`` (find the bug),
12.7 ``majority_vote``, 12.8 ``dawid_skene``. Each test compares with the reference in
``rlhf_edu.rlhf.feedback`` on random inputs and checks a property of the lesson; where a classic
wrong answer can be computed, its failure names it.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rlhf_edu.grading.selfcheck import failure, given
from rlhf_edu.rlhf.feedback.aggregation import dawid_skene as reference_dawid_skene
from rlhf_edu.rlhf.feedback.aggregation import majority_vote as reference_majority_vote
from rlhf_edu.rlhf.feedback.agreement import cohen_kappa as reference_cohen_kappa
from rlhf_edu.rlhf.feedback.rankings import plackett_luce_gradient as reference_pl_gradient
from rlhf_edu.rlhf.feedback.rankings import plackett_luce_loss as reference_pl_loss
from rlhf_edu.rlhf.feedback.reward_models import comment_loss as reference_comment_loss
from rlhf_edu.rlhf.feedback.reward_models import edits_to_pairs as reference_edits_to_pairs
from rlhf_edu.rlhf.feedback.reward_models import ordinal_logit_loss as reference_ordinal_loss


def randn(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> torch.Tensor:
    return torch.as_tensor(rng.normal(scale=scale, size=shape), dtype=torch.float64)


def random_rankings(rng: np.random.Generator, batch: int, k: int) -> torch.Tensor:
    return torch.as_tensor(np.stack([rng.permutation(k) for _ in range(batch)]), dtype=torch.long)


def as_float(value) -> float:
    return float(torch.as_tensor(value))


# 12.1 ordinal_logit_loss ---------------------------------------------------------------------
def random_cutpoints(rng: np.random.Generator) -> torch.Tensor:
    return torch.as_tensor(np.cumsum(rng.uniform(0.1, 1.0, size=4)) - 1.5, dtype=torch.float64)


@pytest.mark.graded(
    exercise="12.1",
    points=2,
    checks="the ordinal loss equals the reference's on random rewards, stars and cut points",
    hint="P(stars = k) = sigmoid(theta_k - r) - sigmoid(theta_{k-1} - r), with theta_0 = -inf "
    "(P = 0) and theta_5 = +inf (P = 1); stars are 1-based, so star k uses cut points k-1 and k",
)
def test_ordinal_loss_matches_reference_on_random_ratings(solution, graded_rng):
    for _ in range(6):
        n = int(graded_rng.integers(1, 20))
        rewards = randn(graded_rng, n, scale=1.5)
        stars = torch.as_tensor(graded_rng.integers(1, 6, size=n), dtype=torch.long)
        cutpoints = random_cutpoints(graded_rng)
        given(f"rewards {np.round(rewards.numpy(), 2)}, stars {stars.tolist()}, cut points "
              f"{np.round(cutpoints.numpy(), 2)}")  # fmt: skip
        got = as_float(solution.ordinal_logit_loss(rewards, stars, cutpoints))
        want = float(reference_ordinal_loss(rewards, stars, cutpoints))
        reversed_sign = float(reference_ordinal_loss(-rewards, stars, cutpoints))
        hint = (
            "the sign is reversed: P(stars <= k) = sigmoid(theta_k - r), so a higher reward "
            "means more stars"
            if got == pytest.approx(reversed_sign, rel=1e-6)
            else "check the two columns you subtract for each star"
        )
        assert got == pytest.approx(want, rel=1e-6, abs=1e-9), failure(
            f"got {got:.6g}, expected {want:.6g}", hint
        )


@pytest.mark.graded(
    exercise="12.1",
    points=1,
    checks="the five star probabilities sum to 1 and the loss stays finite for extreme rewards",
    hint="pad the cumulative table with P(stars <= 0) = 0 and P(stars <= 5) = 1, and clamp the "
    "probability away from 0 before taking the log",
)
def test_ordinal_probabilities_sum_to_one_and_extremes_are_finite(solution, graded_rng):
    cutpoints = random_cutpoints(graded_rng)
    reward = torch.tensor([float(graded_rng.normal())], dtype=torch.float64)
    given(
        f"one reward {float(reward):.3f}, each star 1..5, cut points {np.round(cutpoints.numpy(), 2)}"
    )
    total = sum(
        np.exp(-as_float(solution.ordinal_logit_loss(reward, torch.tensor([k]), cutpoints)))
        for k in range(1, 6)
    )
    assert total == pytest.approx(1.0, abs=1e-6), f"P(1..5 stars) sums to {total:.6f}, not 1"
    given("rewards of +-60 with stars 1 and 5")
    extreme = solution.ordinal_logit_loss(
        torch.tensor([60.0, -60.0], dtype=torch.float64), torch.tensor([1, 5]), cutpoints
    )
    assert np.isfinite(as_float(extreme)), "an impossible star gives an infinite loss: clamp"


# 12.2 plackett_luce_loss ---------------------------------------------------------------------
def all_items_softmax_loss(scores: torch.Tensor, ranking: torch.Tensor) -> float:
    """The classic wrong answer: every stage normalised over all k items, not the ones left."""
    ordered = scores.gather(1, ranking)
    return float((torch.logsumexp(ordered, dim=1, keepdim=True) - ordered).sum(1).mean())


@pytest.mark.graded(
    exercise="12.2",
    points=2,
    checks="the Plackett-Luce loss equals the reference's on random scores and rankings",
    hint="reorder the scores best first with gather(1, ranking), then for each position i take "
    "logsumexp over positions i..k-1 (the items still left) minus the score at i; sum over "
    "positions, mean over the batch",
)
def test_plackett_luce_loss_matches_reference_on_random_rankings(solution, graded_rng):
    for _ in range(6):
        batch, k = int(graded_rng.integers(1, 8)), int(graded_rng.integers(2, 7))
        scores = randn(graded_rng, batch, k, scale=2.0)
        ranking = random_rankings(graded_rng, batch, k)
        given(f"{batch} rankings of k = {k}, scores {np.round(scores.numpy(), 2).tolist()}, "
              f"rankings {ranking.tolist()}")  # fmt: skip
        got = as_float(solution.plackett_luce_loss(scores, ranking))
        want = float(reference_pl_loss(scores, ranking))
        if got == pytest.approx(all_items_softmax_loss(scores, ranking), rel=1e-6):
            hint = "each stage's softmax runs over the items still left (j >= i), not all k"
        elif got == pytest.approx(want * batch, rel=1e-6):
            hint = "average over the batch (mean of the per-row sums), do not sum"
        else:
            hint = "is the ranking read best first, as indices into the k scores?"
        assert got == pytest.approx(want, rel=1e-6, abs=1e-9), failure(
            f"got {got:.6g}, expected {want:.6g}", hint
        )


@pytest.mark.graded(
    exercise="12.2",
    points=1,
    checks="with k = 2 the loss is Bradley-Terry's, and it is finite for scores near 1000",
    hint="use torch.logcumsumexp (or logsumexp), never log(sum(exp(...))), which overflows",
)
def test_plackett_luce_with_two_items_is_bradley_terry_and_stable(solution, graded_rng):
    scores = randn(graded_rng, 6, 2, scale=2.0)
    ranking = random_rankings(graded_rng, 6, 2)
    winner, loser = scores.gather(1, ranking).unbind(1)
    want = float(-F.logsigmoid(winner - loser).mean())
    given(f"six pairs, scores {np.round(scores.numpy(), 2).tolist()}")
    got = as_float(solution.plackett_luce_loss(scores, ranking))
    assert got == pytest.approx(want, rel=1e-6), f"got {got:.6g}, Bradley-Terry gives {want:.6g}"
    big = 1000.0 + randn(graded_rng, 3, 4, scale=5.0)
    ranking = random_rankings(graded_rng, 3, 4)
    given("scores near 1000")
    got = as_float(solution.plackett_luce_loss(big, ranking))
    assert np.isfinite(got) and got == pytest.approx(
        float(reference_pl_loss(big, ranking)), rel=1e-6
    )


# 12.3 plackett_luce_gradient -----------------------------------------------------------------
@pytest.mark.graded(
    exercise="12.3",
    points=2,
    checks="the hand-derived gradient equals autograd's on random scores and rankings",
    hint="entry [b, pi_i] is sum over stages m <= i of exp(s_pi_i - logsumexp_{j >= m} s_pi_j), "
    "minus 1, written back at the response's own index with scatter",
)
def test_plackett_luce_gradient_matches_autograd(solution, graded_rng):
    for _ in range(5):
        batch, k = int(graded_rng.integers(1, 7)), int(graded_rng.integers(2, 7))
        scores = randn(graded_rng, batch, k, scale=1.5)
        ranking = random_rankings(graded_rng, batch, k)
        given(f"{batch} rankings of k = {k}, scores {np.round(scores.numpy(), 2).tolist()}, "
              f"rankings {ranking.tolist()}")  # fmt: skip
        got = torch.as_tensor(solution.plackett_luce_gradient(scores, ranking)).double()
        want = reference_pl_gradient(scores, ranking)
        if got.shape == want.shape and torch.allclose(got * batch, want, atol=1e-8):
            hint = "the gradient of each row's own -log P, not of the batch mean: do not divide"
        elif got.shape == want.shape and torch.allclose(got.gather(1, ranking), want, atol=1e-8):
            hint = "the values are in ranking order: scatter them back to the responses' indices"
        else:
            hint = "check which stages include position i: m = 1..i (the item is still left)"
        assert got.shape == want.shape and torch.allclose(got, want, atol=1e-8), failure(
            f"got {np.round(got.numpy(), 4).tolist()}, expected {np.round(want.numpy(), 4).tolist()}",
            hint,
        )


@pytest.mark.graded(
    exercise="12.3",
    points=1,
    checks="for k = 2 the gradient is Bradley-Terry's, -/+ sigmoid(s_l - s_w), and rows sum to 0",
    hint="for two items: the winner gets sigmoid(s_w - s_l) - 1, the loser sigmoid(s_l - s_w)",
)
def test_plackett_luce_gradient_of_a_pair_is_bradley_terrys(solution, graded_rng):
    scores = randn(graded_rng, 7, 2, scale=2.0)
    ranking = random_rankings(graded_rng, 7, 2)
    given(
        f"seven pairs, scores {np.round(scores.numpy(), 2).tolist()}, rankings {ranking.tolist()}"
    )
    got = torch.as_tensor(solution.plackett_luce_gradient(scores, ranking)).double()
    winner, loser = scores.gather(1, ranking).unbind(1)
    p_upset = torch.sigmoid(loser - winner)
    want = torch.zeros_like(scores).scatter(1, ranking, torch.stack([-p_upset, p_upset], dim=1))
    assert torch.allclose(got, want, atol=1e-8), f"got {got.tolist()}, expected {want.tolist()}"
    assert torch.allclose(got.sum(1), torch.zeros(7, dtype=torch.float64), atol=1e-8)


# 12.4 comment_loss ---------------------------------------------------------------------------
@pytest.mark.graded(
    exercise="12.4",
    points=1,
    checks="the comment loss is the cross-entropy of the named aspect under softmax(shortfalls)",
    hint="F.cross_entropy(shortfalls, aspects): the shortfalls are the logits",
)
def test_comment_loss_matches_reference(solution, graded_rng):
    for _ in range(5):
        n = int(graded_rng.integers(1, 15))
        shortfalls = randn(graded_rng, n, 3, scale=2.0).abs()
        aspects = torch.as_tensor(graded_rng.integers(0, 3, size=n), dtype=torch.long)
        given(f"{n} comments, aspects {aspects.tolist()}")
        got = as_float(solution.comment_loss(shortfalls, aspects))
        want = float(reference_comment_loss(shortfalls, aspects))
        assert got == pytest.approx(want, rel=1e-6), f"got {got:.6g}, expected {want:.6g}"


# 12.5 edits_to_pairs -------------------------------------------------------------------------
SENTENCES = [" The food was bad.", " The staff was rude.", " I liked the place.", " Nice room."]


def random_edits(rng: np.random.Generator):
    n = int(rng.integers(1, 9))
    prompts = [f"Review of place {int(i)}:" for i in rng.integers(0, 4, size=n)]
    originals = [SENTENCES[int(i)] + SENTENCES[int(j)] for i, j in rng.integers(0, 4, size=(n, 2))]
    edited = []
    for original in originals:
        kind = int(rng.integers(3))
        if kind == 0:
            edited.append(original)  # left as it was
        elif kind == 1:
            edited.append(original + "  ")  # only whitespace changed: no edit
        else:
            edited.append(original.replace("bad", "good").replace("rude", "friendly") + " Yes.")
    return prompts, originals, edited


@pytest.mark.graded(
    exercise="12.5",
    points=1,
    checks="edits become (edited chosen, original rejected) pairs in input order, unchanged "
    "ones (also up to surrounding whitespace) dropped",
    hint="PreferencePair(prompt, chosen=edited, rejected=original); skip an edit whose "
    ".strip() equals the original's",
)
def test_edits_to_pairs_matches_reference(solution, graded_rng):
    for _ in range(6):
        prompts, originals, edited = random_edits(graded_rng)
        given(f"originals {originals}, edited {edited}")
        got = solution.edits_to_pairs(prompts, originals, edited)
        want = reference_edits_to_pairs(prompts, originals, edited)
        got = [(p.prompt, p.chosen, p.rejected) for p in got]
        want = [(p.prompt, p.chosen, p.rejected) for p in want]
        swapped = [(p, r, c) for p, c, r in want]
        hint = (
            "chosen and rejected are swapped: the person prefers the edited response"
            if got == swapped and want
            else "one pair per real edit, in input order"
        )
        assert got == want, failure(f"got {got}, expected {want}", hint)


@pytest.mark.graded(
    exercise="12.5",
    points=1,
    checks="sequences of different lengths are a ValueError",
    hint="compare len(prompts), len(originals) and len(edited) first",
)
def test_edits_to_pairs_rejects_mismatched_lengths(solution, graded_rng):
    prompts, originals, edited = random_edits(graded_rng)
    given(f"{len(prompts)} prompts and originals, {len(edited) + 1} edits")
    with pytest.raises(ValueError):
        solution.edits_to_pairs(prompts, originals, [*edited, " Extra."])


# 12.6 cohen_kappa ----------------------------------------------------------------------------
def random_label_pair(rng: np.random.Generator, n_classes: int, missing: float):
    n = int(rng.integers(20, 80))
    shares = rng.dirichlet(np.ones(n_classes))
    a = rng.choice(n_classes, size=n, p=shares)
    b = np.where(rng.random(n) < 0.6, a, rng.choice(n_classes, size=n, p=shares))
    a[rng.random(n) < missing] = -1
    b[rng.random(n) < missing] = -1
    return a, b


@pytest.mark.graded(
    exercise="12.6",
    points=1,
    checks="kappa equals the reference's on random label pairs with missing labels",
    hint="p_e = sum over classes of P_a(c) * P_b(c), each annotator's own label frequencies on "
    "the items both labelled",
)
def test_cohen_kappa_matches_reference(solution, graded_rng):
    for trial in range(6):
        a, b = random_label_pair(graded_rng, int(graded_rng.integers(2, 5)), 0.1 * (trial % 2))
        given(f"a = {a.tolist()}, b = {b.tolist()}")
        got = float(solution.cohen_kappa(a, b))
        want = reference_cohen_kappa(a, b)
        assert got == pytest.approx(want, abs=1e-9), failure(
            f"got {got:.6g}, expected {want:.6g}",
            "is p_e still 1 / number of classes? That is chance for uniform labels only",
        )


@pytest.mark.graded(
    exercise="12.6",
    points=1,
    checks="two annotators who label independently with skewed frequencies get kappa near 0",
    hint="the chance agreement p_e must use each annotator's own label frequencies: two "
    "annotators who both say 1 90% of the time agree on 82% by chance",
)
def test_cohen_kappa_of_independent_skewed_annotators_is_near_zero(solution, graded_rng):
    share = float(graded_rng.uniform(0.8, 0.95))
    a = (graded_rng.random(4000) < share).astype(int)
    b = (graded_rng.random(4000) < share).astype(int)
    given(f"4000 items, both annotators say 1 with probability {share:.2f}, independently")
    got = float(solution.cohen_kappa(a, b))
    assert abs(got) < 0.06, failure(f"got kappa {got:.3f}, expected about 0", "see the hint")
    assert float(solution.cohen_kappa(a, a)) == pytest.approx(1.0)


# 12.7 majority_vote --------------------------------------------------------------------------
def random_labels(rng: np.random.Generator, n_classes: int, missing: float) -> np.ndarray:
    labels = rng.integers(0, n_classes, size=(int(rng.integers(5, 30)), int(rng.integers(2, 7))))
    labels[rng.random(labels.shape) < missing] = -1
    return labels


@pytest.mark.graded(
    exercise="12.7",
    points=1,
    checks="majority vote equals the reference's on random labels with missing entries",
    hint="count each class per item (labels == c), ignore -1, take the argmax",
)
def test_majority_vote_matches_reference(solution, graded_rng):
    for _ in range(6):
        n_classes = int(graded_rng.integers(2, 5))
        labels = random_labels(graded_rng, n_classes, 0.3)
        given(f"labels {labels.tolist()}, {n_classes} classes")
        got = np.asarray(solution.majority_vote(labels, n_classes))
        want = reference_majority_vote(labels, n_classes)
        assert got.shape == want.shape and np.array_equal(got, want), failure(
            f"got {got.tolist()}, expected {want.tolist()}",
            "is a missing label (-1) counted as a vote, or a tie not given to the lowest class?",
        )


@pytest.mark.graded(
    exercise="12.7",
    points=1,
    checks="ties go to the lowest class and an item nobody labelled gets class 0",
    hint="np.argmax returns the first maximum, which is the lowest class",
)
def test_majority_vote_breaks_ties_low_and_skips_missing(solution, graded_rng):
    high = int(graded_rng.integers(1, 4))
    labels = np.array([[high, 0, -1, -1], [-1, -1, -1, -1], [high, high, 0, -1]])
    given(f"labels {labels.tolist()}")
    got = np.asarray(solution.majority_vote(labels, 4)).tolist()
    assert got == [0, 0, high], f"got {got}, expected {[0, 0, high]}"


# 12.8 dawid_skene ----------------------------------------------------------------------------
def simulated_pool(rng: np.random.Generator, n_items: int, missing: float):
    """Two careful annotators (95% right) and three barely better than a coin (55% right)."""
    truth = rng.integers(0, 2, size=n_items)
    columns = []
    for right in (0.95, 0.95, 0.55, 0.55, 0.55):
        correct = rng.random(n_items) < right
        columns.append(np.where(correct, truth, 1 - truth))
    labels = np.stack(columns, axis=1)
    labels[rng.random(labels.shape) < missing] = -1
    return truth, labels


@pytest.mark.graded(
    exercise="12.8",
    points=2,
    checks="the posterior and confusion matrices equal the reference's on random labels",
    hint="start from the vote shares, then each round: M-step (prior, confusion + smoothing, "
    "rows normalised), then E-step in logs; n_iter rounds",
)
def test_dawid_skene_matches_reference(solution, graded_rng):
    for trial in range(4):
        n_classes = 2 + trial % 2
        labels = random_labels(graded_rng, n_classes, 0.2)
        n_iter = int(graded_rng.integers(1, 30))
        given(f"labels {labels.tolist()}, {n_classes} classes, n_iter={n_iter}")
        posterior, confusion = solution.dawid_skene(labels, n_classes, n_iter)
        want_posterior, want_confusion = reference_dawid_skene(labels, n_classes, n_iter)
        np.testing.assert_allclose(np.asarray(posterior), want_posterior, atol=1e-6)
        np.testing.assert_allclose(np.asarray(confusion), want_confusion, atol=1e-6)


@pytest.mark.graded(
    exercise="12.8",
    points=1,
    checks="on a pool with three unreliable annotators, EM beats majority vote and ranks the "
    "careful annotators as the most accurate",
    hint="if the careful annotators do not stand out, the M-step may not be weighting the "
    "votes by the posterior T[i, k]",
)
def test_dawid_skene_beats_majority_with_unreliable_annotators(solution, graded_rng):
    truth, labels = simulated_pool(graded_rng, 600, 0.0)
    # over 300 draws EM beat majority vote by 0.037 to 0.14 (mean 0.078)
    given("600 items, two annotators right 95% of the time, three right 55%")
    posterior, confusion = solution.dawid_skene(labels, 2)
    em = np.mean(np.asarray(posterior).argmax(1) == truth)
    majority = np.mean(reference_majority_vote(labels, 2) == truth)
    assert em > majority + 0.02, failure(
        f"EM is right on {em:.3f}, majority vote on {majority:.3f}", "see the hint"
    )
    estimated = np.asarray(confusion)[:, [0, 1], [0, 1]].mean(axis=1)  # P(says truth)
    assert min(estimated[:2]) > max(estimated[2:]), f"estimated accuracies {estimated.round(3)}"


@pytest.mark.graded(
    exercise="12.8",
    points=1,
    checks="missing labels (-1) are skipped: an annotator who labelled nothing changes nothing",
    hint="a one-hot said[i, j, l] that is all zeros where labels[i, j] == -1 makes both einsums "
    "skip the missing labels",
)
def test_dawid_skene_skips_missing_labels(solution, graded_rng):
    _, labels = simulated_pool(graded_rng, 60, 0.25)
    silent = np.concatenate([labels, -np.ones((60, 1), dtype=labels.dtype)], axis=1)
    given("60 items, five annotators with a quarter of the labels missing, plus a silent sixth")
    posterior, _ = solution.dawid_skene(labels, 2, 20)
    with_silent, _ = solution.dawid_skene(silent, 2, 20)
    want, _ = reference_dawid_skene(labels, 2, 20)
    np.testing.assert_allclose(np.asarray(posterior), want, atol=1e-6)
    np.testing.assert_allclose(np.asarray(with_silent), want, atol=1e-6)
