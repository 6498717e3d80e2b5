"""How much annotators agree: Cohen's kappa and Krippendorff's alpha.

* Cohen's kappa for two annotators: ``kappa = (p_o - p_e) / (1 - p_e)``, the observed agreement
  against the agreement expected by chance from each annotator's own label frequencies.
* Krippendorff's alpha (nominal) for any number of annotators with missing labels:
  ``alpha = 1 - D_o / D_e``, observed against expected disagreement over all pairable values.

Labels are integer arrays of shape (items, annotators) with ``-1`` where an annotator did not
label an item.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MISSING", "check_labels", "cohen_kappa", "krippendorff_alpha"]

MISSING = -1


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
