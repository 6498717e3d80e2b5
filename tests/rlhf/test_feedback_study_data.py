"""The stored feedback study of notebook 12 (``rlhf_edu/data/feedback_study.json``): what it
holds, the effects the lesson states, and a slice recomputed by the current code."""

from __future__ import annotations

import numpy as np
import pytest

from rlhf_edu.app import experiment_feedback as study
from rlhf_edu.data import load_feedback_study
from rlhf_edu.rlhf.feedback import Annotator
from rlhf_edu.rlhf.feedback.cost import labels_for_budget
from rlhf_edu.rlhf.feedback.reward_models import (
    FORMS,
    collect_feedback,
    fit_feedback_reward_model,
)

RULES = ("majority", "soft", "dawid_skene")


@pytest.fixture(scope="module")
def stored() -> dict:
    return load_feedback_study()


def test_stored_study_has_three_seeds_and_every_key_the_issue_promises(stored):
    assert stored["seeds"] == [0, 1, 2]
    assert set(stored["accuracy_at_equal_cost"]) == set(FORMS)
    assert set(stored["aggregation"]) == set(RULES)
    assert set(stored["active_vs_random"]) >= {"active", "random", "labels", "true_accuracy"}
    assert set(stored["classifier"]) >= {"bandit", "supervised", "mixed", "answers"}
    for form in FORMS:
        curve = stored["forms"][form]
        assert curve["seconds"] == list(study.BUDGET_SECONDS)
        assert len(curve["per_seed"]) == len(curve["correlation_per_seed"]) == 3
        assert all(len(row) == len(study.BUDGET_SECONDS) for row in curve["per_seed"])
        assert curve["labels"] == sorted(curve["labels"])  # nested subsets: more time, more labels


def test_stored_dawid_skene_beats_majority_vote_on_every_seed(stored):
    for seed_result in stored["aggregation_per_seed"]:
        labels = seed_result["label_accuracy"]
        assert labels["dawid_skene"] > labels["majority"] + 0.03
        true_order = seed_result["true_accuracy"]
        assert true_order["dawid_skene"] > true_order["majority"]


def test_stored_forms_stay_under_the_bayes_ceiling_and_comments_near_chance(stored):
    bayes = stored["bayes_optimal_accuracy"]
    at_cost = stored["accuracy_at_equal_cost"]
    assert all(accuracy < bayes for accuracy in at_cost.values())
    assert at_cost["rankings"] > at_cost["edits"] and at_cost["pairs"] > at_cost["edits"]
    assert abs(at_cost["comments"] - 0.5) < 0.05  # identified only up to a shift per response
    supervised, bandit = stored["classifier"]["supervised"], stored["classifier"]["bandit"]
    assert all(s > b for s, b in zip(supervised, bandit))


def test_recomputing_seed_0_at_the_smallest_budget_reproduces_the_stored_numbers(stored):
    """One seed, one budget (10 minutes) of every form but the slowest, and seed 0's
    aggregation: the current code gives the stored numbers (catches stale results)."""
    seed, column = 0, 0
    held_out = study.held_out_pairs(seed)
    assert held_out.bayes == pytest.approx(stored["bayes_per_seed"][seed], abs=1e-6)
    for form in ("pairs", "edits", "rankings", "stars"):
        n = labels_for_budget(
            form, study.BUDGET_SECONDS[column], stored["words_per_response"], study.RANKING_K
        )
        assert n == stored["forms"][form]["labels"][column]
        data = collect_feedback(form, Annotator(), n, seed=100 * seed + 1, k=study.RANKING_K)
        model = fit_feedback_reward_model(data, seed=seed)
        curve = stored["forms"][form]
        assert held_out.accuracy(model) == pytest.approx(curve["per_seed"][seed][column], abs=1e-6)
        assert held_out.correlation(model) == pytest.approx(
            curve["correlation_per_seed"][seed][column], abs=1e-4
        )
    now = study.aggregation(seed, held_out)
    want = stored["aggregation_per_seed"][seed]
    for score in ("label_accuracy", "accuracy", "true_accuracy"):
        np.testing.assert_allclose(
            [now[score][rule] for rule in RULES], [want[score][rule] for rule in RULES], atol=1e-6
        )
