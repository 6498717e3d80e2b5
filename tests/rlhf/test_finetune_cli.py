"""Smoke tests of ``rlhf-edu train rlhf`` and ``rlhf-edu train dpo`` with tiny settings.

They go through ``rlhf_edu.cli.main`` (the entry point of the ``rlhf-edu`` script), so they hold
wherever the commands live. The course's tiny GPT-2 comes from the cache; the default reward
model (a minute and a half to train) is replaced by a fresh one on the tiny GPT-2's backbone,
which the commands load through ``reward_model.load_default_reward_model``.
"""

from __future__ import annotations

import json

import pytest
import torch

from rlhf_edu.cli import main
from rlhf_edu.rlhf import reward_model
from rlhf_edu.rlhf.lm import load_tiny_lm
from rlhf_edu.rlhf.preferences import make_synthetic_pairs, write_preferences
from rlhf_edu.utils import History


@pytest.fixture
def small_reward_model(monkeypatch):
    torch.set_num_threads(1)
    model, tokenizer = load_tiny_lm()
    torch.manual_seed(0)
    rm = reward_model.RewardModel.from_lm(model, tokenizer)
    monkeypatch.setattr(reward_model, "load_default_reward_model", lambda *a, **k: rm)
    return rm


def test_train_rlhf_runs_an_update_and_writes_its_run(tmp_path, capsys, small_reward_model):
    out = tmp_path / "ppo"
    assert main(["train", "rlhf", "--updates", "1", "--out", str(out), "--seed", "0"]) == 0
    assert "PPO run written to" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["updates"] == 1
    for when in ("before", "after"):
        assert set(summary[when]) == {"reward", "true_utility", "kl", "eos_fraction"}
    history = History.from_csv(out / "history.csv")
    for key in ("reward", "kl", "approx_kl", "clipfrac", "value_clipfrac", "explained_variance"):
        assert key in history.columns
    assert (out / "policy" / "config.json").is_file()
    assert list((out / "checkpoints").glob("ckpt-*.pt"))


def test_train_dpo_on_a_pairs_file_writes_its_run(tmp_path, capsys, small_reward_model):
    pairs = write_preferences(make_synthetic_pairs("mix", 16, seed=0), tmp_path / "pairs.jsonl")
    out = tmp_path / "dpo"
    assert main(["train", "dpo", "--pairs", str(pairs), "--out", str(out), "--beta", "0.2"]) == 0
    assert "DPO run written to" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_pairs"] == 16 and summary["beta"] == 0.2
    assert summary["after"]["kl"] != 0.0  # the policy moved away from its reference
    history = History.from_csv(out / "history.csv")
    assert {"loss", "accuracy", "margin"} <= set(history.columns)
    assert (out / "policy" / "config.json").is_file()


def test_train_dpo_reports_a_missing_pairs_file_in_one_line(tmp_path, capsys):
    assert main(["train", "dpo", "--pairs", str(tmp_path / "none.jsonl")]) == 1
    err = capsys.readouterr().err
    assert "no preference file" in err and "Traceback" not in err
