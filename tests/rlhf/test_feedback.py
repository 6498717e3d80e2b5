"""Rankings (Plackett-Luce), agreement statistics and the aggregation of disagreeing annotators."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rlhf_edu.rlhf.feedback import (
    cohen_kappa,
    dawid_skene,
    krippendorff_alpha,
    majority_vote,
    plackett_luce_loss,
    soft_labels,
)


def test_plackett_luce_for_two_responses_is_the_bradley_terry_loss():
    scores = torch.tensor([[0.3, -1.2], [2.0, 0.5]])
    ranking = torch.tensor([[0, 1], [1, 0]])
    bradley_terry = -F.logsigmoid(torch.tensor([0.3 + 1.2, 0.5 - 2.0])).mean()
    torch.testing.assert_close(plackett_luce_loss(scores, ranking), bradley_terry)


def test_plackett_luce_probabilities_of_all_rankings_sum_to_one_and_match_the_formula():
    scores = torch.tensor([[1.0, -0.5, 0.2, 0.0]])
    total = 0.0
    for order in itertools.permutations(range(4)):
        nll = float(plackett_luce_loss(scores, torch.tensor([order])))
        s = scores[0, list(order)].tolist()
        by_hand = sum(math.log(sum(math.exp(x) for x in s[i:])) - s[i] for i in range(4))
        assert nll == pytest.approx(by_hand, rel=1e-6)
        total += math.exp(-nll)
    assert total == pytest.approx(1.0, rel=1e-6)


def test_a_ranking_that_is_not_a_permutation_is_an_error_naming_the_row():
    scores = torch.zeros(2, 3)
    with pytest.raises(ValueError, match=r"ranking\[1\] = \[0, 0, 2\] is not a permutation"):
        plackett_luce_loss(scores, torch.tensor([[0, 1, 2], [0, 0, 2]]))
    with pytest.raises(TypeError, match="long tensor"):
        plackett_luce_loss(scores, torch.tensor([[0.0, 1.0, 2.0]] * 2))


def test_cohen_kappa_matches_the_textbook_example():
    # 50 items: both yes 20, a yes b no 5, a no b yes 10, both no 15 -> p_o 0.7, p_e 0.5
    a = np.array([1] * 25 + [0] * 25)
    b = np.array([1] * 20 + [0] * 5 + [1] * 10 + [0] * 15)
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(a, a) == pytest.approx(1.0)


def test_krippendorff_alpha_matches_krippendorffs_worked_example():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 4 coders, 12 units,
    # nominal alpha = 0.743; -1 marks a missing value
    m = -1
    data = np.array(
        [
            [1, 2, 3, 3, 2, 1, 4, 1, 2, m, m, m],
            [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, m, 3],
            [m, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, m],
            [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, m],
        ]
    ).T  # (items, annotators)
    assert krippendorff_alpha(data) == pytest.approx(0.743, abs=5e-4)
    assert krippendorff_alpha(np.array([[0, 0], [1, 1], [1, 1]])) == pytest.approx(1.0)


def annotator_pool(
    n_items: int, accuracies: list[float], seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Binary truths and labels from annotators who are right with the given probabilities."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n_items)
    right = rng.random((n_items, len(accuracies))) < np.array(accuracies)
    labels = np.where(right, truth[:, None], 1 - truth[:, None])
    return truth, labels


def test_majority_and_soft_labels_count_votes_and_skip_missing_ones():
    labels = np.array([[1, 1, 0], [0, -1, -1], [-1, -1, -1]])
    np.testing.assert_allclose(soft_labels(labels, 2), [[1 / 3, 2 / 3], [1, 0], [0.5, 0.5]])
    np.testing.assert_array_equal(majority_vote(labels, 2), [1, 0, 0])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dawid_skene_beats_majority_vote_when_some_annotators_are_unreliable(seed):
    # two careful annotators and three who are barely better than a coin
    truth, labels = annotator_pool(1000, [0.9, 0.85, 0.55, 0.55, 0.6], seed)
    posterior, confusion = dawid_skene(labels, 2)
    em_accuracy = np.mean(posterior.argmax(axis=1) == truth)
    majority_accuracy = np.mean(majority_vote(labels, 2) == truth)
    assert em_accuracy > majority_accuracy + 0.03, (em_accuracy, majority_accuracy)
    # the model learns who is reliable: the diagonal of each confusion matrix is its accuracy
    reliability = confusion[:, [0, 1], [0, 1]].mean(axis=1)
    assert reliability[:2].min() > reliability[2:].max()
    np.testing.assert_allclose(posterior.sum(axis=1), 1.0)
    np.testing.assert_allclose(confusion.sum(axis=2), 1.0)


def test_dawid_skene_with_missing_labels_and_unanimous_annotators_agrees_with_them():
    labels = np.array([[0, 0, -1], [1, -1, 1], [2, 2, 2], [1, 1, 1]])
    posterior, _ = dawid_skene(labels, 3)
    np.testing.assert_array_equal(posterior.argmax(axis=1), [0, 1, 2, 1])


def test_bad_label_arrays_are_errors_that_name_the_cell():
    with pytest.raises(ValueError, match=r"labels\[1, 0\] = 3 is outside the 2 classes"):
        dawid_skene(np.array([[0, 1], [3, 1]]), 2)
    with pytest.raises(ValueError, match=r"labels\[0, 1\] = -2"):
        krippendorff_alpha(np.array([[0, -2], [1, 1]]))
    with pytest.raises(TypeError, match="integers"):
        majority_vote(np.array([[0.5, 1.0]]), 2)
    with pytest.raises(ValueError, match="no item in common"):
        cohen_kappa(np.array([0, -1]), np.array([-1, 1]))
