import json
import math

import numpy as np
import pytest
import torch

from rlhf_edu.utils import History


def test_history_records_rows_and_columns():
    history = History()
    history.log(step=1, loss=0.5)
    history.log(step=2, loss=0.25, episode_return=3.0)
    assert len(history) == 2
    assert history.columns == ["step", "loss", "episode_return"]
    assert history["loss"] == [0.5, 0.25]
    assert history["episode_return"] == [3.0]
    assert history.last("loss") == 0.25
    assert history.last("missing", default=-1) == -1


def test_numpy_and_torch_scalars_become_python_numbers():
    history = History()
    history.log(a=np.float32(1.5), b=torch.tensor(2.0), c=np.int64(3))
    row = history.rows[0]
    assert row == {"a": 1.5, "b": 2.0, "c": 3}
    assert all(type(v) in (int, float) for v in row.values())


def test_csv_and_json_round_trip(tmp_path):
    history = History()
    history.log(step=1, loss=0.5)
    history.log(step=2, accuracy=0.75, note="eval")
    history.to_csv(tmp_path / "m.csv")
    history.to_json(tmp_path / "m.json")
    assert History.from_csv(tmp_path / "m.csv").rows == history.rows
    assert History.from_json(tmp_path / "m.json").rows == history.rows
    assert (tmp_path / "m.csv").read_text().splitlines()[0] == "step,loss,accuracy,note"


def test_json_writes_nan_as_null(tmp_path):
    history = History()
    history.log(loss=math.nan)
    history.to_json(tmp_path / "m.json")
    assert json.loads((tmp_path / "m.json").read_text()) == [{"loss": None}]


def test_unknown_metric_lists_the_known_ones():
    history = History()
    history.log(loss=1.0)
    with pytest.raises(KeyError, match="known metrics: loss"):
        history["reward"]


def test_empty_log_is_rejected():
    with pytest.raises(ValueError, match="at least one metric"):
        History().log()


def test_state_dict_round_trip():
    history = History()
    history.log(step=1)
    copy = History()
    copy.load_state_dict(history.state_dict())
    assert copy.rows == history.rows
