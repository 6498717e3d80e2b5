"""``rlhf-edu experiment feedback``: the results file has what the course promises, at a small
size (the module's constants shrunk so the test takes seconds)."""

from __future__ import annotations

import json

import pytest

from rlhf_edu.app import experiment_feedback as study
from rlhf_edu.app.cli import main
from rlhf_edu.rlhf.feedback.cost import label_seconds


@pytest.fixture
def small(monkeypatch):
    for name, value in {
        "BUDGET_SECONDS": (300, 900),
        "EQUAL_COST_SECONDS": 900,
        "N_HELD_OUT": 150,
        "N_POOL_PAIRS": 150,
        "ACTIVE_POOL": 200,
        "ACTIVE_BUDGET": 60,
        "CLASSIFIER_ANSWERS": (50, 200),
        "CLASSIFIER_TEST": 200,
    }.items():
        monkeypatch.setattr(study, name, value)


@pytest.mark.slow  # about 20 s on 2 cores
def test_feedback_experiment_writes_every_promised_key_and_its_plots(tmp_path, small):
    assert main(["experiment", "feedback", "--seeds", "1", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    forms = ("pairs", "thumbs", "stars", "rankings", "comments", "edits")
    assert set(results["accuracy_at_equal_cost"]) == set(forms)
    assert 0.6 < results["bayes_optimal_accuracy"] < 0.95
    for form in forms:
        curve = results["forms"][form]
        assert curve["labels"][0] < curve["labels"][1]  # three times the budget buys more
        assert curve["seconds_per_label"] == pytest.approx(
            label_seconds(form, results["words_per_response"], study.RANKING_K), abs=1e-3
        )
        assert all(0.0 <= a <= 1.0 for a in curve["mean"])
        assert all(-1.0 <= c <= 1.0 for c in curve["correlation"])
    assert set(results["aggregation"]) == {"majority", "soft", "dawid_skene"}
    assert set(results["active_vs_random"]) >= {"active", "random", "labels", "true_accuracy"}
    for score in ("label_accuracy", "true_accuracy"):
        assert set(results["aggregation_details"][score]) == {"majority", "soft", "dawid_skene"}
    assert results["active_vs_random"]["labels"] == [20, 40, 60]
    # Dawid-Skene finds out who is reliable: both reliable annotators above every unreliable one
    (estimated,) = results["dawid_skene_annotator_accuracy"]
    reliable = [v for k, v in estimated.items() if k.startswith("reliable")]
    unreliable = [v for k, v in estimated.items() if k.startswith("unreliable")]
    assert min(reliable) > max(unreliable)
    classifier = results["classifier"]
    assert classifier["answers"] == [50, 200]
    for kind in ("bandit", "supervised", "mixed"):
        assert len(classifier[kind]) == 2 and len(classifier["macro_f1"][kind]) == 2
    assert classifier["supervised"][-1] > classifier["bandit"][-1]
    for plot in ("forms.png", "aggregation_and_active.png", "classifier.png"):
        assert (tmp_path / plot).stat().st_size > 10_000


def test_an_unknown_experiment_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["experiment", "astrology", "--out", "x"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'astrology'" in capsys.readouterr().err
