"""A metric history: one row per step or episode, written as CSV and JSON.

history = History()
history.log(step=100, episode_return=12.0)
history["episode_return"]          # [12.0]
history.to_csv("run/metrics.csv")

``History(tensorboard_dir="runs/tb")`` also writes every numeric metric of every row as a
TensorBoard scalar (``torch.utils.tensorboard.SummaryWriter``), as Stable-Baselines3 and CleanRL
users expect: ``tensorboard --logdir runs/tb``. It needs the optional ``tensorboard`` package
(``pip install 'rlhf_edu[tensorboard]'``); the default install does not include it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rlhf_edu.utils.checkpoint import atomic_write_bytes


def _plain(value: Any) -> Any:
    """numpy / torch scalars to Python numbers, so rows serialise anywhere."""
    if hasattr(value, "item") and callable(value.item):
        try:
            return value.item()
        except (ValueError, RuntimeError):
            pass
    return value


#: the row keys that give a TensorBoard scalar its x-axis, the first one a row has
STEP_KEYS = ("env_steps", "step", "update", "epoch", "episode")

TENSORBOARD_EXTRA = "pip install 'rlhf_edu[tensorboard]'"


def require_tensorboard() -> None:
    """Raise an ``ImportError`` naming the extra unless the ``tensorboard`` package is installed
    (a command calls it before training, not after)."""
    try:
        import tensorboard  # noqa: F401  (torch.utils.tensorboard needs it)
    except ImportError:
        raise ImportError(
            "TensorBoard logging (History(tensorboard_dir=...), --tensorboard) needs the "
            f"tensorboard package, an optional extra: {TENSORBOARD_EXTRA}"
        ) from None


def _summary_writer(log_dir: Path) -> Any:
    """A ``torch.utils.tensorboard.SummaryWriter`` writing event files into ``log_dir``."""
    require_tensorboard()
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(log_dir))


class History:
    """Rows of metrics; a row is a dict of scalars, columns may differ between rows.

    With ``tensorboard_dir``, each row (those given in ``rows`` at once, then every ``log``) is
    also written as TensorBoard scalars: one tag per numeric metric, at the step given by the
    row's first key among ``STEP_KEYS`` (``env_steps``, ``step``, ``update``, ``epoch``,
    ``episode``), else the row's index. Strings and None are not written. Call ``close()`` (or
    use the history as a context manager) to flush the event file.
    """

    def __init__(
        self,
        rows: list[dict[str, Any]] | None = None,
        tensorboard_dir: str | os.PathLike | None = None,
    ) -> None:
        self.rows: list[dict[str, Any]] = [dict(r) for r in rows] if rows else []
        self.tensorboard_dir = None if tensorboard_dir is None else Path(tensorboard_dir)
        self._writer: Any = None
        if self.tensorboard_dir is not None:
            self._writer = _summary_writer(self.tensorboard_dir)
            for index, row in enumerate(self.rows):
                self._write_scalars(row, index)
            self._writer.flush()

    def log(self, **metrics: Any) -> None:
        """Append one row of metrics (numbers, strings or None)."""
        if not metrics:
            raise ValueError("log() needs at least one metric, e.g. log(step=1, loss=0.5)")
        self.rows.append({key: _plain(value) for key, value in metrics.items()})
        if self._writer is not None:
            self._write_scalars(self.rows[-1], len(self.rows) - 1)

    def _write_scalars(self, row: dict[str, Any], index: int) -> None:
        step_key = next((k for k in STEP_KEYS if isinstance(row.get(k), (int, float))), None)
        step = int(row[step_key]) if step_key is not None else index
        for key, value in row.items():
            if key == step_key or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            self._writer.add_scalar(key, value, global_step=step)

    def to_tensorboard(self, log_dir: str | os.PathLike) -> Path:
        """Write every row as TensorBoard scalars into a new event file in ``log_dir``."""
        History(self.rows, tensorboard_dir=log_dir).close()
        return Path(log_dir)

    def flush(self) -> None:
        """Write the pending TensorBoard events to disk (no-op without ``tensorboard_dir``)."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Flush and close the TensorBoard event file; later rows are kept but not written."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __getstate__(self) -> dict[str, Any]:
        """Pickles (a copy sent to another process) keep the rows, not the open event file."""
        return {**self.__dict__, "_writer": None}

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    @property
    def columns(self) -> list[str]:
        """All metric names, in the order they first appeared."""
        seen: dict[str, None] = {}
        for row in self.rows:
            for key in row:
                seen.setdefault(key, None)
        return list(seen)

    def __getitem__(self, key: str) -> list[Any]:
        """The values of one metric, from the rows that have it."""
        if key not in self.columns:
            raise KeyError(f"no metric {key!r}; known metrics: {', '.join(self.columns) or 'none'}")
        return [row[key] for row in self.rows if key in row]

    def last(self, key: str, default: Any = None) -> Any:
        """The most recent value of a metric (or ``default``)."""
        for row in reversed(self.rows):
            if key in row:
                return row[key]
        return default

    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write the history as CSV (atomically); missing values are empty cells."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        return atomic_write_bytes(buffer.getvalue().encode(), path)

    def to_json(self, path: str | os.PathLike) -> Path:
        """Write the history as a JSON list of rows (atomically); NaN/inf become null."""

        def clean(value: Any) -> Any:
            return None if isinstance(value, float) and not math.isfinite(value) else value

        rows = [{k: clean(v) for k, v in row.items()} for row in self.rows]
        return atomic_write_bytes(json.dumps(rows, indent=1).encode(), path)

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> History:
        rows = json.loads(Path(path).read_text())
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ValueError(f"{path} is not a History JSON file (expected a list of objects)")
        return cls(rows)

    @classmethod
    def from_csv(cls, path: str | os.PathLike) -> History:
        def parse(text: str) -> Any:
            if text == "":
                return None
            for kind in (int, float):
                try:
                    return kind(text)
                except ValueError:
                    pass
            return text

        with open(path, newline="") as fh:
            rows = [{k: parse(v) for k, v in row.items() if v != ""} for row in csv.DictReader(fh)]
        return cls(rows)

    def state_dict(self) -> dict[str, Any]:
        return {"rows": [dict(r) for r in self.rows]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rows = [dict(r) for r in state["rows"]]

    def __repr__(self) -> str:
        return f"History({len(self.rows)} rows, columns={self.columns})"
