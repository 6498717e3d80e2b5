"""Checks shared by the algorithms: config fields in range, and losses that must stay finite.

A config error names the field and its allowed range; a NaN or inf loss stops training with the
loss's name and the update number (the last checkpoint written before it stays loadable).
"""

from __future__ import annotations

import torch

from rlhf_edu.utils.validation import check_float, check_int


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or inf; training stopped before the bad update was applied."""


def check_finite_loss(name: str, loss: torch.Tensor, update: int, checkpoint: str | None) -> None:
    """Raise ``NonFiniteLossError`` if ``loss`` is NaN or inf."""
    if not torch.isfinite(loss).all():
        where = (
            f"; the last good checkpoint is in {checkpoint}"
            if checkpoint
            else " (no checkpoint_dir was set, nothing was saved)"
        )
        raise NonFiniteLossError(
            f"{name} is {loss.item()} at update {update}: training stopped before applying it"
            f"{where}. Lower learning_rate, check the rewards for NaN/inf, or clip gradients."
        )


def field_int(name: str, value: object, low: int = 1) -> None:
    """A config field that must be an int ``>= low`` (``TypeError``/``ValueError`` otherwise)."""
    check_int(name, value, low)


def field_float(
    name: str,
    value: object,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> None:
    """``value`` must be a finite float in ``[low, high]`` (``(low, high]`` when ``low_open``)."""
    check_float(name, value, low, high, low_open=low_open)
