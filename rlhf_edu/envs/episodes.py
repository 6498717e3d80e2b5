"""An episode as data, and one step of lookahead: the tour's (module 00) reference functions.

The course's reward-index convention (Sutton & Barto): the action ``A_t`` taken in state ``S_t``
is followed by the reward ``R_{t+1}`` and the state ``S_{t+1}``. An episode of ``T`` steps is
stored as three lists::

    states  = [S_0, S_1, ..., S_T]          (T + 1 entries: the last state is kept)
    actions = [A_0, A_1, ..., A_{T-1}]      (T entries)
    rewards = [R_1, R_2, ..., R_T]          (T entries: rewards[t] follows actions[t])

The discounted return of step ``t`` (the reward-to-go, Sutton & Barto eq. 3.8 and 3.9)::

    G_t = R_{t+1} + gamma R_{t+2} + gamma^2 R_{t+3} + ... = rewards[t] + gamma G_{t+1},  G_T = 0

One-step lookahead on a gymnasium toy-text transition table ``P[s][a] = [(prob, s_next, reward,
terminated), ...]`` (FrozenLake's ``env.unwrapped.P``), the Bellman backup of eq. 4.6::

    Q(s, a) = sum over outcomes of prob * (reward + gamma * (0 if terminated else V(s_next)))

A terminated outcome's next state is absorbing and worth 0: nothing is bootstrapped through it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import gymnasium as gym
import numpy as np

from rlhf_edu.utils.seeding import check_seed
from rlhf_edu.utils.validation import check_float

__all__ = [
    "estimate_value",
    "greedy_actions",
    "lookahead_values",
    "returns_from_rewards",
    "rollout_episode",
]


def rollout_episode(
    env: gym.Env, policy: Callable[[int], int], seed: int
) -> tuple[list[int], list[int], list[float]]:
    """Run one episode of ``policy`` from ``env.reset(seed=seed)``: ``(states, actions, rewards)``.

    ``states`` has one more entry than ``actions`` and ``rewards`` (the final state is kept);
    ``rewards[t]`` is R_{t+1}, the reward of the step that took ``actions[t]`` in ``states[t]``.
    The episode ends when the environment says ``terminated or truncated``.
    """
    seed = check_seed(seed)
    observation, _ = env.reset(seed=seed)
    states, actions, rewards = [int(observation)], [], []
    done = False
    while not done:
        action = int(policy(observation))
        observation, reward, terminated, truncated, _ = env.step(action)
        actions.append(action)
        rewards.append(float(reward))
        states.append(int(observation))
        done = terminated or truncated
    return states, actions, rewards


def returns_from_rewards(rewards: Sequence[float] | np.ndarray, gamma: float) -> np.ndarray:
    """The discounted return of every step, ``G_t = rewards[t] + gamma * G_{t+1}`` with G_T = 0.

    Args:
        rewards: shape ``(T,)``; ``rewards[t]`` is R_{t+1}.
        gamma: discount factor in [0, 1].

    Returns:
        ``returns``, float64 of shape ``(T,)``; ``returns[0]`` is the episode's return G_0.
    """
    gamma = check_float("gamma", gamma, 0.0, 1.0)
    rewards = np.asarray(rewards, dtype=np.float64)
    if rewards.ndim != 1:
        raise ValueError(f"rewards must have shape (T,), got shape {rewards.shape}")
    returns = np.zeros_like(rewards)
    G = 0.0
    for t in reversed(range(len(rewards))):
        G = rewards[t] + gamma * G
        returns[t] = G
    return returns


def estimate_value(
    env: gym.Env, policy: Callable[[int], int], gamma: float, n_episodes: int, seed: int
) -> tuple[float, float]:
    """Policy evaluation by simulation: the mean discounted return ``G_0`` of ``n_episodes``
    episodes and its standard error (Sutton & Barto, Section 5.1, for the start state).

    Episode ``i`` is ``rollout_episode(env, policy, seed + i)`` (its time limit included) and its
    return is ``returns_from_rewards(rewards, gamma)[0]``. The standard error is
    ``std(returns, ddof=1) / sqrt(n_episodes)``.

    Returns:
        ``(mean, standard_error)``, two floats.
    """
    if isinstance(n_episodes, bool) or not isinstance(n_episodes, (int, np.integer)):
        raise TypeError(f"n_episodes must be an int >= 2, got {n_episodes!r}")
    if n_episodes < 2:
        raise ValueError(f"n_episodes must be >= 2 (a standard error needs two), got {n_episodes}")
    seed = check_seed(seed)
    returns = np.array(
        [
            returns_from_rewards(rollout_episode(env, policy, seed + i)[2], gamma)[0]
            for i in range(n_episodes)
        ]
    )
    return float(returns.mean()), float(returns.std(ddof=1) / np.sqrt(n_episodes))


def lookahead_values(
    P: Mapping[int, Mapping[int, Sequence[tuple[float, int, float, bool]]]],
    V: np.ndarray,
    gamma: float,
) -> np.ndarray:
    """Action values by one step of lookahead on a transition table (the Bellman backup).

    ``Q[s, a] = sum_{(prob, s_next, reward, terminated) in P[s][a]}
    prob * (reward + gamma * (0 if terminated else V[s_next]))``.

    Args:
        P: ``P[s][a]`` lists the outcomes ``(prob, s_next, reward, terminated)`` of action ``a``
            in state ``s`` (gymnasium toy-text format, e.g. ``env.unwrapped.P``).
        V: state values, shape ``(n_states,)``.
        gamma: discount factor in [0, 1].

    Returns:
        ``Q``, float64 of shape ``(n_states, n_actions)``.
    """
    gamma = check_float("gamma", gamma, 0.0, 1.0)
    V = np.asarray(V, dtype=np.float64)
    n_states, n_actions = len(P), len(P[0])
    if V.shape != (n_states,):
        raise ValueError(f"V must have shape ({n_states},) for {n_states} states, got {V.shape}")
    Q = np.zeros((n_states, n_actions))
    for s in range(n_states):
        for a in range(n_actions):
            for prob, s_next, reward, terminated in P[s][a]:
                Q[s, a] += prob * (reward + (0.0 if terminated else gamma * V[s_next]))
    return Q


def greedy_actions(Q: np.ndarray) -> np.ndarray:
    """The greedy action of every state, ``argmax_a Q[s, a]``; ties go to the lowest action.

    Args:
        Q: action values, shape ``(n_states, n_actions)``.

    Returns:
        int64 array of shape ``(n_states,)``.
    """
    Q = np.asarray(Q, dtype=np.float64)
    if Q.ndim != 2:
        raise ValueError(f"Q must have shape (n_states, n_actions), got shape {Q.shape}")
    return Q.argmax(axis=1).astype(np.int64)
