"""Data-parallel RLHF PPO with accelerate: two CPU processes (gloo), as under ``accelerate launch``."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("accelerate")

SCRIPT = Path(__file__).with_name("accelerate_ppo_script.py")
TESTS = str(Path(__file__).resolve().parents[1])  # so the script can import tests/helpers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_cpu_processes_train_in_lockstep_and_resume_to_the_same_numbers(tmp_path):
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "RLHF_EDU_NO_PROGRESS": "1",
        "GLOO_SOCKET_IFNAME": "lo",
        "PYTHONPATH": os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")]),
    }
    # `accelerate launch --multi_gpu` starts GPU workers with torchrun; on the CPU (where
    # `accelerate launch --cpu` wants mpirun) we call torchrun directly: the script's
    # Accelerator(cpu=True) then joins a two-process gloo group.
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
        str(SCRIPT), str(tmp_path),
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{k}.json").read_text()) for k in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    # the processes sampled different prompts/responses ...
    assert ranks[0]["responses"] != ranks[1]["responses"]
    # ... yet averaged gradients keep their weights identical, and the weights did move
    assert ranks[0]["param_sum"] == ranks[1]["param_sum"]
    assert ranks[0]["param_abs_sum"] == ranks[1]["param_abs_sum"]
    assert ranks[0]["changed"]
    # metrics are averaged over processes: every rank logs the same numbers
    assert ranks[0]["history"][-1]["kl"] == ranks[1]["history"][-1]["kl"]
    assert all(math.isfinite(row["reward"]) for row in ranks[0]["history"])
    assert (tmp_path / "ckpt").is_dir() and any((tmp_path / "ckpt").iterdir())
    # resuming from update 1's checkpoint repeats the uninterrupted run on every rank
    drop = ("seconds",)
    for r in ranks:
        assert r["resumed_update"] == 1
        assert r["resumed_equal"], "resumed weights differ from the uninterrupted run's"
        straight = [{k: v for k, v in row.items() if k not in drop} for row in r["history"]]
        again = [{k: v for k, v in row.items() if k not in drop} for row in r["resumed_history"]]
        assert again == straight
