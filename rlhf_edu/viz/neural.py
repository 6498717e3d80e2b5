"""Plots for the neural track: training curves from a History, the PPO clipped objective, a frame."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def plot_training_curve(
    env_steps: Sequence[float],
    returns: Sequence[float | None],
    *,
    label: str = "training episodes",
    target: float | None = None,
    title: str | None = None,
    ax: plt.Axes | None = None,
) -> Figure:
    """Episode return against env steps for one run (``None`` entries are skipped)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4))
    else:
        fig = ax.figure
    pairs = [(x, y) for x, y in zip(env_steps, returns) if y is not None]
    if pairs:
        xs, ys = zip(*pairs)
        ax.plot(xs, ys, label=label)
    if target is not None:
        ax.axhline(target, color="gray", linestyle="--", linewidth=1, label=f"target {target:g}")
    ax.set_xlabel("env steps")
    ax.set_ylabel("return")
    if title:
        ax.set_title(title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def plot_clipped_objective(clip_coef: float = 0.2, ax: plt.Axes | None = None) -> Figure:
    """PPO's per-sample objective ``min(rho A, clip(rho, 1-eps, 1+eps) A)`` against the ratio
    ``rho``, for ``A = +1`` and ``A = -1`` (Schulman et al. 2017, Figure 1)."""
    if not clip_coef > 0:
        raise ValueError(f"clip_coef must be > 0, got {clip_coef}")
    ratio = np.linspace(0.0, 2.0, 401)
    if ax is None:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=False)
    else:
        fig, axes = ax.figure, [ax, ax]
    for axis, advantage in zip(axes, (1.0, -1.0)):
        unclipped = ratio * advantage
        clipped = np.clip(ratio, 1 - clip_coef, 1 + clip_coef) * advantage
        axis.plot(ratio, unclipped, "--", color="gray", label=r"$\rho A$")
        axis.plot(ratio, np.minimum(unclipped, clipped), linewidth=2, label=r"$L^{CLIP}$")
        axis.axvline(1.0, color="black", linewidth=0.5)
        for edge in (1 - clip_coef, 1 + clip_coef):
            axis.axvline(edge, color="red", linestyle=":", linewidth=1)
        axis.set_xlabel(r"probability ratio $\rho = \pi / \pi_{old}$")
        axis.set_title(f"A = {advantage:+g}")
        axis.legend()
    axes[0].set_ylabel("objective (maximised)")
    fig.tight_layout()
    return fig


def plot_frame(frame: np.ndarray, title: str | None = None) -> Figure:
    """Show one RGB frame (``env.render()`` with ``render_mode="rgb_array"``)."""
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[-1] not in (3, 4):
        raise ValueError(f"frame must be an RGB(A) image (H, W, 3|4), got shape {frame.shape}")
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.imshow(frame)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def curve_on_grid(
    env_steps: Sequence[float], returns: Sequence[float | None], grid: Sequence[float]
) -> np.ndarray:
    """Resample a run's episode returns onto fixed env-step ``grid`` points, so runs (seeds) can
    be averaged: each point is the mean of the returns logged since the previous point (the last
    value carried forward where none was logged; NaN before the first log, which a plot leaves
    blank: no episode has ended yet, so there is no return to show)."""
    pairs = [(x, y) for x, y in zip(env_steps, returns) if y is not None]
    out = np.full(len(grid), np.nan)
    previous, last = -np.inf, np.nan
    for i, point in enumerate(grid):
        window = [y for x, y in pairs if previous < x <= point]
        if window:
            last = float(np.mean(window))
        out[i] = last
        previous = point
    return out
