"""Saving figures: PNG, written atomically, folder created, clear error if it can't be."""

from __future__ import annotations

import io
import os
from pathlib import Path

import matplotlib

if os.environ.get("MPLBACKEND") is None and not os.environ.get("DISPLAY"):
    # Headless machines (CI, servers): a non-interactive backend. Notebooks pick their own.
    try:
        import IPython

        _in_notebook = IPython.get_ipython() is not None
    except ImportError:
        _in_notebook = False
    if not _in_notebook:
        matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402

from rlhf_edu.utils.checkpoint import atomic_write_bytes  # noqa: E402


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Save ``fig`` as PNG at ``path`` (folders created; written atomically)."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"save_figure writes PNG files; path must end in .png, got {path}")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return atomic_write_bytes(buffer.getvalue(), path)
