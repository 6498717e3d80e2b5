"""Feedback on a classifier: labels against right/wrong answers (a contextual bandit)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rlhf_edu.rlhf.feedback import classifier


@pytest.fixture(scope="module")
def data():
    return classifier.review_topics(400, seed=1), classifier.review_topics(400, seed=2)


def test_reviews_are_bags_of_words_with_topic_labels():
    phi, labels = classifier.review_topics(30, seed=0)
    assert phi.shape[0] == 30 and set(phi.unique().tolist()) <= {0.0, 1.0}
    assert labels.dtype == torch.long and 0 <= int(labels.min()) <= int(labels.max()) < 8
    again, _ = classifier.review_topics(30, seed=0)
    assert torch.equal(phi, again)


def test_noisy_labels_flip_to_another_class_at_the_stated_rate():
    truth = torch.zeros(4000, dtype=torch.long)
    noisy = classifier.noisy_labels(truth, 0.25, np.random.default_rng(0))
    assert abs(float((noisy != truth).float().mean()) - 0.25) < 0.03
    assert set(noisy[noisy != truth].tolist()) == set(range(1, 8))
    with pytest.raises(ValueError, match="flip_prob"):
        classifier.noisy_labels(truth, 1.5, np.random.default_rng(0))


def test_macro_f1_matches_a_hand_count():
    predicted, truth = torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 1, 1])
    # class 0: tp 1, fp 1, fn 0 -> 2/3; class 1: tp 2, fp 0, fn 1 -> 4/5; class 2: absent -> 1
    assert classifier.macro_f1(predicted, truth, n_classes=3) == pytest.approx(
        (2 / 3 + 0.8 + 1) / 3
    )


def accuracy(model, phi, y):
    with torch.no_grad():
        return float((model(phi).argmax(1) == y).float().mean())


def test_every_kind_of_answer_beats_chance_and_labels_teach_most(data):
    (phi, y), (phi_test, y_test) = data
    rng = np.random.default_rng(0)
    supervised = classifier.train_supervised(phi, classifier.noisy_labels(y, 0.1, rng))
    bandit = classifier.train_bandit(phi, y, 0.1, seed=0)
    mixed = classifier.train_mixed(phi, y, 40, 0.1, seed=0)
    scores = {
        name: accuracy(model, phi_test, y_test)
        for name, model in (("supervised", supervised), ("bandit", bandit), ("mixed", mixed))
    }
    assert min(scores.values()) > 1 / 8 + 0.05, scores
    assert scores["supervised"] > scores["bandit"], scores


def test_bandit_learning_is_seeded(data):
    (phi, y), _ = data
    first = classifier.train_bandit(phi[:100], y[:100], 0.1, seed=3)
    again = classifier.train_bandit(phi[:100], y[:100], 0.1, seed=3)
    assert torch.equal(first.weight, again.weight)
