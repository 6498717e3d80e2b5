"""Sutton & Barto's small worlds as ``TabularMDP``s and gymnasium envs.

Grid states are numbered row-major, ``s = row * n_cols + col``, row 0 at the top. Grid actions
follow FrozenLake's order: 0 = left, 1 = down, 2 = right, 3 = up.

- ``gridworld_mdp``: a configurable grid. ``sb_gridworld_4x4`` is Example 4.1 (reward -1 per move,
  terminal corners, gamma 1); ``sb_gridworld_5x5`` is Figure 3.2 (off-grid moves cost -1 and stay
  put, every action in A jumps to A' with +10 and in B to B' with +5; continuing, gamma 0.9).
- ``windy_gridworld_mdp``: Example 6.5, 7x10 with an upward wind per column, -1 per step.
- ``maximization_bias_mdp``: Example 6.7, states A and B; left from A goes to B (reward 0),
  right ends the episode (0); every action in B ends it with reward ~ N(-0.1, 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rlhf_edu.envs.mdp import TabularMDP
from rlhf_edu.envs.tabular_env import TabularEnv
from rlhf_edu.utils.validation import check_int

LEFT, DOWN, RIGHT, UP = 0, 1, 2, 3
#: (row, col) change of each grid action.
GRID_MOVES: dict[int, tuple[int, int]] = {LEFT: (0, -1), DOWN: (1, 0), RIGHT: (0, 1), UP: (-1, 0)}
GRID_ACTION_NAMES = ("left", "down", "right", "up")

Cell = tuple[int, int]


def _check_cell(cell: Sequence[int], shape: tuple[int, int], name: str) -> Cell:
    r, c = int(cell[0]), int(cell[1])
    if not (0 <= r < shape[0] and 0 <= c < shape[1]):
        raise ValueError(f"{name} {tuple(cell)} is outside the {shape[0]}x{shape[1]} grid")
    return r, c


def gridworld_mdp(
    shape: tuple[int, int] = (4, 4),
    terminal_cells: Sequence[Cell] = ((0, 0), (3, 3)),
    step_reward: float = -1.0,
    off_grid_reward: float | None = None,
    jumps: dict[Cell, tuple[Cell, float]] | None = None,
    start: Cell | None = None,
    max_episode_steps: int | None = None,
) -> TabularMDP:
    """A deterministic grid: each action moves one cell; moving off the grid stays put.

    Args:
        shape: (rows, cols), both >= 1.
        terminal_cells: absorbing cells where episodes end.
        step_reward: reward of every ordinary move.
        off_grid_reward: reward of a move that would leave the grid (default: ``step_reward``).
        jumps: ``{cell: (target_cell, reward)}``: every action in ``cell`` moves to
            ``target_cell`` with ``reward`` (Figure 3.2's A -> A' and B -> B').
        start: the start cell (default: uniform over non-terminal cells).
        max_episode_steps: time limit recorded on the MDP (the env is registered with it).
    """
    rows, cols = (
        check_int("shape[0] (rows)", shape[0], 1),
        check_int("shape[1] (cols)", shape[1], 1),
    )
    shape = (rows, cols)
    off_grid_reward = step_reward if off_grid_reward is None else off_grid_reward
    terminal = np.zeros(rows * cols, dtype=bool)
    for cell in terminal_cells:
        r, c = _check_cell(cell, shape, "terminal cell")
        terminal[r * cols + c] = True
    jump_table = {}
    for cell, (target, reward) in (jumps or {}).items():
        jump_table[_check_cell(cell, shape, "jump cell")] = (
            _check_cell(target, shape, "jump target"),
            float(reward),
        )
    n_states, n_actions = rows * cols, 4
    P = np.zeros((n_states, n_actions, n_states))
    R = np.zeros((n_states, n_actions))
    for r in range(rows):
        for c in range(cols):
            s = r * cols + c
            for a, (dr, dc) in GRID_MOVES.items():
                if terminal[s]:
                    P[s, a, s] = 1.0
                    continue
                if (r, c) in jump_table:
                    (tr, tc), reward = jump_table[(r, c)]
                elif 0 <= r + dr < rows and 0 <= c + dc < cols:
                    (tr, tc), reward = (r + dr, c + dc), step_reward
                else:
                    (tr, tc), reward = (r, c), off_grid_reward
                P[s, a, tr * cols + tc] = 1.0
                R[s, a] = reward
    initial = None
    if start is not None:
        r, c = _check_cell(start, shape, "start")
        initial = np.zeros(n_states)
        initial[r * cols + c] = 1.0
    return TabularMDP(
        P,
        R,
        terminal,
        initial=initial,
        shape=shape,
        max_episode_steps=max_episode_steps,
        name="GridWorld",
    )


def sb_gridworld_4x4() -> TabularMDP:
    """Sutton & Barto Example 4.1: 4x4, terminal corners, -1 per move (use gamma = 1)."""
    mdp = gridworld_mdp(
        (4, 4), terminal_cells=((0, 0), (3, 3)), step_reward=-1.0, max_episode_steps=100
    )
    mdp.name = "GridWorld4x4 (S&B Example 4.1)"
    return mdp


#: Figure 3.2's special cells: A = (0, 1) -> A' = (4, 1) with +10, B = (0, 3) -> B' = (2, 3) with +5.
SB_5X5_JUMPS: dict[Cell, tuple[Cell, float]] = {(0, 1): ((4, 1), 10.0), (0, 3): ((2, 3), 5.0)}


def sb_gridworld_5x5() -> TabularMDP:
    """Sutton & Barto Figure 3.2: 5x5 continuing task with the A -> A' and B -> B' jumps (gamma 0.9)."""
    mdp = gridworld_mdp(
        (5, 5),
        terminal_cells=(),
        step_reward=0.0,
        off_grid_reward=-1.0,
        jumps=SB_5X5_JUMPS,
        max_episode_steps=100,
    )
    mdp.name = "GridWorld5x5 (S&B Figure 3.2)"
    return mdp


#: Example 6.5's upward wind strength in each of the 10 columns.
WINDY_STRENGTH = (0, 0, 0, 1, 1, 1, 2, 2, 1, 0)


def windy_gridworld_mdp(
    shape: tuple[int, int] = (7, 10),
    wind: Sequence[int] = WINDY_STRENGTH,
    start: Cell = (3, 0),
    goal: Cell = (3, 7),
    max_episode_steps: int | None = None,
) -> TabularMDP:
    """Sutton & Barto Example 6.5: the wind of the current column pushes the agent up; -1 per step."""
    rows, cols = int(shape[0]), int(shape[1])
    if len(wind) != cols:
        raise ValueError(f"wind must give one strength per column ({cols}), got {len(wind)}")
    start = _check_cell(start, (rows, cols), "start")
    goal = _check_cell(goal, (rows, cols), "goal")
    n_states = rows * cols
    goal_s = goal[0] * cols + goal[1]
    P = np.zeros((n_states, 4, n_states))
    R = np.full((n_states, 4), -1.0)
    for r in range(rows):
        for c in range(cols):
            s = r * cols + c
            for a, (dr, dc) in GRID_MOVES.items():
                if s == goal_s:
                    P[s, a, s], R[s, a] = 1.0, 0.0
                    continue
                nr = min(max(r + dr - int(wind[c]), 0), rows - 1)
                nc = min(max(c + dc, 0), cols - 1)
                P[s, a, nr * cols + nc] = 1.0
    terminal = np.zeros(n_states, dtype=bool)
    terminal[goal_s] = True
    initial = np.zeros(n_states)
    initial[start[0] * cols + start[1]] = 1.0
    return TabularMDP(
        P,
        R,
        terminal,
        initial=initial,
        shape=(rows, cols),
        max_episode_steps=max_episode_steps,
        name="WindyGridworld (S&B Example 6.5)",
    )


#: State numbering of the maximization-bias MDP.
MAXBIAS_A, MAXBIAS_B, MAXBIAS_END = 0, 1, 2
MAXBIAS_LEFT, MAXBIAS_RIGHT = 0, 1


def maximization_bias_mdp(
    n_actions_b: int = 10, mean_b: float = -0.1, std_b: float = 1.0
) -> TabularMDP:
    """Sutton & Barto Example 6.7 with ``n_actions_b`` actions in B (>= 2).

    States: 0 = A (start), 1 = B, 2 = terminal. The action space has ``n_actions_b`` actions
    everywhere; in A, action 0 is *left* (to B, reward 0) and every other action is *right*
    (terminal, reward 0). Figure 6.5 gives A exactly two actions: see
    ``rlhf_edu.tabular.maximization_bias_experiment``, which uses this MDP's dynamics with
    A's actions restricted to {left, right}.
    """
    if int(n_actions_b) < 2:
        raise ValueError(f"n_actions_b must be >= 2, got {n_actions_b}")
    if std_b < 0:
        raise ValueError(f"std_b must be >= 0, got {std_b}")
    n = int(n_actions_b)
    P = np.zeros((3, n, 3))
    R = np.zeros((3, n))
    P[MAXBIAS_A, MAXBIAS_LEFT, MAXBIAS_B] = 1.0
    P[MAXBIAS_A, 1:, MAXBIAS_END] = 1.0
    P[MAXBIAS_B, :, MAXBIAS_END] = 1.0
    R[MAXBIAS_B, :] = mean_b
    P[MAXBIAS_END, :, MAXBIAS_END] = 1.0
    reward_std = np.zeros((3, n))
    reward_std[MAXBIAS_B, :] = std_b
    terminal = np.array([False, False, True])
    initial = np.array([1.0, 0.0, 0.0])
    return TabularMDP(
        P,
        R,
        terminal,
        initial=initial,
        reward_std=reward_std,
        name="MaximizationBias (S&B Example 6.7)",
    )


class GridWorldEnv(TabularEnv):
    """Gymnasium GridWorld. ``layout="sb4x4"`` (Example 4.1), ``"sb5x5"`` (Figure 3.2) or
    ``"custom"`` with ``gridworld_mdp``'s keyword arguments."""

    def __init__(self, layout: str = "sb4x4", render_mode: str | None = None, **kwargs):
        if layout == "sb4x4" and not kwargs:
            mdp = sb_gridworld_4x4()
        elif layout == "sb5x5" and not kwargs:
            mdp = sb_gridworld_5x5()
        elif layout == "custom":
            mdp = gridworld_mdp(**kwargs)
        else:
            raise ValueError(
                f"layout must be 'sb4x4' or 'sb5x5' (no extra arguments) or 'custom', got {layout!r}"
            )
        super().__init__(mdp, render_mode=render_mode)


class WindyGridworldEnv(TabularEnv):
    """Gymnasium WindyGridworld (S&B Example 6.5)."""

    def __init__(self, render_mode: str | None = None, **kwargs):
        super().__init__(windy_gridworld_mdp(**kwargs), render_mode=render_mode)


class MaximizationBiasEnv(TabularEnv):
    """Gymnasium maximization-bias MDP (S&B Example 6.7)."""

    def __init__(self, render_mode: str | None = None, **kwargs):
        super().__init__(maximization_bias_mdp(**kwargs), render_mode=render_mode)
