"""The command line of the tiny LM: `rlhf-edu train lm` and `rlhf-edu label`."""

import io

import torch

from rlhf_edu.app.cli import main
from rlhf_edu.rlhf.lm import load_tiny_lm
from rlhf_edu.rlhf.preferences import read_preferences

torch.set_num_threads(1)


def test_train_lm_reuses_the_cached_build(capsys):
    load_tiny_lm()  # built once into the shared cache
    assert main(["train", "lm"]) == 0
    assert "already built" in capsys.readouterr().out


def test_label_appends_choices_read_from_standard_input(tmp_path, monkeypatch, capsys):
    out = tmp_path / "mine.jsonl"
    monkeypatch.setattr("sys.stdin", io.StringIO("1\n2\nq\n"))
    assert main(["label", str(out), "--n", "3"]) == 0
    assert len(read_preferences(out)) == 2
    monkeypatch.setattr("sys.stdin", io.StringIO("2\n"))
    assert main(["label", str(out), "--n", "1"]) == 0
    assert len(read_preferences(out)) == 3
    assert "2 pair(s) already in" in capsys.readouterr().out


def test_label_reports_a_malformed_file_with_its_line(tmp_path, capsys):
    out = tmp_path / "broken.jsonl"
    out.write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n{"prompt": "p"}\n')
    assert main(["label", str(out), "--n", "1"]) == 1
    assert f"{out}:2: missing field(s) chosen, rejected" in capsys.readouterr().err
