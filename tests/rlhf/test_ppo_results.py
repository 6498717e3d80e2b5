"""PPO on the course's tiny GPT-2 and reward model: the headline results (slow, seeded)."""

from __future__ import annotations

import pytest

from rlhf_edu.rlhf.ppo_results import load_ppo_curves, run_ppo


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
