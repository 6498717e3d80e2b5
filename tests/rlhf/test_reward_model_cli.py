"""`rlhf-edu train reward-model --pairs FILE` trains, normalizes, saves and resumes."""

import pytest
import torch

from rlhf_edu.app.cli import main
from rlhf_edu.rlhf.preferences import make_synthetic_pairs, write_preferences
from rlhf_edu.rlhf.reward_model import RewardModel

torch.set_num_threads(1)


def test_train_reward_model_on_a_pairs_file_saves_a_loadable_model(tmp_path, capsys):
    pairs = write_preferences(make_synthetic_pairs("sentiment", 40, seed=0), tmp_path / "p.jsonl")
    out = tmp_path / "rm"
    assert main(["train", "reward-model", "--pairs", str(pairs), "--out", str(out)]) == 0
    assert "held-out accuracy" in capsys.readouterr().out
    model = RewardModel.load(out)
    assert RewardModel.metadata(out)["n_pairs"] == 36  # 10% held out
    assert model.score(["Review of the gym:"], [" The class was great."]).shape == (1,)
    assert list((out / "checkpoints").glob("ckpt-*.pt"))


def test_train_reward_model_refuses_too_few_pairs(tmp_path, capsys):
    pairs = write_preferences(make_synthetic_pairs("mix", 3, seed=0), tmp_path / "few.jsonl")
    assert main(["train", "reward-model", "--pairs", str(pairs), "--out", str(tmp_path)]) == 1
    assert "need at least 10" in capsys.readouterr().err


@pytest.mark.slow
def test_train_reward_model_without_arguments_builds_the_cached_default(capsys):
    assert main(["train", "reward-model"]) == 0
    out = capsys.readouterr().out
    assert "default reward model (mix labeler, 16000 pairs)" in out and "Bayes-optimal" in out
