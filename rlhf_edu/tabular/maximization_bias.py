"""Figure 6.5: maximization bias, Q-learning vs Double Q-learning (Sutton & Barto, Example 6.7).

From A, *right* ends the episode with reward 0; *left* leads to B, whose ``n_actions_b`` actions
all end it with reward ~ N(-0.1, 1). Left is worse (-0.1 < 0), but Q-learning's target
``max_b Q(B, b)`` is the maximum of noisy estimates, which is biased upward, so early on
Q-learning goes left far more often than the epsilon-greedy optimum of epsilon / 2.
Double Q-learning selects the argmax with one table and evaluates it with the other, removing
the bias. Both are run on ``n_runs`` independent copies at once (vectorised over runs) with the
same updates as ``q_learning_update`` and ``double_q_update``:

    Q(A, left) <- Q(A, left) + alpha * (0 + gamma * max_b Q(B, b) - Q(A, left))
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rlhf_edu.core.exploration import epsilon_greedy_rows
from rlhf_edu.tabular.checks import check_alpha, check_epsilon, check_gamma, check_n_episodes
from rlhf_edu.utils.seeding import check_seed

LEFT, RIGHT = 0, 1


def maximization_bias_experiment(
    method: str,
    n_runs: int,
    n_episodes: int,
    seed: int,
    *,
    alpha: float = 0.1,
    epsilon: float = 0.1,
    gamma: float = 1.0,
    n_actions_b: int = 10,
    mean_b: float = -0.1,
    std_b: float = 1.0,
    update: Callable | None = None,
) -> np.ndarray:
    """Fraction of runs choosing *left* in A, per episode: shape (n_episodes,).

    Args:
        method: "q_learning" or "double_q_learning".
        n_runs, n_episodes: the figure uses 10,000 runs x 300 episodes.
        seed: seeds rewards, exploration and Double Q's coin flips.
        alpha, epsilon, gamma: the book uses 0.1, 0.1, 1.
        update: optional single-step update to use instead of the vectorised one, with the
            signature of ``q_learning_update`` (for "q_learning") or ``double_q_update`` (for
            "double_q_learning"); it is called run by run, on a table per run with rows
            A = 0 and B = 1 (A's columns past the first two are unused). The random numbers are
            the same, so a correct ``update`` gives exactly the vectorised result (slower).
    """
    if method not in ("q_learning", "double_q_learning"):
        raise ValueError(f"method must be 'q_learning' or 'double_q_learning', got {method!r}")
    n_runs, n_episodes = check_n_episodes(n_runs, "n_runs"), check_n_episodes(n_episodes)
    alpha, epsilon, gamma = check_alpha(alpha), check_epsilon(epsilon), check_gamma(gamma)
    rng = np.random.default_rng(check_seed(seed))
    runs = np.arange(n_runs)
    n_tables = 2 if method == "double_q_learning" else 1
    n_b = int(n_actions_b)
    # Q[table, run, state, action], state A = 0, B = 1; A uses only the actions {left, right}
    Q = np.zeros((n_tables, n_runs, 2, max(2, n_b)))
    left_fraction = np.zeros(n_episodes)
    for episode in range(n_episodes):
        a = epsilon_greedy_rows(Q[:, :, 0, :2].sum(axis=0), epsilon, rng)  # act on Q1 + Q2 (or Q)
        went_left = a == LEFT
        left_fraction[episode] = went_left.mean()
        b = epsilon_greedy_rows(Q[:, :, 1, :n_b].sum(axis=0), epsilon, rng)
        reward_b = mean_b + std_b * rng.standard_normal(n_runs)
        # which table each run updates (always 0 for Q-learning)
        first = rng.random(n_runs) < 0.5 if n_tables == 2 else np.ones(n_runs, dtype=bool)
        first_b = rng.random(n_runs) < 0.5 if n_tables == 2 else first
        if update is not None:
            _per_run_updates(update, Q, a, went_left, b, reward_b, first, first_b, alpha, gamma)
            continue
        sel = np.where(first, 0, 1)  # table being updated
        other = 1 - sel if n_tables == 2 else sel
        # A -> B (left, reward 0, not terminal): bootstrap from B
        best_b = Q[sel, runs, 1, :n_b].argmax(axis=1)
        td_target_A = gamma * Q[other, runs, 1, best_b]
        td_target_A = np.where(went_left, td_target_A, 0.0)  # right: terminal, reward 0
        Q[sel, runs, 0, a] += alpha * (td_target_A - Q[sel, runs, 0, a])
        # B -> terminal with reward_b, only for the runs that went left
        sel_b = np.where(first_b, 0, 1)
        delta_B = alpha * (reward_b - Q[sel_b, runs, 1, b])
        Q[sel_b, runs, 1, b] += np.where(went_left, delta_B, 0.0)
    return left_fraction


def _per_run_updates(update, Q, a, went_left, b, reward_b, first, first_b, alpha, gamma) -> None:
    """The episode's updates, run by run, with a single-step ``update`` (A = 0, B = 1)."""
    A, B = 0, 1
    double = Q.shape[0] == 2
    for run in range(Q.shape[1]):
        left = bool(went_left[run])
        # A -> B (not terminal) if left; A -> end (terminal, reward 0) if right
        if double:
            update(Q[0, run], Q[1, run], A, int(a[run]), 0.0, B, not left, alpha, gamma,
                   bool(first[run]))  # fmt: skip
        else:
            update(Q[0, run], A, int(a[run]), 0.0, B, not left, alpha, gamma)
        if left:  # B -> end with reward_b (terminal: the next state is never read)
            r = float(reward_b[run])
            if double:
                update(Q[0, run], Q[1, run], B, int(b[run]), r, A, True, alpha, gamma,
                       bool(first_b[run]))  # fmt: skip
            else:
                update(Q[0, run], B, int(b[run]), r, A, True, alpha, gamma)
