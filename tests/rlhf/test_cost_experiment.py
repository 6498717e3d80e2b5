"""``rlhf-edu experiment cost``: every stage in one table, wall-clock numbers kept apart, bad
arguments named (operating points shrunk so the run takes seconds)."""

from __future__ import annotations

import json

import pytest

from rlhf_edu.app import experiment_cost as study
from rlhf_edu.app.cli import main
from rlhf_edu.rlhf.feedback.cost import label_seconds

SMALL = study.OperatingPoints(
    rm_pairs=64,
    rm_measured_steps=1,
    ppo_measured_updates=1,
    ppo_changes=(("batch_size", 4), ("max_new_tokens", 8), ("ppo_epochs", 1)),
    dpo_pairs=16,
    dpo_batch_size=8,
    dpo_measured_steps=1,
    eval_prompts=8,
    bon_measured_prompts=2,
    max_new_tokens=8,
)


@pytest.mark.slow  # about 30 s on 2 cores
def test_cost_experiment_tables_every_stage_and_keeps_wall_clock_apart(tmp_path, monkeypatch):
    monkeypatch.setattr(study, "POINTS", SMALL)
    assert main(["experiment", "cost", "--seeds", "1", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert list(results["stages"]) == list(study.STAGES)
    assert set(results["pipelines"]) == {"ppo", "dpo", "best_of_2", "best_of_4", "best_of_8",
                                         "best_of_16"}  # fmt: skip
    labels = results["stages"]["labels_reward_model"]
    assert labels["labels"] == 64
    assert labels["person_seconds"] == pytest.approx(
        64 * label_seconds("pairs", labels["words_per_response"]), rel=1e-5
    )
    assert labels["person_cost_usd"] == pytest.approx(
        labels["person_seconds"] / 3600 * 7.25, rel=1e-5
    )
    for name in ("reward_model", "ppo", "dpo", "best_of_16", "sampling"):
        stage = results["stages"][name]
        assert stage["flops"] > 0 and stage["energy_h100_j_lower_bound"] > 0
        assert results["wall_clock"]["stages"][name]["seconds"] > 0
    assert results["stages"]["ppo"]["operating_units"] == 60  # scaled from 1 measured update
    # sixteen samples and their scores cost more than one sample
    assert results["stages"]["best_of_16"]["flops"] > 10 * results["stages"]["sampling"]["flops"]
    # nothing measured by the clock outside "wall_clock"
    outside = json.dumps({k: v for k, v in results.items() if k != "wall_clock"})
    assert '"seconds"' not in outside and "energy_cpu_j" not in outside
    # the stored PPO run's gain is the packaged number
    assert results["true_utility_gain"]["ppo"]["per_seed"][0] > 0.5
    table = (tmp_path / "cost_table.md").read_text()
    for description in study.STAGES.values():
        assert description in table
    assert (tmp_path / "cost.png").stat().st_size > 0


def test_the_table_refuses_results_that_lack_a_stage():
    with pytest.raises(ValueError, match="stages"):
        study.cost_table_markdown({"stages": {}, "pipelines": {}, "true_utility_gain": {},
                                   "wall_clock": {}, "assumptions": {}})  # fmt: skip
    with pytest.raises(ValueError, match="'pipelines'"):
        study.cost_table_markdown({"stages": {}})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"rm_measured_steps": 600}, "rm_measured_steps"),
        ({"ppo_measured_updates": 0}, "ppo_measured_updates"),
        ({"bon_measured_prompts": 200}, "bon_measured_prompts"),
        ({"best_of": 8}, "best_of"),
        ({"dpo_pairs": 2.5}, "dpo_pairs"),
    ],
)
def test_bad_operating_points_are_named(changes, message):
    with pytest.raises((ValueError, TypeError), match=message):
        study.OperatingPoints(**changes)


def test_bad_study_arguments_are_named_before_any_compute():
    with pytest.raises(ValueError, match="seeds must be among the stored PPO runs"):
        study.run_cost_study([7])
    with pytest.raises(ValueError, match="seeds is empty"):
        study.run_cost_study([])
    with pytest.raises(ValueError, match="cpu_watts"):
        study.run_cost_study([0], cpu_watts=0.0)
    with pytest.raises(ValueError, match="wage_per_hour"):
        study.run_cost_study([0], wage_per_hour=-1.0)
    with pytest.raises(TypeError, match="points"):
        study.run_cost_study([0], points={"rm_pairs": 10})
