"""Argument checks shared by every track: each error names the argument and its allowed range.

A wrong type raises ``TypeError``; a value of the right type outside its range raises
``ValueError``. Both messages read ``<name> must be ...``, so the user knows which argument to fix.
Only the standard library and numpy are imported (this module is loaded by the tabular track).

Config dataclasses declare each field with ``documented(default, help)``: the help text lives in
the field's ``metadata["help"]``, where a command line's ``--help`` can read it.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any

import numpy as np

__all__ = ["check_float", "check_int", "check_probability", "documented", "field_help"]


def check_int(name: str, value: object, low: int = 1, high: int | None = None) -> int:
    """``value`` as an ``int`` in ``[low, high]`` (``high=None``: no upper bound).

    ``True``/``False`` are refused although Python counts them as ints: ``n_episodes=True`` is a
    bug, never a count.
    """
    allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int {allowed}, got {type(value).__name__} {value!r}")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be an int {allowed}, got {value!r}")
    return int(value)


def check_float(
    name: str,
    value: object,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite ``float`` in ``[low, high]``; ``low_open``/``high_open`` exclude an end.

    ``None`` for an end means unbounded on that side. Ints are accepted (``gamma=1``).
    """
    lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
    allowed = f"{lo}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be a number in {allowed}, got {type(value).__name__} {value!r}"
        )
    number = float(value)
    ok = math.isfinite(number)
    if low is not None:
        ok = ok and (number > low if low_open else number >= low)
    if high is not None:
        ok = ok and (number < high if high_open else number <= high)
    if not ok:
        raise ValueError(f"{name} must be in {allowed}, got {number}")
    return number


def check_probability(name: str, value: object) -> float:
    """A probability in ``[0, 1]`` (epsilon, a clip fraction, a mixing weight)."""
    return check_float(name, value, 0.0, 1.0)


def documented(default: Any, help: str) -> Any:
    """A dataclass field with a ``default`` and its ``help`` text (in ``metadata["help"]``).

    ``batch_size: int = documented(64, "prompts per update")`` reads like a commented default
    and lets ``field_help(Config)`` (and the CLI's ``--help``) show the comment.
    """
    if not isinstance(help, str) or not help.strip():
        raise ValueError(f"help must be a non-empty string, got {help!r}")
    return dataclasses.field(default=default, metadata={"help": help})


def field_help(config: Any) -> dict[str, str]:
    """``{field name: help text}`` of a config dataclass (or instance); "" where none is given."""
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(config)}
