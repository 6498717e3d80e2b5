"""PPO on the course's tiny GPT-2 and reward model: the headline results (slow, seeded)."""

from __future__ import annotations

import numpy as np
import pytest

from rlhf_edu.app.ppo_experiment import (
    SETTINGS,
    STORED_SETTINGS,
    SWEEP_SETTINGS,
    merge_results,
    run_ppo,
)
from rlhf_edu.data import write_ppo_curves
from rlhf_edu.rlhf.ppo_results import load_ppo_curves, load_ppo_kl_sweep


@pytest.mark.slow
def test_a_short_ppo_run_raises_true_utility_with_kl_under_target():
    run = run_ppo(seed=0, n_updates=15, config_changes={"batch_size": 32})
    before, after = run["before"], run["after"]
    assert after["true_utility"] > before["true_utility"] + 0.2
    assert after["reward"] > before["reward"] + 0.5
    assert 0.0 < after["kl"] < 4.0  # the default KL target
    assert all(row["ratio_dev_first"] == 0.0 for row in run["history"])


def test_stored_file_holds_five_seeds_of_the_stored_settings_with_their_configs():
    results = load_ppo_curves()
    assert results["seeds"] == [0, 1, 2, 3, 4]
    assert list(results["settings"]) == list(STORED_SETTINGS)
    assert results["configs"] == {label: SETTINGS[label] for label in STORED_SETTINGS}
    for runs in results["settings"].values():
        assert len(runs) == len(results["seeds"])
        assert all(len(run["history"]) == results["n_updates"] == 60 for run in runs)


def test_stored_results_show_gains_under_the_kl_target_and_reward_hacking_without_it():
    results = load_ppo_curves()
    adaptive = results["settings"]["adaptive KL"]
    hacked = results["settings"]["no KL penalty"]
    for run in adaptive:
        assert run["after"]["true_utility"] > run["before"]["true_utility"] + 0.5
        assert run["after"]["kl"] < 4.0
    for with_kl, without_kl in zip(adaptive, hacked):
        # no penalty: a higher reward-model score and a far larger KL, every seed
        assert without_kl["after"]["reward"] > with_kl["after"]["reward"]
        assert without_kl["after"]["kl"] > 10 * with_kl["after"]["kl"]
    # ... and a lower true utility: on average over the seeds, by a clear margin
    true_with = np.mean([run["after"]["true_utility"] for run in adaptive])
    true_without = np.mean([run["after"]["true_utility"] for run in hacked])
    assert true_without < true_with - 0.4


def test_stored_runs_without_penalty_turn_down_while_the_score_keeps_rising():
    turned_down = 0
    for run in load_ppo_curves()["settings"]["no KL penalty"]:
        utility = np.convolve([r["true_utility"] for r in run["history"]], np.ones(5) / 5, "valid")
        reward = np.convolve([r["reward"] for r in run["history"]], np.ones(5) / 5, "valid")
        assert reward[-1] > reward[len(reward) // 2]  # the score still climbs ...
        turned_down += utility[-1] < utility.max() - 0.1  # ... past the true utility's peak
    assert turned_down >= 4


def test_stored_adaptive_controller_moves_beta_down_while_the_kl_is_under_target():
    for run in load_ppo_curves()["settings"]["adaptive KL"]:
        betas = [row["kl_coef"] for row in run["history"]]
        assert betas[0] == pytest.approx(0.1)
        assert all(b1 <= b0 for b0, b1 in zip(betas, betas[1:]))  # KL under 4 nats throughout
        assert 0.06 < betas[-1] < 0.09


def test_stored_results_match_what_the_current_code_starts_from():
    """The stored runs' "before" evaluation is reproduced by the code as it is now (catches stale
    results after a change to the models, the prompts or the evaluation)."""
    stored = load_ppo_curves()["settings"]["adaptive KL"][0]["before"]
    now = run_ppo(seed=0, n_updates=0)["before"]
    assert now["true_utility"] == pytest.approx(stored["true_utility"], abs=1e-6)
    assert now["reward"] == pytest.approx(stored["reward"], abs=1e-4)
    assert now["samples"] == stored["samples"]


def _fake_result(label: str, seeds: list[int], n_updates: int = 2) -> dict:
    def run(seed: int) -> dict:
        rows = [{"update": i, "reward": seed + i / 10} for i in range(n_updates)]
        return {"history": rows, "before": {"reward": 0.0}, "after": {"reward": float(seed)}}

    return {
        "n_updates": n_updates,
        "seeds": seeds,
        "configs": {label: SETTINGS[label]},
        "settings": {label: [run(s) for s in seeds]},
    }


def test_merging_split_runs_gives_the_file_one_run_writes(tmp_path):
    parts = [
        _fake_result("no KL penalty", [1]),
        _fake_result("adaptive KL", [0, 1]),
        _fake_result("no KL penalty", [0]),
    ]
    merged = merge_results(parts)
    assert list(merged["settings"]) == ["adaptive KL", "no KL penalty"]  # SETTINGS' order
    assert merged["seeds"] == [0, 1]
    assert [run["after"]["reward"] for run in merged["settings"]["no KL penalty"]] == [0.0, 1.0]
    whole = {
        "n_updates": 2,
        "seeds": [0, 1],
        "configs": {label: SETTINGS[label] for label in ("adaptive KL", "no KL penalty")},
        "settings": {
            "adaptive KL": _fake_result("adaptive KL", [0, 1])["settings"]["adaptive KL"],
            "no KL penalty": _fake_result("no KL penalty", [0, 1])["settings"]["no KL penalty"],
        },
    }
    a, b = (
        write_ppo_curves(merged, tmp_path / "a.json"),
        write_ppo_curves(whole, tmp_path / "b.json"),
    )
    assert a.read_text() == b.read_text()


def test_merging_refuses_missing_seeds_and_duplicates():
    with pytest.raises(ValueError, match="has seeds \\[0\\], others \\[0, 1\\]"):
        merge_results([_fake_result("adaptive KL", [0, 1]), _fake_result("no KL penalty", [0])])
    with pytest.raises(ValueError, match="appears twice"):
        merge_results([_fake_result("adaptive KL", [0]), _fake_result("adaptive KL", [0])])
    with pytest.raises(ValueError, match="updates"):
        merge_results([_fake_result("adaptive KL", [0]), _fake_result("no KL penalty", [0], 3)])


def _after(runs: list[dict], key: str) -> float:
    return float(np.mean([run["after"][key] for run in runs]))


def test_stored_sweep_holds_five_seeds_of_each_fixed_beta_with_their_configs():
    sweep = load_ppo_kl_sweep()
    assert sweep["seeds"] == load_ppo_curves()["seeds"] == [0, 1, 2, 3, 4]
    assert list(sweep["settings"]) == list(SWEEP_SETTINGS)
    assert sweep["configs"] == {label: SETTINGS[label] for label in SWEEP_SETTINGS}
    for runs in sweep["settings"].values():
        assert len(runs) == 5 and all(len(run["history"]) == 60 for run in runs)
        assert all(row["kl_coef"] == runs[0]["history"][0]["kl_coef"] for row in runs[0]["history"])


def test_stored_sweep_a_larger_beta_buys_a_smaller_kl_and_a_lower_score():
    """Mean over seeds, beta = 0 (the stored run without a penalty) up to 0.3: the KL and the
    reward-model score fall as the penalty grows."""
    ordered = [load_ppo_curves()["settings"]["no KL penalty"]]
    ordered += list(load_ppo_kl_sweep()["settings"].values())  # beta 0.01, 0.03, 0.1, 0.3
    kls = [_after(runs, "kl") for runs in ordered]
    scores = [_after(runs, "reward") for runs in ordered]
    assert all(a > b for a, b in zip(kls, kls[1:])), kls
    assert all(a > b for a, b in zip(scores, scores[1:])), scores


@pytest.mark.slow
def test_stored_sweep_matches_what_the_current_code_does_in_its_first_updates():
    """Catches a stale sweep: seed 0 with beta = 0.1, two updates, as the stored run logged them
    (the second update is the first that the penalty has shaped)."""
    stored = load_ppo_kl_sweep()["settings"]["fixed beta 0.1"][0]["history"][1]
    now = run_ppo(seed=0, n_updates=2, config_changes=SETTINGS["fixed beta 0.1"])["history"][1]
    for key in ("reward", "true_utility", "kl", "kl_coef", "policy_loss"):
        assert now[key] == pytest.approx(stored[key], rel=1e-4, abs=1e-5), key


def test_stored_sweep_true_utility_is_a_hump_in_beta():
    """Too little penalty (beta = 0) hacks the reward model, too much (0.3) holds the policy back;
    the true utility peaks in between, on the means over the seeds."""
    ordered = [load_ppo_curves()["settings"]["no KL penalty"]]
    ordered += list(load_ppo_kl_sweep()["settings"].values())
    utility = [_after(runs, "true_utility") for runs in ordered]
    peak = int(np.argmax(utility))
    assert 0 < peak < len(utility) - 1, utility
    assert utility[0] < utility[peak] - 0.4 and utility[-1] < utility[peak] - 0.1, utility
