"""A finite Markov decision process as arrays: the object dynamic programming works on.

An MDP with states ``s = 0..S-1`` and actions ``a = 0..A-1`` is given by

- ``P[s, a, s']`` = Pr(S_{t+1} = s' | S_t = s, A_t = a)   (each ``P[s, a]`` row sums to 1),
- ``R[s, a]``     = E[R_{t+1} | S_t = s, A_t = a]          (expected immediate reward),
- ``terminal[s]`` = True for absorbing states where an episode ends (value 0 by definition).

Sampling an episode needs a little more than ``P`` and ``R``: the reward of each individual
outcome and whether it ends the episode. ``TabularMDP.transitions[s][a]`` keeps gymnasium's
toy-text format, a list of ``(probability, next_state, reward, terminated)`` outcomes, so an MDP
read from a gymnasium env (``TabularMDP.from_gymnasium``) samples exactly as that env does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np

from rlhf_edu.utils.validation import check_int

#: One outcome of taking an action: (probability, next_state, reward, terminated).
Outcome = tuple[float, int, float, bool]

_ATOL = 1e-8


def check_discrete_env(env: gym.Env, name: str = "env") -> tuple[int, int]:
    """Return ``(n_states, n_actions)`` of an env whose spaces are both ``Discrete``, else raise."""
    if not isinstance(env, gym.Env):
        raise TypeError(f"{name} must be a gymnasium.Env, got {type(env).__name__}")
    obs_space, act_space = env.observation_space, env.action_space
    if not isinstance(obs_space, gym.spaces.Discrete):
        raise TypeError(
            f"{name}.observation_space must be gymnasium.spaces.Discrete for tabular methods, "
            f"got {type(obs_space).__name__}"
        )
    if not isinstance(act_space, gym.spaces.Discrete):
        raise TypeError(
            f"{name}.action_space must be gymnasium.spaces.Discrete for tabular methods, "
            f"got {type(act_space).__name__}"
        )
    if int(obs_space.start) != 0 or int(act_space.start) != 0:
        raise ValueError(f"{name}'s Discrete spaces must start at 0")
    return int(obs_space.n), int(act_space.n)


@dataclass(eq=False)
class TabularMDP:
    """A finite MDP: ``P[s, a, s']``, ``R[s, a]`` and a ``terminal`` mask of absorbing states.

    Args:
        P: transition probabilities, shape (S, A, S); every ``P[s, a]`` sums to 1.
        R: expected immediate rewards, shape (S, A).
        terminal: boolean mask, shape (S,), of absorbing states (``P[s, a, s] = 1``, ``R[s, a] = 0``).
            Default: no terminal states (a continuing task).
        initial: start-state distribution, shape (S,). Default: uniform over non-terminal states.
        transitions: optional per-(s, a) outcome lists ``(prob, next_state, reward, terminated)``
            used to *sample* episodes (gymnasium toy-text format). Default: built from ``P``, ``R``
            (each reachable ``s'`` in increasing order, reward ``R[s, a]``,
            ``terminated = terminal[s']``).
        shape: (rows, cols) when states are the cells of a grid, row-major; used by plots.
        max_episode_steps: the time limit episodes are truncated at, if any.
        name: a label for printing.
        reward_std: optional (S, A) standard deviation of Gaussian noise added to sampled rewards
            (the maximization-bias MDP); ``R`` stays the expected reward.

    Raises:
        ValueError: shapes disagree, probabilities are negative or do not sum to 1, a terminal
            state is not absorbing with zero reward.
    """

    P: np.ndarray
    R: np.ndarray
    terminal: np.ndarray | None = None
    initial: np.ndarray | None = None
    transitions: list[list[list[Outcome]]] | None = None
    shape: tuple[int, int] | None = None
    max_episode_steps: int | None = None
    name: str = "TabularMDP"
    reward_std: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        P = np.asarray(self.P, dtype=np.float64)
        R = np.asarray(self.R, dtype=np.float64)
        if P.ndim != 3 or P.shape[0] != P.shape[2]:
            raise ValueError(f"P must have shape (S, A, S), got {P.shape}")
        n_states, n_actions = P.shape[0], P.shape[1]
        if n_states < 1 or n_actions < 1:
            raise ValueError(f"P needs at least one state and one action, got shape {P.shape}")
        if R.shape != (n_states, n_actions):
            raise ValueError(f"R must have shape (S, A) = {(n_states, n_actions)}, got {R.shape}")
        if not (np.all(np.isfinite(P)) and np.all(np.isfinite(R))):
            raise ValueError("P and R must be finite (no NaN or inf)")
        if np.any(P < 0):
            raise ValueError("P must be non-negative: P[s, a, s'] is a probability")
        row_sums = P.sum(axis=2)
        if not np.allclose(row_sums, 1.0, atol=1e-6):
            s, a = np.argwhere(~np.isclose(row_sums, 1.0, atol=1e-6))[0]
            raise ValueError(
                f"every row P[s, a, :] must sum to 1, but P[{s}, {a}, :] sums to {row_sums[s, a]:.6g}"
            )
        if self.terminal is None:
            terminal = np.zeros(n_states, dtype=bool)
        else:
            terminal = np.asarray(self.terminal)
            if terminal.shape != (n_states,) or terminal.dtype != bool:
                raise ValueError(
                    f"terminal must be a boolean mask of shape (S,) = ({n_states},), "
                    f"got dtype {terminal.dtype} shape {terminal.shape}"
                )
        for s in np.flatnonzero(terminal):
            if not (np.allclose(P[s, :, s], 1.0) and np.allclose(R[s], 0.0)):
                raise ValueError(
                    f"terminal state {s} must be absorbing: P[{s}, a, {s}] = 1 and R[{s}, a] = 0"
                )
        if self.initial is None:
            initial = (~terminal).astype(np.float64)
            if initial.sum() == 0:
                raise ValueError("every state is terminal: there is nowhere to start")
            initial /= initial.sum()
        else:
            initial = np.asarray(self.initial, dtype=np.float64)
            if initial.shape != (n_states,) or np.any(initial < 0):
                raise ValueError(f"initial must be a distribution of shape ({n_states},)")
            if not np.isclose(initial.sum(), 1.0, atol=1e-6):
                raise ValueError(f"initial must sum to 1, got {initial.sum():.6g}")
        if self.shape is not None:
            rows, cols = self.shape
            if rows * cols != n_states:
                raise ValueError(f"shape {self.shape} does not hold {n_states} states")
            self.shape = (int(rows), int(cols))
        if self.max_episode_steps is not None:
            self.max_episode_steps = check_int("max_episode_steps", self.max_episode_steps, 1)
        self.P, self.R, self.terminal, self.initial = P, R, terminal, initial
        if self.transitions is None:
            self.transitions = self._outcomes_from_arrays()
        elif len(self.transitions) != n_states or any(
            len(row) != n_actions for row in self.transitions
        ):
            raise ValueError("transitions must be a list of S lists of A outcome lists")
        if self.reward_std is not None:
            self.reward_std = np.asarray(self.reward_std, dtype=np.float64)
            if self.reward_std.shape != (n_states, n_actions) or np.any(self.reward_std < 0):
                raise ValueError(
                    f"reward_std must be non-negative with shape {(n_states, n_actions)}"
                )

    # ------------------------------------------------------------------ sizes
    @property
    def n_states(self) -> int:
        return self.P.shape[0]

    @property
    def n_actions(self) -> int:
        return self.P.shape[1]

    def _outcomes_from_arrays(self) -> list[list[list[Outcome]]]:
        table: list[list[list[Outcome]]] = []
        for s in range(self.n_states):
            row = []
            for a in range(self.n_actions):
                if self.terminal[s]:
                    row.append([(1.0, s, 0.0, True)])
                    continue
                next_states = np.flatnonzero(self.P[s, a] > 0)
                row.append(
                    [
                        (
                            float(self.P[s, a, s2]),
                            int(s2),
                            float(self.R[s, a]),
                            bool(self.terminal[s2]),
                        )
                        for s2 in next_states
                    ]
                )
            table.append(row)
        return table

    # ------------------------------------------------------------ constructors
    @classmethod
    def from_transitions(
        cls,
        transitions: Sequence[Sequence[Sequence[Outcome]]],
        *,
        initial: np.ndarray | None = None,
        shape: tuple[int, int] | None = None,
        max_episode_steps: int | None = None,
        name: str = "TabularMDP",
        reward_std: np.ndarray | None = None,
    ) -> TabularMDP:
        """Build an MDP from gymnasium-style outcome lists ``transitions[s][a]``.

        A state is terminal when some outcome enters it with ``terminated=True``; it is made
        absorbing (``P[s, a, s] = 1``, ``R[s, a] = 0``), as the episode ends there anyway.

        Raises:
            ValueError: an outcome list is empty, a probability is negative, a row does not sum
                to 1, or a state is entered both with and without ``terminated``.
        """
        n_states = len(transitions)
        if n_states == 0:
            raise ValueError("transitions must describe at least one state")
        n_actions = len(transitions[0])
        entered_terminated = np.zeros(n_states, dtype=bool)
        clean: list[list[list[Outcome]]] = []
        for s in range(n_states):
            if len(transitions[s]) != n_actions:
                raise ValueError(
                    f"transitions[{s}] has {len(transitions[s])} actions, expected {n_actions}"
                )
            row = []
            for a in range(n_actions):
                outcomes = [
                    (float(p), int(s2), float(r), bool(t)) for p, s2, r, t in transitions[s][a]
                ]
                if not outcomes:
                    raise ValueError(f"transitions[{s}][{a}] is empty")
                for p, s2, _, t in outcomes:
                    if not 0 <= s2 < n_states:
                        raise ValueError(
                            f"transitions[{s}][{a}] leads to state {s2}, outside [0, {n_states})"
                        )
                    if p > 0 and t:
                        entered_terminated[s2] = True
                row.append(outcomes)
            clean.append(row)
        terminal = entered_terminated
        # Outcomes *from* terminal states are replaced below; from the other states an episode
        # can reach, entering a terminal state must end the episode every time. (Taxi has
        # unreachable states, e.g. passenger already at the destination, that break this.)
        start = np.ones(n_states, dtype=bool) if initial is None else np.asarray(initial) > 0
        for s in np.flatnonzero(_reachable(clean, start) & ~terminal):
            for a in range(n_actions):
                for p, s2, _, t in clean[s][a]:
                    if p > 0 and terminal[s2] and not t:
                        raise ValueError(
                            f"state {s2} is entered both with terminated=True and False "
                            f"(from state {s}, action {a}); a TabularMDP needs termination to "
                            "be a property of the next state"
                        )
        P = np.zeros((n_states, n_actions, n_states))
        R = np.zeros((n_states, n_actions))
        for s in range(n_states):
            for a in range(n_actions):
                if terminal[s]:
                    clean[s][a] = [(1.0, s, 0.0, True)]
                for p, s2, r, _ in clean[s][a]:
                    P[s, a, s2] += p
                    R[s, a] += p * r
        if initial is None:
            initial = (~terminal).astype(np.float64) / max(1, int((~terminal).sum()))
        return cls(
            P,
            R,
            terminal,
            initial=initial,
            transitions=clean,
            shape=shape,
            max_episode_steps=max_episode_steps,
            name=name,
            reward_std=reward_std,
        )

    @classmethod
    def from_gymnasium(cls, env: gym.Env) -> TabularMDP:
        """Read the MDP of a discrete gymnasium env that exposes ``unwrapped.P``.

        Works for FrozenLake-v1, FrozenLake8x8-v1, CliffWalking-v1, Taxi (v3 in older gymnasium,
        v4 in 1.x) and this package's ``rlhf_edu/...`` envs. Terminal states become absorbing.
        The start-state distribution, grid shape and time limit are read when present.

        Raises:
            TypeError: a space is not Discrete, or the env has no ``P`` table.
        """
        n_states, n_actions = check_discrete_env(env)
        base = env.unwrapped
        if getattr(base, "fickle_passenger", False):
            raise ValueError("Taxi with fickle_passenger=True is not a fixed MDP; use the default")
        table = getattr(base, "P", None)
        if table is None:
            raise TypeError(
                f"{type(base).__name__} has no transition table `P`; from_gymnasium needs a "
                "toy-text style env (FrozenLake, CliffWalking, Taxi, rlhf_edu/...)"
            )
        if isinstance(table, TabularMDP):  # our own envs keep the MDP itself
            return table
        transitions = [[list(table[s][a]) for a in range(n_actions)] for s in range(n_states)]
        initial = getattr(base, "initial_state_distrib", None)
        shape = None
        if hasattr(base, "nrow") and hasattr(base, "ncol"):
            shape = (int(base.nrow), int(base.ncol))
        elif hasattr(base, "shape") and isinstance(base.shape, tuple) and len(base.shape) == 2:
            shape = (int(base.shape[0]), int(base.shape[1]))
        spec = getattr(env, "spec", None)
        max_steps = spec.max_episode_steps if spec is not None else None
        name = spec.id if spec is not None else type(base).__name__
        return cls.from_transitions(
            transitions, initial=initial, shape=shape, max_episode_steps=max_steps, name=name
        )

    # ----------------------------------------------------------------- helpers
    def policy_transitions(self, policy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(P_pi, R_pi)``: the Markov chain a policy induces. ``P_pi[s, s']``, ``R_pi[s]``."""
        policy = check_policy(policy, self.n_states, self.n_actions)
        P_pi = np.einsum("sa,sat->st", policy, self.P)
        R_pi = np.einsum("sa,sa->s", policy, self.R)
        return P_pi, R_pi

    def __repr__(self) -> str:
        return (
            f"TabularMDP(name={self.name!r}, n_states={self.n_states}, n_actions={self.n_actions}, "
            f"n_terminal={int(self.terminal.sum())}, max_episode_steps={self.max_episode_steps})"
        )


def _reachable(transitions: list[list[list[Outcome]]], start: np.ndarray) -> np.ndarray:
    """Mask of states reachable from ``start`` without passing through an episode's end."""
    seen = start.copy()
    frontier = list(np.flatnonzero(start))
    while frontier:
        s = frontier.pop()
        for outcomes in transitions[s]:
            for p, s2, _, t in outcomes:
                if p > 0 and not t and not seen[s2]:
                    seen[s2] = True
                    frontier.append(s2)
    return seen


def check_policy(
    policy: np.ndarray, n_states: int, n_actions: int, name: str = "policy"
) -> np.ndarray:
    """Return ``policy`` as a float (S, A) array of probabilities, each row summing to 1, else raise."""
    policy = np.asarray(policy, dtype=np.float64)
    if policy.shape != (n_states, n_actions):
        raise ValueError(
            f"{name} must have shape (S, A) = {(n_states, n_actions)}, got {policy.shape}"
        )
    if not np.all(np.isfinite(policy)) or np.any(policy < 0):
        raise ValueError(f"{name} must hold probabilities in [0, 1]")
    sums = policy.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-6):
        s = int(np.argmax(~np.isclose(sums, 1.0, atol=1e-6)))
        raise ValueError(
            f"every row of {name} must sum to 1, but {name}[{s}] sums to {sums[s]:.6g}"
        )
    return policy
