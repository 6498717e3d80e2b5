"""Checks shared by the algorithms: config fields in range, and losses that must stay finite.

A config error names the field and its allowed range; a NaN or inf loss stops training with the
loss's name and the update number (the last checkpoint written before it stays loadable).
"""

from __future__ import annotations

import math

import numpy as np
import torch


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
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")


def field_float(
    name: str,
    value: object,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> None:
    """``value`` must be a finite float in ``[low, high]`` (``(low, high]`` when ``low_open``)."""
    lo = "(" if low_open else "["
    allowed = f"{lo}{'-inf' if low is None else low}, {'inf' if high is None else high}]"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name} must be a float in {allowed}, got {value!r}")
    value = float(value)
    ok = math.isfinite(value)
    if low is not None:
        ok = ok and (value > low if low_open else value >= low)
    if high is not None:
        ok = ok and value <= high
    if not ok:
        raise ValueError(f"{name} must be in {allowed}, got {value}")
