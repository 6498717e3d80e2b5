"""The pieces notebook 12 swaps in or builds on: the Plackett-Luce gradient, edits as pairs,
replaceable losses and the held-out pairs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rlhf_edu.rlhf.feedback import Annotator
from rlhf_edu.rlhf.feedback.rankings import plackett_luce_gradient, plackett_luce_loss
from rlhf_edu.rlhf.feedback.reward_models import (
    FeedbackLosses,
    HeldOutPairs,
    collect_edits,
    collect_feedback,
    edits_to_pairs,
    feedback_from_pairs,
    fit_feedback_reward_model,
    ordinal_logit_loss,
)


def test_plackett_luce_gradient_is_autograds_per_row_gradient():
    gen = torch.Generator().manual_seed(1)
    scores = torch.randn(7, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    ranking = torch.stack([torch.randperm(5, generator=gen) for _ in range(7)])
    plackett_luce_loss(scores, ranking).backward()
    torch.testing.assert_close(plackett_luce_gradient(scores, ranking) / 7, scores.grad)


def test_plackett_luce_gradient_of_two_items_is_bradley_terrys():
    scores = torch.tensor([[2.0, -1.0], [0.5, 0.7]], dtype=torch.float64)
    ranking = torch.tensor([[0, 1], [1, 0]])
    p_upset = torch.sigmoid(torch.tensor([-3.0, -0.2], dtype=torch.float64))
    want = torch.stack(
        [torch.stack([-p_upset[0], p_upset[0]]), torch.stack([p_upset[1], -p_upset[1]])]
    )
    torch.testing.assert_close(plackett_luce_gradient(scores, ranking), want)


def test_plackett_luce_gradient_rejects_a_ranking_that_is_not_a_permutation():
    with pytest.raises(ValueError, match=r"ranking\[0\] = \[0, 0\]"):
        plackett_luce_gradient(torch.zeros(1, 2), torch.tensor([[0, 0]]))


def test_edits_to_pairs_prefers_the_edit_and_drops_unchanged_responses():
    pairs = edits_to_pairs(
        ["P:", "P:", "Q:"],
        [" Bad food.", " Fine.", " Rude staff."],
        [" Good food.", " Fine. ", " Rude staff."],
    )
    assert [(p.prompt, p.chosen, p.rejected) for p in pairs] == [
        ("P:", " Good food.", " Bad food.")
    ]
    with pytest.raises(ValueError, match="same length"):
        edits_to_pairs(["P:"], [" A."], [])


def test_collected_edits_as_pairs_are_the_edits_form_of_collect_feedback():
    annotator = Annotator()
    from_pairs = feedback_from_pairs(edits_to_pairs(*collect_edits(annotator, 40, seed=3)), "edits")
    direct = collect_feedback("edits", annotator, 40, seed=3)
    torch.testing.assert_close(from_pairs.phi, direct.phi)


def test_fit_uses_the_losses_it_is_given():
    data = collect_feedback("stars", Annotator(), 60, seed=2)
    calls = []

    def counting_ordinal_loss(rewards, stars, cutpoints):
        calls.append(len(rewards))
        return ordinal_logit_loss(rewards, stars, cutpoints)

    default = fit_feedback_reward_model(data, seed=0, epochs=5)
    swapped = fit_feedback_reward_model(
        data, seed=0, epochs=5, losses=FeedbackLosses(ordinal_logit_loss=counting_ordinal_loss)
    )
    assert calls == [60] * 5
    torch.testing.assert_close(default.score.weight, swapped.score.weight)
    with pytest.raises(TypeError, match="FeedbackLosses.thumbs_loss"):
        FeedbackLosses(thumbs_loss=3)


def test_held_out_pairs_score_the_true_order_and_correlation():
    held_out = HeldOutPairs(Annotator(), 60, seed=4)
    assert 0.5 < held_out.bayes < 1.0
    assert held_out.true_order.shape == held_out.labels.shape == (60,)

    class Constant(torch.nn.Module):
        def forward(self, phi):
            return torch.zeros(len(phi))

    assert held_out.correlation(Constant()) == 0.0
    assert held_out.true_accuracy(Constant()) == pytest.approx(np.mean(~held_out.true_order))
