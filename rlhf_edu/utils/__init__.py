"""Shared utilities: seeding, atomic checkpoints, metric history and progress bars.

These are the only helpers every track shares; each lives in its own module.
"""

from rlhf_edu.utils.checkpoint import (
    CheckpointError,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from rlhf_edu.utils.history import History
from rlhf_edu.utils.progress import progress, progress_disabled
from rlhf_edu.utils.seeding import check_seed, seed_everything

__all__ = [
    "CheckpointError",
    "History",
    "check_seed",
    "latest_checkpoint",
    "load_checkpoint",
    "progress",
    "progress_disabled",
    "save_checkpoint",
    "seed_everything",
]
