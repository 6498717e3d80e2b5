"""Atomic checkpoints: a crash mid-write never leaves a corrupt or half-written file.

The recipe (the same one databases use): write the whole checkpoint to a temporary file in
the *same folder*, ``fsync`` it, then ``os.replace`` it onto the final name and ``fsync`` the
folder. ``os.replace`` is atomic on POSIX and Windows, so a reader sees either the old file or
the new one, never a mixture. Checkpoints carry a small header and a SHA-256 of their payload so
that a file damaged any other way (a full disk, a copy cut short) is detected on load.

``save_checkpoint(state, folder, step)`` writes ``folder/ckpt-000123.pt``;
``latest_checkpoint(folder)`` finds the newest file that loads cleanly, which is where a run
resumes.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlhf_edu.utils.validation import check_int

if TYPE_CHECKING:
    import torch

_MAGIC = b"RLHFEDU-CKPT-1\n"
_NAME = re.compile(r"^ckpt-(\d{9})\.pt$")


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated or corrupt."""


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some filesystems (and Windows) do not open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _new_file_mode() -> int:
    """The permissions ``open()`` gives a new file: 0666 minus the process's umask."""
    umask = os.umask(0o022)  # the only portable way to read it is to set it ...
    os.umask(umask)  # ... and put it back at once
    return 0o666 & ~umask


def atomic_write_bytes(data: bytes, path: str | os.PathLike) -> Path:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename)."""
    path = Path(path)
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OSError(f"cannot create output folder {folder}: {err.strerror or err}") from err
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"output folder {folder} is not writable")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        # mkstemp makes the file private (0600); give it the mode open() would (0644 under the
        # usual umask), so plots and results can be read by the rest of a course's staff
        os.fchmod(fd, _new_file_mode())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_dir(folder)
    return path


def save_checkpoint(
    state: dict[str, Any], path: str | os.PathLike, step: int | None = None, keep: int | None = 3
) -> Path:
    """Save ``state`` (anything ``torch.save`` accepts) atomically.

    Args:
        state: model/optimizer state dicts, RNG states, counters...
        path: a file path, or a folder when ``step`` is given (then the file is
            ``folder/ckpt-{step:09d}.pt``).
        step: the training step this checkpoint belongs to.
        keep: with ``step``, keep only this many newest checkpoints in the folder (None keeps all).

    Returns:
        The path written.
    """
    if step is not None:
        step = check_int("step", step, 0)
        folder = Path(path)
        target = folder / f"ckpt-{step:09d}.pt"
    else:
        target = Path(path)
    import torch  # here, not at the top: importing rlhf_edu.utils must not load torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    digest = hashlib.sha256(payload).hexdigest().encode()
    header = _MAGIC + digest + b"\n" + str(len(payload)).encode() + b"\n"
    atomic_write_bytes(header + payload, target)
    if step is not None and keep is not None:
        keep = check_int("keep", keep, 1)
        for old in list_checkpoints(target.parent)[:-keep]:
            old.unlink(missing_ok=True)
    return target


def load_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Load a checkpoint written by ``save_checkpoint``, verifying its checksum.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: the file is truncated, corrupt or not a checkpoint of ours.
    """
    path = Path(path)
    if path.is_dir():
        found = latest_checkpoint(path)
        if found is None:
            raise FileNotFoundError(f"no complete checkpoint in folder {path}")
        path = found
    data = path.read_bytes()
    if not data.startswith(_MAGIC):
        raise CheckpointError(f"{path} is not an rlhf_edu checkpoint (bad header)")
    try:
        digest, length, payload = data[len(_MAGIC) :].split(b"\n", 2)
        expected_length = int(length)
    except ValueError as err:
        raise CheckpointError(f"{path} is corrupt: malformed header") from err
    if len(payload) != expected_length:
        raise CheckpointError(
            f"{path} is truncated: {len(payload)} of {expected_length} payload bytes"
        )
    if hashlib.sha256(payload).hexdigest().encode() != digest:
        raise CheckpointError(f"{path} is corrupt: checksum mismatch")
    import torch

    if torch.device(map_location).type == "cpu":
        # accelerate's CPU processes live on device "cpu:0", which torch.load cannot restore to
        map_location = "cpu"
    return torch.load(io.BytesIO(payload), map_location=map_location, weights_only=False)


def list_checkpoints(folder: str | os.PathLike) -> list[Path]:
    """The ``ckpt-*.pt`` files in ``folder``, oldest step first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _NAME.match(p.name))


def latest_checkpoint(folder: str | os.PathLike) -> Path | None:
    """The newest checkpoint in ``folder`` that loads cleanly, or None (where a run resumes)."""
    for candidate in reversed(list_checkpoints(folder)):
        try:
            load_checkpoint(candidate)
        except (CheckpointError, OSError):
            continue
        return candidate
    return None
