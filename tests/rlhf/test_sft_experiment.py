"""``rlhf-edu experiment sft``: the results file has every policy and measure (a small run),
and the packaged 3-seed file is what the current code produces (a slice re-run)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rlhf_edu.app import experiment_sft as study
from rlhf_edu.app.cli import main
from rlhf_edu.data import load_sft_vs_base
from rlhf_edu.utils.seeding import seed_everything


@pytest.fixture
def small(monkeypatch):
    for name, value in {
        "N_DEMOS": 16,
        "DEMO_CANDIDATES": 2,
        "N_EVAL_PROMPTS": 8,
        "PPO_CHANGES": {"batch_size": 4, "max_new_tokens": 8, "ppo_epochs": 1},
        "N_UPDATES": 1,
    }.items():
        monkeypatch.setattr(study, name, value)


@pytest.mark.slow  # about 30 s on 2 cores
def test_sft_experiment_writes_every_policy_and_measure(tmp_path, small):
    assert main(["experiment", "sft", "--seeds", "1", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    for measure in study.MEASURES:
        assert list(results[measure]) == list(study.POLICIES)
        for values in results[measure].values():
            assert len(values["per_seed"]) == 1
    kl_base, kl_own = results["kl_to_base"], results["kl_to_own_reference"]
    assert kl_base["base"]["mean"] == 0.0
    # PPO from the base model: its own reference is the base model
    assert kl_own["ppo_from_base"]["mean"] == kl_base["ppo_from_base"]["mean"]
    # the SFT model is its own reference, but not the base model (a sampled KL: any sign)
    assert kl_own["sft"]["mean"] == 0.0 != kl_base["sft"]["mean"]
    assert len(results["curves"]["ppo_from_sft"]["true_utility"][0]) == 1
    assert len(results["samples"]["ppo_from_sft"]) == study.N_SAMPLES_SHOWN
    assert (tmp_path / "sft_vs_base.png").stat().st_size > 0


def test_stored_study_holds_three_seeds_of_every_policy():
    stored = load_sft_vs_base()
    assert stored["seeds"] == [0, 1, 2]
    assert stored["config"]["n_demos"] == study.N_DEMOS
    assert stored["config"]["n_updates"] == study.N_UPDATES
    assert stored["config"]["ppo_changes"] == study.PPO_CHANGES
    assert stored["config"]["sft"] == study.SFT_SETTINGS
    for measure in study.MEASURES:
        assert list(stored[measure]) == list(study.POLICIES)
        for values in stored[measure].values():
            assert len(values["per_seed"]) == 3
            assert values["mean"] == pytest.approx(np.mean(values["per_seed"]), rel=1e-5, abs=1e-6)


def test_stored_study_shows_sft_starting_higher_and_staying_closer_to_its_own_reference():
    stored = load_sft_vs_base()
    utility = {p: np.array(v["per_seed"]) for p, v in stored["true_utility"].items()}
    # demonstrations beat the base model; SFT on them moves the model towards them
    assert all(np.array(stored["demonstrations"]["true_utility"]["per_seed"]) > utility["base"])
    assert all(utility["sft"] > utility["base"])
    # RLHF raises the true utility from either start
    assert all(utility["ppo_from_base"] > utility["base"])
    assert all(utility["ppo_from_sft"] > utility["sft"])
    # ... and from the SFT model it ends higher, every seed, at a small KL to its own reference
    # but a larger one to the base model (SFT's own distance plus PPO's)
    assert all(utility["ppo_from_sft"] > utility["ppo_from_base"] + 0.1)
    own = np.array(stored["kl_to_own_reference"]["ppo_from_sft"]["per_seed"])
    to_base = np.array(stored["kl_to_base"]["ppo_from_sft"]["per_seed"])
    assert all(own < to_base)


@pytest.mark.slow  # about 25 s of CPU: demonstrations, SFT, one PPO update
def test_stored_study_matches_what_the_current_code_produces():
    """Seed 0's demonstrations, SFT model and the first PPO rollout from it, re-run now."""
    from rlhf_edu.rlhf.lm import load_tiny_lm
    from rlhf_edu.rlhf.reward_model import load_default_reward_model

    stored = load_sft_vs_base()
    prompts, responses, utilities = study.make_demonstrations(0)
    assert np.mean(utilities) == pytest.approx(
        stored["demonstrations"]["true_utility"]["per_seed"][0], abs=1e-5
    )
    assert [[p, r] for p, r in zip(prompts, responses)][:4] == stored["demonstrations"]["samples"]
    sft, _ = study.sft_model(0, prompts, responses)
    base, tokenizer = load_tiny_lm()
    evaluation = study.evaluate_policy(sft, sft, base, tokenizer, load_default_reward_model(), 0)
    for measure in ("true_utility", "kl_to_base", "distinct_2"):
        assert evaluation[measure] == pytest.approx(stored[measure]["sft"]["per_seed"][0], abs=1e-4)
    assert evaluation["samples"] == stored["samples"]["sft"]
    seed_everything(0)  # as run_seed does before each PPO run
    trainer = study.ppo_from(sft, 0, n_updates=1)
    first = trainer.history.rows[0]
    curves = stored["curves"]["ppo_from_sft"]
    assert first["true_utility"] == pytest.approx(curves["true_utility"][0][0], abs=1e-4)
    assert first["reward"] == pytest.approx(curves["reward"][0][0], abs=1e-4)
