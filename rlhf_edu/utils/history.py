"""A metric history: one row per step or episode, written as CSV and JSON.

history = History()
history.log(step=100, episode_return=12.0)
history["episode_return"]          # [12.0]
history.to_csv("run/metrics.csv")
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


class History:
    """Rows of metrics; a row is a dict of scalars, columns may differ between rows."""

    def __init__(self, rows: list[dict[str, Any]] | None = None) -> None:
        self.rows: list[dict[str, Any]] = [dict(r) for r in rows] if rows else []

    def log(self, **metrics: Any) -> None:
        """Append one row of metrics (numbers, strings or None)."""
        if not metrics:
            raise ValueError("log() needs at least one metric, e.g. log(step=1, loss=0.5)")
        self.rows.append({key: _plain(value) for key, value in metrics.items()})

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
