import os
import subprocess
import sys
import textwrap

import pytest
import torch

from rlhf_edu.utils import (
    CheckpointError,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from rlhf_edu.utils.checkpoint import list_checkpoints


def test_save_then_load_round_trips_tensors_and_python_objects(tmp_path):
    state = {"weights": torch.arange(6.0).reshape(2, 3), "step": 7, "name": "run"}
    path = save_checkpoint(state, tmp_path / "model.pt")
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["weights"], state["weights"])
    assert loaded["step"] == 7 and loaded["name"] == "run"


def test_no_temporary_files_are_left_behind(tmp_path):
    save_checkpoint({"x": 1}, tmp_path, step=1)
    save_checkpoint({"x": 2}, tmp_path, step=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-000000001.pt", "ckpt-000000002.pt"]


def test_keep_prunes_old_checkpoints(tmp_path):
    for step in range(5):
        save_checkpoint({"step": step}, tmp_path, step=step, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == [
        "ckpt-000000003.pt",
        "ckpt-000000004.pt",
    ]


def test_truncated_checkpoint_is_detected(tmp_path):
    path = save_checkpoint({"w": torch.ones(100)}, tmp_path / "c.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(path)


def test_corrupted_checkpoint_is_detected(tmp_path):
    path = save_checkpoint({"w": torch.ones(100)}, tmp_path / "c.pt")
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum"):
        load_checkpoint(path)


def test_foreign_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "c.pt"
    path.write_bytes(b"hello")
    with pytest.raises(CheckpointError, match="not an rlhf_edu checkpoint"):
        load_checkpoint(path)


def test_resume_skips_a_corrupt_newest_checkpoint(tmp_path):
    save_checkpoint({"step": 1}, tmp_path, step=1)
    save_checkpoint({"step": 2}, tmp_path, step=2)
    newest = tmp_path / "ckpt-000000002.pt"
    newest.write_bytes(newest.read_bytes()[:40])
    assert latest_checkpoint(tmp_path) == tmp_path / "ckpt-000000001.pt"
    assert load_checkpoint(tmp_path)["step"] == 1


def test_process_killed_mid_write_leaves_the_previous_checkpoint_intact(tmp_path):
    """Simulate a crash: the child process is killed (os._exit) in the middle of writing."""
    save_checkpoint({"step": 1, "w": torch.zeros(10)}, tmp_path, step=1)
    script = textwrap.dedent(
        f"""
        import os, torch
        import rlhf_edu.utils.checkpoint as ckpt
        real_fsync = os.fsync
        def crash(fd):
            os._exit(9)          # die after the bytes are written, before the rename
        ckpt.os.fsync = crash
        ckpt.save_checkpoint({{"step": 2, "w": torch.ones(1_000_000)}}, {str(tmp_path)!r}, step=2)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert result.returncode == 9
    # The half-written temp file never became a checkpoint; resume finds step 1.
    assert [p.name for p in list_checkpoints(tmp_path)] == ["ckpt-000000001.pt"]
    assert load_checkpoint(latest_checkpoint(tmp_path))["step"] == 1


def test_load_from_empty_folder_names_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="no complete checkpoint"):
        load_checkpoint(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_folder_raises_a_clear_error(tmp_path):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match="not writable"):
            save_checkpoint({"x": 1}, tmp_path / "c.pt")
    finally:
        tmp_path.chmod(0o700)


def test_output_folder_under_a_file_raises_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError, match="cannot create output folder"):
        save_checkpoint({"x": 1}, blocker / "sub" / "c.pt")


def test_bad_step_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="step"):
        save_checkpoint({"x": 1}, tmp_path, step=-1)


def test_tensors_saved_on_an_indexed_cpu_device_load_onto_it(tmp_path):
    """accelerate's CPU processes use device "cpu:0"; their checkpoints must load back there."""
    device = torch.device("cpu", 0)
    save_checkpoint({"w": torch.ones(3, device=device)}, tmp_path, step=1)
    state = load_checkpoint(tmp_path, map_location=device)
    assert torch.equal(state["w"], torch.ones(3))


def test_atomically_written_files_are_readable_by_others_like_any_new_file(tmp_path):
    import os

    from rlhf_edu.utils.checkpoint import atomic_write_bytes

    old = os.umask(0o022)
    try:
        path = atomic_write_bytes(b"x", tmp_path / "plot.png")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
