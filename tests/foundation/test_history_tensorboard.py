"""History(tensorboard_dir=...): metrics as TensorBoard scalars, through the optional extra.

The real event file is read back with TensorBoard's EventAccumulator when the ``tensorboard``
package is installed (``pip install 'rlhf_edu[tensorboard]'``); the writer calls and the error
without the package are checked everywhere.
"""

from __future__ import annotations

import builtins
import importlib.util
import pickle

import pytest

import rlhf_edu.utils.history as history_module
from rlhf_edu.utils import History


class FakeWriter:
    """Records SummaryWriter calls: add_scalar(tag, value, global_step), flush, close."""

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.scalars: list[tuple[str, float, int]] = []
        self.flushed = 0
        self.closed = False

    def add_scalar(self, tag, value, global_step):
        self.scalars.append((tag, value, global_step))

    def flush(self):
        self.flushed += 1

    def close(self):
        self.closed = True


@pytest.fixture
def fake_writer(monkeypatch):
    made: list[FakeWriter] = []

    def make(log_dir):
        made.append(FakeWriter(log_dir))
        return made[-1]

    monkeypatch.setattr(history_module, "_summary_writer", make)
    return made


def test_each_numeric_metric_is_a_scalar_at_the_rows_step(tmp_path, fake_writer):
    history = History(tensorboard_dir=tmp_path / "tb")
    history.log(env_steps=128, episode_return=9.0, policy_loss=-0.5)
    history.log(env_steps=256, episode_return=None, note="eval", eval_return=21.5)
    history.log(loss=0.25)  # no step key: the row's index is its step
    writer = fake_writer[0]
    assert writer.log_dir == tmp_path / "tb"
    assert writer.scalars == [
        ("episode_return", 9.0, 128),
        ("policy_loss", -0.5, 128),
        ("eval_return", 21.5, 256),
        ("loss", 0.25, 2),
    ]
    assert len(history) == 3  # the rows are kept as without TensorBoard
    history.close()
    assert writer.closed


def test_rows_given_at_construction_are_written_at_once_and_step_keys_have_an_order(
    tmp_path, fake_writer
):
    rows = [{"update": 1, "epoch": 0, "kl": 0.1}, {"step": 7, "update": 2, "kl": 0.2}]
    with History(rows, tensorboard_dir=tmp_path) as history:
        assert fake_writer[0].scalars == [("epoch", 0, 1), ("kl", 0.1, 1), ("update", 2, 7)] + [
            ("kl", 0.2, 7)
        ]
        assert fake_writer[0].flushed == 1
    assert fake_writer[0].closed and history.rows == rows


def test_to_tensorboard_writes_a_finished_history_into_a_new_event_file(tmp_path, fake_writer):
    history = History()
    history.log(epoch=0, loss=2.0)
    history.log(epoch=1, loss=1.0)
    assert history.to_tensorboard(tmp_path / "tb") == tmp_path / "tb"
    assert fake_writer[0].scalars == [("loss", 2.0, 0), ("loss", 1.0, 1)]
    assert fake_writer[0].closed


def test_a_history_with_a_writer_pickles_with_its_rows_only(tmp_path, fake_writer):
    history = History(tensorboard_dir=tmp_path)
    history.log(step=1, loss=1.0)
    copy = pickle.loads(pickle.dumps(history))
    assert copy.rows == history.rows and copy._writer is None


def test_without_tensorboard_the_error_names_the_extra(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name == "tensorboard" or name.startswith("tensorboard."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with pytest.raises(ImportError, match=r"rlhf_edu\[tensorboard\]"):
        History(tensorboard_dir=tmp_path)
    History().log(step=1, loss=0.5)  # without tensorboard_dir nothing is needed


@pytest.mark.skipif(
    importlib.util.find_spec("tensorboard") is None,
    reason="the optional tensorboard extra is not installed",
)
def test_the_event_file_reads_back_in_tensorboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    with History(tensorboard_dir=tmp_path) as history:
        for step in (100, 200, 300):
            history.log(env_steps=step, episode_return=step / 10, note="x")
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert events.Tags()["scalars"] == ["episode_return"]
    read = [(e.step, e.value) for e in events.Scalars("episode_return")]
    assert read == [(100, 10.0), (200, 20.0), (300, 30.0)]


def test_train_agent_tensorboard_option_writes_the_runs_metrics(
    tmp_path, fake_writer, monkeypatch, capsys
):
    from rlhf_edu.app.cli import main

    monkeypatch.setattr("rlhf_edu.app.train_agent.require_tensorboard", lambda: None)
    argv = ["train", "agent", "a2c", "--steps", "256", "--out", str(tmp_path / "run")]
    assert main([*argv, "--tensorboard", str(tmp_path / "tb")]) == 0
    writer = fake_writer[0]
    assert writer.log_dir == tmp_path / "tb" and writer.closed
    tags = {tag for tag, _, _ in writer.scalars}
    assert {"episode_return", "policy_loss", "value_loss", "entropy"} <= tags
    steps = [step for tag, _, step in writer.scalars if tag == "policy_loss"]
    assert steps == sorted(steps) and steps[-1] == 256  # at env steps, as SB3 and CleanRL log
    assert f"tensorboard: {tmp_path / 'tb'}" in capsys.readouterr().out


def test_train_agent_without_tensorboard_fails_before_training(tmp_path, monkeypatch, capsys):
    from rlhf_edu.app.cli import main

    def missing():
        raise ImportError("... an optional extra: pip install 'rlhf_edu[tensorboard]'")

    monkeypatch.setattr("rlhf_edu.app.train_agent.require_tensorboard", missing)
    argv = ["train", "agent", "ppo", "--out", str(tmp_path / "run"), "--tensorboard", "tb"]
    assert main(argv) == 1
    assert "rlhf_edu[tensorboard]" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # nothing was trained
