"""Learning curves: the mean over seeds with a band, after optional moving-average smoothing.

A single run of an RL algorithm is noisy; what a course should show is the *mean* learning curve
over several seeds and how much seeds disagree. The band is the mean ± one standard error
(``band="se"``), ± one standard deviation (``"std"``) or the min-max range (``"minmax"``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from rlhf_edu.utils.validation import check_int
from rlhf_edu.viz.figures import save_figure


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over the last axis; the first points average what exists so far.

    ``smooth(x, 1)`` returns ``x`` unchanged. The output has the same shape as the input.
    """
    values = np.asarray(values, dtype=float)
    window = check_int("window", window, 1)
    if window == 1 or values.shape[-1] == 0:
        return values.copy()
    cumsum = np.cumsum(values, axis=-1)
    out = np.empty_like(values)
    n = values.shape[-1]
    counts = np.minimum(np.arange(1, n + 1), window)
    shifted = np.zeros_like(cumsum)
    shifted[..., window:] = cumsum[..., :-window]
    out[...] = (cumsum - shifted) / counts
    return out


def _as_runs(curve: np.ndarray | Sequence[Sequence[float]], name: str) -> np.ndarray:
    runs = np.asarray(curve, dtype=float)
    if runs.ndim == 1:
        runs = runs[None, :]
    if runs.ndim != 2 or runs.shape[1] == 0:
        raise ValueError(
            f"curve {name!r} must be shaped (n_points,) or (n_seeds, n_points), got {runs.shape}"
        )
    return runs


def plot_learning_curves(
    curves: Mapping[str, np.ndarray | Sequence[Sequence[float]]],
    x: np.ndarray | Sequence[float] | Mapping[str, np.ndarray] | None = None,
    *,
    smooth_window: int = 1,
    band: str = "se",
    xlabel: str = "episode",
    ylabel: str = "return",
    title: str | None = None,
    hline: float | None = None,
    hline_label: str | None = None,
    ax: plt.Axes | None = None,
    save_to: str | os.PathLike | None = None,
) -> Figure:
    """Plot one line per algorithm: the mean over seeds, with a shaded band.

    Args:
        curves: name -> values shaped (n_seeds, n_points) (or (n_points,) for a single run).
        x: the x values (shared, or one array per name); defaults to 1..n_points.
        smooth_window: moving-average window applied to each run before averaging.
        band: "se" (standard error), "std", "minmax" or "none".
        hline: draw a dashed reference line (an optimum, a target) at this y.
        save_to: also save the figure as PNG here.
    """
    if not curves:
        raise ValueError("curves is empty: pass at least one {name: values}")
    if band not in {"se", "std", "minmax", "none"}:
        raise ValueError(f"band must be 'se', 'std', 'minmax' or 'none', got {band!r}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4))
    else:
        fig = ax.figure
    for name, curve in curves.items():
        runs = smooth(_as_runs(curve, name), smooth_window)
        if isinstance(x, Mapping):
            xs = np.asarray(x[name], dtype=float)
        elif x is not None:
            xs = np.asarray(x, dtype=float)
        else:
            xs = np.arange(1, runs.shape[1] + 1)
        if xs.shape != (runs.shape[1],):
            raise ValueError(f"x has {xs.shape[0]} points but curve {name!r} has {runs.shape[1]}")
        mean = runs.mean(axis=0)
        (line,) = ax.plot(
            xs, mean, label=f"{name} ({runs.shape[0]} seeds)" if runs.shape[0] > 1 else name
        )
        if runs.shape[0] > 1 and band != "none":
            if band == "se":
                half = runs.std(axis=0, ddof=1) / np.sqrt(runs.shape[0])
                low, high = mean - half, mean + half
            elif band == "std":
                half = runs.std(axis=0, ddof=1)
                low, high = mean - half, mean + half
            else:
                low, high = runs.min(axis=0), runs.max(axis=0)
            ax.fill_between(xs, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    if hline is not None:
        ax.axhline(hline, color="gray", linestyle="--", linewidth=1, label=hline_label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    fig.tight_layout()
    if save_to is not None:
        save_figure(fig, save_to)
    return fig
