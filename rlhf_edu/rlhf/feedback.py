"""Human feedback as it is collected: rankings, and annotators who disagree.

A reward model learns from labels, and labels come from people who rank more than two responses,
disagree with each other, and are not all equally careful. This module holds the pure pieces:

**Rankings: the Plackett-Luce model.** A ranking ``pi`` of ``k`` responses (best first) is
chosen as a sequence of softmax draws: first the best among all ``k``, then the best among the
remaining ``k - 1``, and so on. With reward-model scores ``s``,

    P(pi) = prod_{i=1..k} exp(s_{pi_i}) / sum_{j >= i} exp(s_{pi_j})
    -log P(pi) = sum_i [ log sum_{j >= i} exp(s_{pi_j}) - s_{pi_i} ]

For ``k = 2`` this is Bradley-Terry's ``-log sigmoid(s_chosen - s_rejected)``.

**Agreement between annotators.**

* Cohen's kappa for two annotators: ``kappa = (p_o - p_e) / (1 - p_e)``, observed agreement
  against the agreement expected by chance from each annotator's own label frequencies.
* Krippendorff's alpha (nominal) for any number of annotators with missing labels:
  ``alpha = 1 - D_o / D_e``, observed against expected disagreement over all pairable values.

**Aggregating disagreeing labels.** Majority vote counts every annotator the same. Soft labels
keep the vote shares as targets. The Dawid-Skene model (1979) learns, by expectation
maximisation, a confusion matrix per annotator, ``pi_j[k, l] = P(annotator j says l | truth
k)``, and class priors ``p_k``, and weighs each vote by how reliable its annotator is:

    E-step:  P(truth_i = k | labels) ∝ p_k * prod_j pi_j[k, label_ij]
    M-step:  p_k = mean_i T_ik;   pi_j[k, l] ∝ sum_i T_ik [label_ij = l]

Labels are integer arrays of shape (items, annotators) with ``-1`` where an annotator did not
label an item.
"""

from __future__ import annotations

import numpy as np
import torch

from rlhf_edu.utils.validation import check_int

__all__ = [
    "cohen_kappa",
    "dawid_skene",
    "krippendorff_alpha",
    "majority_vote",
    "plackett_luce_loss",
    "soft_labels",
]

MISSING = -1


# ---------------------------------------------------------------------------------------------
# Rankings
# ---------------------------------------------------------------------------------------------


def check_ranking(ranking: torch.Tensor, k: int, name: str = "ranking") -> torch.Tensor:
    """``ranking`` must be (batch, k) long indices, each row a permutation of ``0..k-1``."""
    if ranking.dtype != torch.long:
        raise TypeError(f"{name} must be a long tensor of indices, got {ranking.dtype}")
    if ranking.ndim != 2 or ranking.shape[1] != k:
        raise ValueError(f"{name} must have shape (batch, {k}), got {tuple(ranking.shape)}")
    expected = torch.arange(k, device=ranking.device)
    bad = (ranking.sort(dim=1).values != expected).any(dim=1)
    if bool(bad.any()):
        row = int(bad.nonzero()[0])
        raise ValueError(
            f"{name}[{row}] = {ranking[row].tolist()} is not a permutation of 0..{k - 1}"
        )
    return ranking


def plackett_luce_loss(scores: torch.Tensor, ranking: torch.Tensor) -> torch.Tensor:
    """Mean Plackett-Luce negative log-likelihood of ``ranking`` under ``scores``.

    ``scores`` is (batch, k); ``ranking`` (batch, k) holds indices into ``k``, best first. Per row:
    ``sum_i [ log sum_{j >= i} exp(s_{pi_j}) - s_{pi_i} ]``.
    """
    if scores.ndim != 2 or scores.shape[1] < 2:
        raise ValueError(f"scores must have shape (batch, k >= 2), got {tuple(scores.shape)}")
    ranking = check_ranking(ranking, scores.shape[1])
    ordered = scores.gather(1, ranking)  # (batch, k): the scores from best to worst
    # log sum_{j >= i} exp(ordered_j): a log-cumsum-exp from the right
    tail_logsumexp = ordered.flip(1).logcumsumexp(dim=1).flip(1)
    return (tail_logsumexp - ordered).sum(dim=1).mean()


# ---------------------------------------------------------------------------------------------
# Agreement
# ---------------------------------------------------------------------------------------------


def check_labels(labels: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    """An int array (items, annotators) with labels ``0..n_classes-1`` and ``-1`` for missing."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must have shape (items, annotators), got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels must be integers (-1 for missing), got {labels.dtype}")
    if np.any(labels < MISSING):
        item, annotator = np.argwhere(labels < MISSING)[0]
        raise ValueError(
            f"labels[{item}, {annotator}] = {labels[item, annotator]}: labels are >= 0, "
            "with -1 for missing"
        )
    if n_classes is not None and np.any(labels >= n_classes):
        item, annotator = np.argwhere(labels >= n_classes)[0]
        raise ValueError(
            f"labels[{item}, {annotator}] = {labels[item, annotator]} is outside the "
            f"{n_classes} classes 0..{n_classes - 1}"
        )
    return labels.astype(np.int64)


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa of two annotators' labels of the same items: ``(p_o - p_e) / (1 - p_e)``.

    ``p_o`` is the share of items they label alike; ``p_e = sum_c P_a(c) P_b(c)`` the share
    expected if each labelled at random with their own label frequencies. 1 is perfect
    agreement, 0 chance level. Items either annotator left out (``-1``) are skipped.
    """
    labels = check_labels(np.stack([np.asarray(a), np.asarray(b)], axis=1))
    both = (labels != MISSING).all(axis=1)
    if not both.any():
        raise ValueError("a and b label no item in common")
    a, b = labels[both, 0], labels[both, 1]
    classes = np.union1d(a, b)
    p_observed = np.mean(a == b)
    p_expected = sum(np.mean(a == c) * np.mean(b == c) for c in classes)
    if p_expected == 1.0:
        return 1.0  # both always say the same single label: agreement is perfect but trivial
    return float((p_observed - p_expected) / (1.0 - p_expected))


def krippendorff_alpha(labels: np.ndarray) -> float:
    """Krippendorff's alpha for nominal labels (items, annotators), ``-1`` for missing.

    ``alpha = 1 - D_o / D_e`` from the coincidence matrix ``o[c, k]``: each item with ``m >= 2``
    labels adds ``1 / (m - 1)`` for every ordered pair of its labels from different annotators.
    ``D_o`` is the off-diagonal share of ``o``; ``D_e`` the same for pairs drawn at random from
    all pairable labels, ``sum_{c != k} n_c n_k / (n (n - 1))``. Items with fewer than two labels
    are not pairable and are skipped.
    """
    labels = check_labels(labels)
    n_classes = int(labels.max()) + 1 if np.any(labels != MISSING) else 0
    coincidence = np.zeros((n_classes, n_classes))
    for row in labels:
        values = row[row != MISSING]
        m = len(values)
        if m < 2:
            continue
        counts = np.bincount(values, minlength=n_classes).astype(float)
        # ordered pairs of labels by different annotators: n_c n_k, minus self-pairs on c == k
        coincidence += (np.outer(counts, counts) - np.diag(counts)) / (m - 1)
    n_c = coincidence.sum(axis=1)
    n = n_c.sum()
    if n < 2:
        raise ValueError("krippendorff_alpha needs at least one item with two labels")
    observed = coincidence.sum() - np.trace(coincidence)  # disagreeing pairs
    expected = (n * n - np.sum(n_c * n_c)) / (n - 1)
    if expected == 0:
        return 1.0  # a single value throughout: no disagreement is possible
    return float(1.0 - observed / expected)


# ---------------------------------------------------------------------------------------------
# Aggregation
# ---------------------------------------------------------------------------------------------


def soft_labels(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Each item's vote shares, (items, n_classes); an item nobody labelled gets uniform shares."""
    n_classes = check_int("n_classes", n_classes, low=2)
    labels = check_labels(labels, n_classes)
    votes = np.stack([(labels == c).sum(axis=1) for c in range(n_classes)], axis=1).astype(float)
    totals = votes.sum(axis=1, keepdims=True)
    return np.where(totals > 0, votes / np.maximum(totals, 1), 1.0 / n_classes)


def majority_vote(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """The most frequent label of each item, (items,); ties go to the lowest class."""
    return soft_labels(labels, n_classes).argmax(axis=1)


def dawid_skene(
    labels: np.ndarray, n_classes: int, n_iter: int = 50, smoothing: float = 0.01
) -> tuple[np.ndarray, np.ndarray]:
    """The Dawid-Skene EM annotator model: ``(posterior, confusion)``.

    ``posterior`` (items, n_classes) is ``P(truth_i = k | all labels)``; ``confusion``
    (annotators, n_classes, n_classes) holds ``P(annotator j says l | truth k)`` in
    ``confusion[j, k, l]``. EM starts from the soft labels (the vote shares); ``smoothing`` is a
    pseudo-count added to every confusion cell so that no label is ever impossible.
    """
    n_classes = check_int("n_classes", n_classes, low=2)
    n_iter = check_int("n_iter", n_iter)
    labels = check_labels(labels, n_classes)
    n_items, n_annotators = labels.shape
    # one-hot labels, (items, annotators, classes); all zeros where missing
    said = np.stack([labels == c for c in range(n_classes)], axis=2).astype(float)
    posterior = soft_labels(labels, n_classes)
    for _ in range(n_iter):
        # M-step: priors and each annotator's confusion matrix from the current posteriors
        prior = posterior.mean(axis=0)
        confusion = np.einsum("ik,ijl->jkl", posterior, said) + smoothing
        confusion /= confusion.sum(axis=2, keepdims=True)
        # E-step: P(truth = k | labels) ∝ p_k prod_j confusion[j, k, label_ij]
        log_joint = np.log(prior + 1e-300) + np.einsum("ijl,jkl->ik", said, np.log(confusion))
        log_joint -= log_joint.max(axis=1, keepdims=True)
        posterior = np.exp(log_joint)
        posterior /= posterior.sum(axis=1, keepdims=True)
    return posterior, confusion
