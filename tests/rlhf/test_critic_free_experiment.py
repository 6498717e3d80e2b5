"""``rlhf-edu experiment critic-free``: the summary, the plot, and the stored 3-seed study
(``rlhf_edu/data/critic_free.json``, notebook 11) against a slice of the code that wrote it."""

from __future__ import annotations

import json

import pytest

from rlhf_edu.app.experiment_critic_free import (
    CURVE_KEYS,
    METHODS,
    plot_critic_free_study,
    run_method,
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


def test_stored_study_holds_three_seeds_of_each_method_at_equal_episodes():
    stored = load_critic_free()
    assert stored["seeds"] == [0, 1, 2] and stored["methods"] == list(METHODS)
    for method in METHODS:
        assert len(stored["final_true_utility"][method]["per_seed"]) == 3
        for key in CURVE_KEYS:
            assert [len(c) for c in stored["curves"][method][key]] == [stored["n_updates"]] * 3


@pytest.mark.parametrize("method", ["GRPO", "RLOO"])
def test_a_slice_of_the_code_reproduces_the_stored_curves(method):
    """The first two updates of seed 0, rerun: the same true utility, KL and score per update."""
    stored = load_critic_free()["curves"][method]
    run = run_method(method, seed=0, n_updates=2, n_eval_prompts=0)
    for key in CURVE_KEYS:
        assert run["curve"][key] == pytest.approx(stored[key][0][:2], rel=1e-4, abs=1e-5)


def test_stored_study_every_method_gains_and_grpo_pays_the_most_kl():
    """What notebook 11 says: all three raise the true utility (the reference's is about -0.05)
    on every seed; RLOO sits within a nat of PPO; GRPO's KL is more than twice PPO's."""
    stored = load_critic_free()
    for method in METHODS:
        assert min(stored["final_true_utility"][method]["per_seed"]) > 0.4
    kl = {method: stored["final_kl"][method]["mean"] for method in METHODS}
    assert abs(kl["RLOO"] - kl["PPO"]) < 1.0
    assert kl["GRPO"] > 2 * kl["PPO"]
