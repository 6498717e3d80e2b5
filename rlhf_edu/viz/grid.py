"""Grid-world pictures: a value function as a heatmap, a greedy policy as arrows.

States are numbered row-major on a ``(n_rows, n_cols)`` grid, as in gymnasium's FrozenLake and
CliffWalking: state ``s`` sits at row ``s // n_cols``, column ``s % n_cols``. Actions follow the
toy-text convention unless ``action_deltas`` says otherwise: 0 left, 1 down, 2 right, 3 up.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib.patheffects as patheffects
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from rlhf_edu.viz.figures import save_figure

#: (d_row, d_col) of each action in gymnasium's FrozenLake/CliffWalking: left, down, right, up.
TOY_TEXT_ACTIONS: tuple[tuple[int, int], ...] = ((0, -1), (1, 0), (0, 1), (-1, 0))


def _check_shape(n_states: int, shape: tuple[int, int], what: str) -> None:
    if len(shape) != 2 or shape[0] * shape[1] != n_states:
        raise ValueError(f"shape {tuple(shape)} does not hold the {n_states} states of {what}")


def plot_value_heatmap(
    V: np.ndarray,
    shape: tuple[int, int],
    *,
    title: str | None = None,
    annotate: bool = True,
    decimals: int = 2,
    cmap: str = "viridis",
    labels: Sequence[str] | None = None,
    ax: plt.Axes | None = None,
    save_to: str | os.PathLike | None = None,
) -> Figure:
    """Draw V(s) on the grid, one coloured cell per state (with the value written in it).

    Args:
        V: values, shape (n_states,).
        shape: (n_rows, n_cols) of the grid.
        labels: optional text per state drawn above the value (e.g. "S", "G", "H").
    """
    V = np.asarray(V, dtype=float)
    if V.ndim != 1:
        raise ValueError(f"V must be 1-D (n_states,), got shape {V.shape}")
    _check_shape(V.size, shape, "V")
    grid = V.reshape(shape)
    if ax is None:
        fig, ax = plt.subplots(figsize=(0.8 * shape[1] + 1.5, 0.8 * shape[0] + 0.8))
    else:
        fig = ax.figure
    image = ax.imshow(grid, cmap=cmap)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="V(s)")
    if annotate:
        span = np.ptp(grid) or 1.0
        for (row, col), value in np.ndenumerate(grid):
            light = (value - grid.min()) / span < 0.5
            text = f"{value:.{decimals}f}"
            if labels is not None:
                text = f"{labels[row * shape[1] + col]}\n{text}"
            ax.text(
                col,
                row,
                text,
                ha="center",
                va="center",
                fontsize=8,
                color="white" if light else "black",
            )
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    fig.tight_layout()
    if save_to is not None:
        save_figure(fig, save_to)
    return fig


def plot_policy_arrows(
    policy: np.ndarray,
    shape: tuple[int, int],
    *,
    V: np.ndarray | None = None,
    action_deltas: Sequence[tuple[int, int]] = TOY_TEXT_ACTIONS,
    terminal: np.ndarray | None = None,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    ax: plt.Axes | None = None,
    save_to: str | os.PathLike | None = None,
) -> Figure:
    """Draw the greedy action of each state as an arrow (over the value heatmap if ``V`` is given).

    Args:
        policy: (n_states, n_actions) probabilities (the most probable action is drawn) or
            (n_states,) action indices.
        shape: (n_rows, n_cols) of the grid.
        action_deltas: (d_row, d_col) per action, used to point the arrows.
        terminal: optional boolean mask of states that get no arrow.
        labels: optional text per state, drawn in its cell (e.g. ``toy_text_labels(env)``: "S"
            start, "H" hole, "G" goal); a labelled terminal state gets its label, not an arrow.
    """
    policy = np.asarray(policy)
    actions = policy.argmax(axis=1) if policy.ndim == 2 else policy.astype(int)
    if actions.ndim != 1:
        raise ValueError(f"policy must be (n_states, n_actions) or (n_states,), got {policy.shape}")
    _check_shape(actions.size, shape, "policy")
    n_actions = policy.shape[1] if policy.ndim == 2 else int(actions.max()) + 1
    if n_actions > len(action_deltas):
        raise ValueError(
            f"policy has {n_actions} actions but action_deltas gives directions for {len(action_deltas)}"
        )
    if V is not None:
        fig = plot_value_heatmap(V, shape, annotate=False, title=title, ax=ax)
        ax = fig.axes[0]
    else:
        if ax is None:
            fig, ax = plt.subplots(figsize=(0.7 * shape[1] + 1, 0.7 * shape[0] + 0.6))
        else:
            fig = ax.figure
        ax.set_xlim(-0.5, shape[1] - 0.5)
        ax.set_ylim(shape[0] - 0.5, -0.5)
        ax.set_aspect("equal")
        ax.set_xticks(np.arange(-0.5, shape[1], 1), minor=True)
        ax.set_yticks(np.arange(-0.5, shape[0], 1), minor=True)
        ax.grid(which="minor", color="lightgray")
        ax.set_xticks([])
        ax.set_yticks([])
        if title:
            ax.set_title(title)
    for state, action in enumerate(actions):
        if terminal is not None and terminal[state]:
            continue
        row, col = divmod(state, shape[1])
        d_row, d_col = action_deltas[action]
        ax.annotate(
            "",
            xy=(col + 0.3 * d_col, row + 0.3 * d_row),
            xytext=(col - 0.3 * d_col, row - 0.3 * d_row),
            arrowprops={
                "arrowstyle": "->",
                "color": "white" if V is not None else "black",
                "lw": 2,
                "path_effects": [patheffects.withStroke(linewidth=3.5, foreground="black")]
                if V is not None
                else [],
            },
        )
    if labels is not None:
        if len(labels) != actions.size:
            raise ValueError(
                f"labels must have one entry per state ({actions.size}), got {len(labels)}"
            )
        for state, text in enumerate(labels):
            if text:
                row, col = divmod(state, shape[1])
                ax.text(col, row, text, ha="center", va="center", fontsize=11, fontweight="bold",
                        color="white", path_effects=[patheffects.withStroke(linewidth=3, foreground="black")])  # fmt: skip
    fig.tight_layout()
    if save_to is not None:
        save_figure(fig, save_to)
    return fig


def toy_text_labels(env, letters: str = "HG") -> list[str]:
    """Per-state labels of a gymnasium toy-text map: FrozenLake's "H" holes and "G" goal.

    Pass ``letters="SHG"`` to mark the start as well.

    ``env.unwrapped.desc`` is the map as bytes; cells whose letter is not in ``letters`` get "".
    """
    desc = np.asarray(env.unwrapped.desc).astype(str).ravel()
    return [cell if cell in letters else "" for cell in desc]
