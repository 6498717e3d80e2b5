"""PPO on the course's tiny GPT-2 and reward model: the headline results (slow, seeded)."""

from __future__ import annotations

import numpy as np
import pytest

from rlhf_edu.app.ppo_experiment import run_ppo
from rlhf_edu.rlhf.ppo_results import load_ppo_curves


@pytest.mark.slow
def test_a_short_ppo_run_raises_true_utility_with_kl_under_target():
    run = run_ppo(seed=0, n_updates=15, config_changes={"batch_size": 32})
    before, after = run["before"], run["after"]
    assert after["true_utility"] > before["true_utility"] + 0.2
    assert after["reward"] > before["reward"] + 0.5
    assert 0.0 < after["kl"] < 4.0  # the default KL target
    assert all(row["ratio_dev_first"] == 0.0 for row in run["history"])


def test_stored_results_show_gains_under_the_kl_target_and_reward_hacking_without_it():
    results = load_ppo_curves()
    assert results["seeds"] == [0, 1, 2]
    for run in results["settings"]["adaptive KL"]:
        assert run["after"]["true_utility"] > run["before"]["true_utility"] + 0.5
        assert run["after"]["kl"] < 4.0
    hacked = results["settings"]["no KL penalty"]
    adaptive = results["settings"]["adaptive KL"]
    for with_kl, without_kl in zip(adaptive, hacked):
        # no penalty: a higher reward-model score, a far larger KL, a lower true utility
        assert without_kl["after"]["reward"] > with_kl["after"]["reward"]
        assert without_kl["after"]["kl"] > 10 * with_kl["after"]["kl"]
        assert without_kl["after"]["true_utility"] < with_kl["after"]["true_utility"]


def test_stored_runs_without_penalty_turn_down_while_the_score_keeps_rising():
    for run in load_ppo_curves()["settings"]["no KL penalty"]:
        utility = np.convolve([r["true_utility"] for r in run["history"]], np.ones(5) / 5, "valid")
        reward = np.convolve([r["reward"] for r in run["history"]], np.ones(5) / 5, "valid")
        assert utility[-1] < utility.max() - 0.1  # true utility past its peak ...
        assert reward[-1] > reward[len(reward) // 2]  # ... while the score still climbs


def test_stored_results_match_what_the_current_code_starts_from():
    """The stored runs' "before" evaluation is reproduced by the code as it is now (catches stale
    results after a change to the models, the prompts or the evaluation)."""
    stored = load_ppo_curves()["settings"]["adaptive KL"][0]["before"]
    now = run_ppo(seed=0, n_updates=0)["before"]
    assert now["true_utility"] == pytest.approx(stored["true_utility"], abs=1e-6)
    assert now["reward"] == pytest.approx(stored["reward"], abs=1e-4)
    assert now["samples"] == stored["samples"]
