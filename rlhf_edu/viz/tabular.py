"""Plots of the tabular track: bandit testbed curves, greedy paths drawn on a grid, value + arrows.

General plots (learning curves with bands, heatmaps, arrows) live in ``rlhf_edu.viz``; these
build on them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

#: CliffWalking's actions: 0 up, 1 right, 2 down, 3 left, as (d_row, d_col).
CLIFF_ACTIONS: tuple[tuple[int, int], ...] = ((-1, 0), (0, 1), (1, 0), (0, -1))


def plot_bandit_curves(
    results: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str | None = None
) -> Figure:
    """Figure 2.2's two panels: average reward and % optimal action per step, one line per method.

    Args:
        results: name -> (average_reward, optimal_fraction), each shape (n_steps,).
    """
    fig, (ax_reward, ax_optimal) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    for name, (reward, optimal) in results.items():
        steps = np.arange(1, len(reward) + 1)
        ax_reward.plot(steps, reward, label=name, linewidth=1)
        ax_optimal.plot(steps, 100 * np.asarray(optimal), label=name, linewidth=1)
    ax_reward.set_ylabel("average reward")
    ax_optimal.set_ylabel("% optimal action")
    ax_optimal.set_xlabel("steps")
    ax_reward.legend(frameon=False)
    for ax in (ax_reward, ax_optimal):
        ax.grid(alpha=0.3)
    if title:
        ax_reward.set_title(title)
    fig.tight_layout()
    return fig


def greedy_path(transitions, policy: np.ndarray, start: int, max_steps: int = 100) -> list[int]:
    """States visited by following ``policy``'s greedy action from ``start`` through the most
    likely outcome of each step (exact for deterministic worlds), until an episode ends."""
    actions = np.asarray(policy).argmax(axis=1)
    path, s = [start], start
    for _ in range(max_steps):
        outcomes = transitions[s][actions[s]]
        _, s_next, _, terminated = max(outcomes, key=lambda o: o[0])
        path.append(int(s_next))
        if terminated:
            break
        s = int(s_next)
    return path


def plot_grid_paths(
    paths: Mapping[str, Sequence[int]],
    shape: tuple[int, int],
    *,
    cliff: Sequence[int] = (),
    start: int | None = None,
    goal: int | None = None,
    title: str | None = None,
) -> Figure:
    """Draw each named path of states as a line over the grid (cliff cells shaded)."""
    rows, cols = shape
    fig, ax = plt.subplots(figsize=(0.6 * cols + 1, 0.6 * rows + 1))
    grid = np.zeros(shape)
    for s in cliff:
        grid[divmod(s, cols)] = 1
    ax.imshow(grid, cmap="Greys", vmin=0, vmax=2.5)
    for offset, (name, path) in zip(np.linspace(-0.12, 0.12, len(paths)), paths.items()):
        rc = np.array([divmod(s, cols) for s in path], dtype=float)
        ax.plot(
            rc[:, 1] + offset,
            rc[:, 0] + offset,
            marker="o",
            markersize=3,
            linewidth=2.5,
            label=name,
        )
    for s, text in ((start, "S"), (goal, "G")):
        if s is not None:
            r, c = divmod(s, cols)
            ax.text(c, r, text, ha="center", va="center", fontsize=12, fontweight="bold")
    if cliff:
        r, c = divmod(cliff[len(cliff) // 2], cols)
        ax.text(c, r, "the cliff", ha="center", va="center", color="white")
    ax.set_xticks(np.arange(-0.5, cols, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, rows, 1), minor=True)
    ax.grid(which="minor", color="lightgray")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=len(paths))
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
