"""Progress bars that show in a terminal or notebook and stay quiet under tests and CI.

Bars are off when any of these is set: ``RLHF_EDU_NO_PROGRESS=1``, ``CI``, or we are inside
pytest (``PYTEST_CURRENT_TEST``). They go to stderr, so stored notebook outputs (which nbval
compares) never contain them: notebooks set ``RLHF_EDU_NO_PROGRESS=1`` in their first cell.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress_disabled() -> bool:
    """True when progress bars should stay quiet (tests, CI, or asked for)."""
    flag = os.environ.get("RLHF_EDU_NO_PROGRESS", "").strip().lower()
    if flag in {"1", "true", "yes"}:
        return True
    if flag in {"0", "false", "no"}:
        return False
    return bool(os.environ.get("CI")) or "PYTEST_CURRENT_TEST" in os.environ


def progress(
    iterable: Iterable[T] | None = None,
    *,
    total: int | None = None,
    desc: str | None = None,
    disable: bool | None = None,
    **kwargs: Any,
) -> tqdm:
    """A tqdm bar (``for x in progress(items, desc="training")``), off under tests and CI."""
    if disable is None:
        disable = progress_disabled()
    # smoothing=0: the rate (and so the ETA) is the average over the whole run so far, which
    # stays steady when steps differ in cost (length-bucketed batches, periodic evaluations)
    kwargs.setdefault("smoothing", 0.0)
    return tqdm(iterable, total=total, desc=desc, disable=disable, dynamic_ncols=True, **kwargs)
