"""What a tabular control method returns, and how its agent's random numbers are seeded.

Shared by the readable loops (``td``, ``mc``) and the fast path (``fast``), so that neither
imports the other's internals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rlhf_edu.tabular.dp import greedy_policy

#: The agent's generator is seeded with (seed, AGENT_STREAM), independent of the env's (seed).
AGENT_STREAM = 1


@dataclass
class TabularResult:
    """What a tabular control method returns.

    Attributes:
        Q: action values, shape (S, A).
        policy: the greedy policy for ``Q``, one-hot, shape (S, A).
        episode_returns: undiscounted return of each training episode, shape (n_episodes,).
        episode_lengths: number of steps of each training episode, shape (n_episodes,).
    """

    Q: np.ndarray
    policy: np.ndarray
    episode_returns: np.ndarray
    episode_lengths: np.ndarray

    @property
    def greedy_actions(self) -> np.ndarray:
        """The greedy action in each state, shape (S,)."""
        return self.policy.argmax(axis=1)


def tabular_result(Q, returns, lengths) -> TabularResult:
    """A ``TabularResult`` from a Q table and per-episode returns and lengths (lists or arrays)."""
    return TabularResult(
        Q=Q,
        policy=greedy_policy(Q, tol=0.0),
        episode_returns=np.asarray(returns, dtype=np.float64),
        episode_lengths=np.asarray(lengths, dtype=np.int64),
    )


__all__ = ["AGENT_STREAM", "TabularResult", "tabular_result"]
