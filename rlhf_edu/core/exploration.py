"""Epsilon-greedy exploration and its schedules, written once for the bandits, TD, Monte Carlo and DQN.

With probability ``epsilon`` take a uniformly random action (explore), otherwise a greedy one
(exploit), breaking ties among greedy actions uniformly at random::

    pi(a | s) = epsilon / |A| + (1 - epsilon) * [a is greedy] / |greedy actions|

How the random numbers are drawn is part of the algorithm's definition here, because a seeded run
must repeat draw for draw:

- ``epsilon_greedy`` (TD, Monte Carlo and their fast path): two uniforms per action, ``u_explore``
  and ``u_pick``; ``epsilon_greedy_choice`` is the same rule given the two uniforms.
- ``epsilon_greedy_rows`` (the bandit testbed, the maximization-bias experiment): one action for
  each row of a batch of action values.
- ``maybe_explore`` (a single bandit agent, DQN, whose greedy action comes from a network): one
  uniform, and a random action only when it says explore.

Schedules: ``linear_epsilon`` anneals from ``epsilon_start`` to ``epsilon_end`` over
``decay_steps`` and stays there; ``epsilon_for_episode`` is that schedule over a run's episodes.
Only numpy is imported (the tabular track loads this module).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "epsilon_for_episode",
    "epsilon_greedy",
    "epsilon_greedy_choice",
    "epsilon_greedy_probabilities",
    "epsilon_greedy_rows",
    "linear_epsilon",
    "maybe_explore",
]


def epsilon_greedy_choice(
    Q_row: list[float], epsilon: float, u_explore: float, u_pick: float
) -> int:
    """The epsilon-greedy action for one row ``Q[s]`` (a list) given two uniforms in [0, 1).

    ``u_explore < epsilon`` explores: action ``floor(u_pick * |A|)``. Otherwise ``u_pick`` picks
    among the greedy actions. Plain lists, because the fast path calls this once per env step.
    """
    if u_explore < epsilon:
        return int(u_pick * len(Q_row))  # uniform over all actions
    best = max(Q_row)
    if Q_row.count(best) == 1:  # the common case: a single greedy action
        return Q_row.index(best)
    greedy_actions = [a for a, q in enumerate(Q_row) if q == best]
    return greedy_actions[int(u_pick * len(greedy_actions))]


def epsilon_greedy(Q_row: np.ndarray, epsilon: float, rng: np.random.Generator) -> int:
    """Pick an action from one row ``Q[s]``: random with probability ``epsilon``, else greedy.

    Ties among greedy actions are broken uniformly at random (with all-zero initial values,
    always taking the first action would never explore FrozenLake). Exactly two uniforms are
    drawn per call, ``u_explore`` and ``u_pick``, so a run is reproducible draw by draw.
    """
    u_explore, u_pick = rng.random(2)
    return epsilon_greedy_choice(np.asarray(Q_row).tolist(), epsilon, u_explore, u_pick)


def epsilon_greedy_probabilities(Q_row: np.ndarray, epsilon: float) -> np.ndarray:
    """pi(a|s) of the epsilon-greedy policy for one row ``Q[s]`` (greedy ties share 1 - epsilon)."""
    n_actions = len(Q_row)
    probs = np.full(n_actions, epsilon / n_actions)
    greedy_actions = np.flatnonzero(Q_row == np.max(Q_row))
    probs[greedy_actions] += (1.0 - epsilon) / len(greedy_actions)
    return probs


def epsilon_greedy_rows(Q: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
    """An epsilon-greedy action for every row of ``Q`` (n_rows, n_actions): shape (n_rows,).

    Draws, in order: a uniform per entry (random tie-breaking among each row's maxima), a uniform
    per row (explore?), and a random action per row.
    """
    n_rows, n_actions = Q.shape
    is_max = Q == Q.max(axis=1, keepdims=True)
    greedy = np.argmax(is_max * rng.random((n_rows, n_actions)), axis=1)
    explore = rng.random(n_rows) < epsilon
    return np.where(explore, rng.integers(n_actions, size=n_rows), greedy)


def maybe_explore(epsilon: float, n_actions: int, rng: np.random.Generator) -> int | None:
    """With probability ``epsilon`` a uniformly random action, else ``None`` (then act greedily).

    One uniform is drawn, and one integer only when exploring; the caller chooses the greedy action
    (from a table, or from a Q-network's output).
    """
    if rng.random() < epsilon:
        return int(rng.integers(n_actions))
    return None


def linear_epsilon(step: int, epsilon_start: float, epsilon_end: float, decay_steps: int) -> float:
    """Epsilon at ``step``: linear from ``epsilon_start`` to ``epsilon_end`` over ``decay_steps``,
    then constant (``decay_steps <= 0``: ``epsilon_end`` from the start)."""
    if decay_steps <= 0:
        return epsilon_end
    return epsilon_start + (epsilon_end - epsilon_start) * min(step, decay_steps) / decay_steps


def epsilon_for_episode(
    epsilon: float, epsilon_final: float | None, episode: int, n_episodes: int
) -> float:
    """Linear decay from ``epsilon`` (first episode) to ``epsilon_final`` (last); constant if None."""
    if epsilon_final is None:
        return epsilon
    return linear_epsilon(episode, epsilon, epsilon_final, max(1, n_episodes - 1))
