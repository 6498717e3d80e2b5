import subprocess
import sys

import pytest

from rlhf_edu.app.cli import build_parser, main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rlhf_edu.app.cli", *args], capture_output=True, text=True
    )


def test_help_lists_every_subcommand():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("demo", "assign", "grade", "train", "experiment", "label"):
        assert command in result.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["demo"],
        ["assign"],
        ["grade"],
        ["train"],
        ["train", "lm"],
        ["train", "agent"],
        ["experiment"],
        ["label"],
    ],
)
def test_every_level_has_useful_help(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: rlhf-edu")
    assert "options:" in out


def test_unknown_command_exits_nonzero_with_one_line_reason():
    result = run_cli("fly")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "invalid choice: 'fly'" in lines[0]


def test_bad_option_exits_nonzero_with_one_line_reason():
    result = run_cli("demo", "--sped", "3")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "rlhf-edu: error: unrecognized arguments: --sped 3 (see 'rlhf-edu --help')"
    ]


@pytest.mark.parametrize("seed", ["-1", "abc", "1.5"])
def test_invalid_seed_is_a_usage_error(seed):
    result = run_cli("demo", "--seed", seed)
    assert result.returncode == 2
    assert "seed must be" in result.stderr


def test_missing_subcommand_is_an_error():
    result = run_cli()
    assert result.returncode == 2
    assert "required" in result.stderr


def test_parser_builds_without_importing_torch():
    code = "import sys; from rlhf_edu.app.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False"


def test_demo_into_an_unwritable_place_fails_with_a_clear_message(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run_cli("demo", "--out", str(blocker), "--tracks", "tabular")
    assert result.returncode == 1
    assert "exists and is not a folder" in result.stderr


def test_demo_rejects_unknown_tracks(tmp_path):
    result = run_cli("demo", "--out", str(tmp_path / "run"), "--tracks", "space")
    assert result.returncode == 1
    assert "unknown track(s) ['space']" in result.stderr


def test_version_flag():
    assert build_parser().parse_args(["demo"]).command == "demo"
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("rlhf-edu ")


def test_an_unknown_flag_before_any_command_is_named():
    result = run_cli("--bogus")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "rlhf-edu: error: unrecognized arguments: --bogus (see 'rlhf-edu --help')"
    ]


def test_train_without_a_target_says_which_argument_is_missing():
    result = run_cli("train")
    assert result.returncode == 2
    assert "required: TARGET" in result.stderr


def test_a_bad_env_id_is_a_one_line_error():
    result = run_cli("train", "agent", "ppo", "--env", "NoSuchEnv-v0", "--steps", "10")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "NoSuchEnv-v0" in lines[0] and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "argv, config",
    [
        (["train", "agent", "dqn"], "DQNConfig"),
        (["train", "rlhf"], "RLHFPPOConfig"),
        (["train", "dpo"], "DPOConfig"),
        (["train", "reward-model"], "RewardModelConfig"),
    ],
)
def test_train_help_shows_every_config_field_with_its_help_text(argv, config, capsys):
    import dataclasses
    import importlib

    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert f"{config} fields" in out
    module = {"DQNConfig": "rlhf_edu.neural.dqn", "RLHFPPOConfig": "rlhf_edu.rlhf.ppo"}.get(
        config, "rlhf_edu.rlhf.dpo" if config == "DPOConfig" else "rlhf_edu.rlhf.reward_model"
    )
    for field in dataclasses.fields(getattr(importlib.import_module(module), config)):
        assert f"  {field.name} = " in out
        help_text = field.metadata.get("help", "")
        if help_text:
            assert help_text.split()[0] in out
