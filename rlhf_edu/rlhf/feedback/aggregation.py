"""Turning disagreeing labels into one: majority vote, soft labels and Dawid-Skene.

Majority vote counts every annotator the same. Soft labels keep the vote shares as targets. The
Dawid-Skene model (1979) learns, by expectation maximisation, a confusion matrix per annotator,
``pi_j[k, l] = P(annotator j says l | truth k)``, and class priors ``p_k``, and weighs each vote
by how reliable its annotator is:

    E-step:  P(truth_i = k | labels) ∝ p_k * prod_j pi_j[k, label_ij]
    M-step:  p_k = mean_i T_ik;   pi_j[k, l] ∝ sum_i T_ik [label_ij = l]
"""

from __future__ import annotations

import numpy as np

from rlhf_edu.rlhf.feedback.agreement import check_labels
from rlhf_edu.utils.validation import check_int

__all__ = ["dawid_skene", "majority_vote", "soft_labels"]


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
