"""Reward models from each feedback form, and the seconds-per-label cost model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rlhf_edu.rlhf.feedback import Annotator
from rlhf_edu.rlhf.feedback.cost import CostModel, label_seconds, labels_for_budget
from rlhf_edu.rlhf.feedback.reward_models import (
    FeedbackData,
    collect_feedback,
    comment_loss,
    feature_vocabulary,
    fit_feedback_reward_model,
    ordinal_logit_loss,
    pairwise_accuracy,
    response_features,
    thumbs_loss,
)
from rlhf_edu.rlhf.preferences import mix_utility, sample_response_pairs


@pytest.fixture(scope="module")
def held_out():
    triples = sample_response_pairs(300, seed=999)
    prompts, a, b = (list(x) for x in zip(*triples))
    better = np.array([mix_utility(p, x) > mix_utility(p, y) for p, x, y in triples])
    return prompts, a, b, better


def test_features_are_word_shares_then_length_and_repetitions():
    from rlhf_edu.rlhf.corpus import sample_documents
    from rlhf_edu.rlhf.preferences import words

    prompt, response = sample_documents(1, seed=5)[0]
    sentence = response.strip().split(".")[0] + "."
    phi = response_features(prompt, f" {sentence} {sentence}")
    n_vocabulary, n_words = len(feature_vocabulary()), 2 * len(words(sentence))
    assert phi.shape == (n_vocabulary + 3,)
    assert phi[:n_vocabulary].sum() == pytest.approx(1.0)  # corpus words are all in it
    assert phi[-3:] == pytest.approx([n_words / 20, (n_words / 20) ** 2, 1.0])


def test_thumbs_loss_is_the_binary_cross_entropy_of_r_minus_threshold():
    rewards, thumbs = torch.tensor([0.3, -1.0, 2.0]), torch.tensor([1, 0, 0])
    c = torch.tensor(0.5)
    p_up = torch.sigmoid(rewards - c)
    expected = -(thumbs * p_up.log() + (1 - thumbs) * (1 - p_up).log()).mean()
    assert thumbs_loss(rewards, thumbs, c) == pytest.approx(float(expected), rel=1e-6)


def test_ordinal_loss_is_the_annotators_own_star_model_at_the_true_parameters():
    annotator = Annotator(temperature=0.4)
    prompt, response = "Review of the cafe:", " The coffee was good but the staff were rude."
    u = annotator.u(prompt, response)
    cutpoints = torch.tensor(annotator.star_edges) / annotator.temperature
    reward = torch.tensor([u / annotator.temperature])
    p = [
        math.exp(-float(ordinal_logit_loss(reward, torch.tensor([k]), cutpoints)))
        for k in range(1, 6)
    ]
    assert p == pytest.approx(annotator.star_probabilities(prompt, response).tolist(), abs=1e-6)
    assert sum(p) == pytest.approx(1.0)


def test_ordinal_loss_names_stars_out_of_range():
    with pytest.raises(ValueError, match="stars must be in 1..5"):
        ordinal_logit_loss(torch.zeros(2), torch.tensor([0, 3]), torch.arange(4.0))


def test_comment_loss_is_cross_entropy_over_the_aspects():
    shortfalls, aspects = torch.tensor([[0.1, 2.0, 0.3], [1.0, 0.0, 0.0]]), torch.tensor([1, 0])
    assert comment_loss(shortfalls, aspects) == pytest.approx(
        float(F.cross_entropy(shortfalls, aspects))
    )


def test_collecting_feedback_is_seeded_and_names_an_unknown_form():
    annotator = Annotator()
    first = collect_feedback("stars", annotator, 20, seed=3)
    again = collect_feedback("stars", annotator, 20, seed=3)
    assert torch.equal(first.phi, again.phi) and torch.equal(first.labels, again.labels)
    assert first.phi.shape[:2] == (20, 1) and set(first.labels.tolist()) <= {1, 2, 3, 4, 5}
    assert collect_feedback("rankings", annotator, 5, seed=0, k=3).phi.shape[:2] == (5, 3)
    with pytest.raises(ValueError, match="form must be one of"):
        collect_feedback("emoji", annotator, 5, seed=0)
    with pytest.raises(ValueError, match="stars needs labels"):
        fit_feedback_reward_model(FeedbackData("stars", first.phi))


@pytest.mark.parametrize("form", ["pairs", "rankings", "thumbs", "stars"])
def test_a_reward_model_from_each_direct_form_orders_held_out_pairs_well(form, held_out):
    data = collect_feedback(form, Annotator(), 200, seed=1)
    model = fit_feedback_reward_model(data, seed=0, epochs=200)
    assert pairwise_accuracy(model, *held_out) > 0.68, form


def test_rankings_of_four_teach_more_than_pairs_per_answer(held_out):
    annotator = Annotator()
    accuracy = {
        form: pairwise_accuracy(
            fit_feedback_reward_model(collect_feedback(form, annotator, 100, seed=2), epochs=200),
            *held_out,
        )
        for form in ("pairs", "rankings")
    }
    assert accuracy["rankings"] > accuracy["pairs"], accuracy


def test_label_seconds_follow_the_stated_rates():
    cost = CostModel()
    read = 60 * 40 / 238
    assert label_seconds("pairs", 40) == pytest.approx(2 * read + 2.0)
    assert label_seconds("rankings", 40, k=4) == pytest.approx(4 * read + 5 * 2.0)  # log2(24)
    assert label_seconds("rankings", 40, k=2) == pytest.approx(label_seconds("pairs", 40))
    assert label_seconds("comments", 40) == pytest.approx(read + 2.0 + 60 * 6 / 52)
    assert label_seconds("clicks", 40) == 0.0
    assert labels_for_budget("thumbs", 600, 40, cost=cost) == int(600 // (read + 2.0))
    with pytest.raises(ValueError, match="cost the annotator nothing"):
        labels_for_budget("clicks", 600, 40)
    with pytest.raises(ValueError, match="reading_wpm"):
        CostModel(reading_wpm=0)
