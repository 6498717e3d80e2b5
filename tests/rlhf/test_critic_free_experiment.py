"""``rlhf-edu experiment critic-free``: the summary of the runs, its plot and its stored form."""

from __future__ import annotations

import json

from rlhf_edu.app.experiment_critic_free import (
    CURVE_KEYS,
    METHODS,
    plot_critic_free_study,
    summarize_runs,
)
from rlhf_edu.app.experiments import EXPERIMENTS
from rlhf_edu.data import load_critic_free, write_critic_free


def fake_run(offset: float) -> dict:
    curve = {key: [offset, offset + 1.0] for key in CURVE_KEYS}
    return {"curve": curve, "final": {key: offset + 2.0 for key in CURVE_KEYS}}


def test_summary_has_per_method_finals_with_mean_and_std_and_curves_per_seed(tmp_path):
    runs = {method: [fake_run(0.0), fake_run(1.0)] for method in METHODS}
    results = summarize_runs(runs, [0, 1], n_updates=2)
    assert results["methods"] == list(METHODS) and results["episodes"] == 2 * 64
    for method in METHODS:
        final = results["final_true_utility"][method]
        assert final == {"per_seed": [2.0, 3.0], "mean": 2.5, "std": 0.5}
        assert results["curves"][method]["kl"] == [[0.0, 1.0], [1.0, 2.0]]
    assert [p.name for p in plot_critic_free_study(results, tmp_path)] == ["true_utility_vs_kl.png"]
    write_critic_free(results, tmp_path / "study.json")
    assert load_critic_free(tmp_path / "study.json") == json.loads(json.dumps(results))
    assert "critic-free" in EXPERIMENTS
