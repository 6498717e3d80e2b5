"""On-policy first-visit Monte Carlo control with epsilon-soft policies (Sutton & Barto, 5.4).

Play a whole episode with the epsilon-greedy policy for ``Q``, then walk it backwards computing
the return ``G_t = R_{t+1} + gamma * G_{t+1}``; at the *first* visit of each (s, a) pair move
``Q(s, a)`` toward ``G_t``:

    Q(s, a) <- Q(s, a) + (G_t - Q(s, a)) / N(s, a)       (sample average; or a constant alpha)

No bootstrapping: the target is a real return, so MC needs episodes that end.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from rlhf_edu.core.exploration import epsilon_for_episode, epsilon_greedy
from rlhf_edu.envs.mdp import check_discrete_env
from rlhf_edu.tabular.checks import check_alpha, check_epsilon, check_gamma, check_n_episodes
from rlhf_edu.tabular.result import AGENT_STREAM, TabularResult, tabular_result
from rlhf_edu.tabular.td import _make_env, _time_limit
from rlhf_edu.utils.progress import progress
from rlhf_edu.utils.seeding import check_seed


def first_visit_returns(
    states: list[int], actions: list[int], rewards: list[float], gamma: float
) -> list[tuple[int, int, float]]:
    """``(s, a, G_t)`` for the first visit of each (s, a) in one episode, in time order.

    ``rewards[t]`` is the reward that followed ``actions[t]`` in ``states[t]``.
    """
    G = 0.0
    returns_backwards = []
    for t in reversed(range(len(rewards))):
        G = rewards[t] + gamma * G
        returns_backwards.append((states[t], actions[t], G))
    returns = returns_backwards[::-1]
    seen: set[tuple[int, int]] = set()
    first_visits = []
    for s, a, G_t in returns:
        if (s, a) not in seen:
            seen.add((s, a))
            first_visits.append((s, a, G_t))
    return first_visits


def mc_control(
    env: gym.Env | str,
    n_episodes: int,
    alpha: float | None,
    gamma: float,
    epsilon: float,
    seed: int,
    *,
    epsilon_final: float | None = None,
    max_episode_steps: int | None = None,
) -> TabularResult:
    """On-policy first-visit MC control; ``alpha=None`` uses sample averages ``1 / N(s, a)``.

    Episodes truncated by a time limit are used as they are (their returns are cut short).
    """
    env = _make_env(env)
    n_states, n_actions = check_discrete_env(env)
    n_episodes = check_n_episodes(n_episodes)
    alpha = None if alpha is None else check_alpha(alpha)
    gamma, epsilon, seed = check_gamma(gamma), check_epsilon(epsilon), check_seed(seed)
    epsilon_final = None if epsilon_final is None else check_epsilon(epsilon_final, "epsilon_final")
    limit = _time_limit(env, max_episode_steps)
    agent_rng = np.random.default_rng((seed, AGENT_STREAM))
    Q = np.zeros((n_states, n_actions))
    N = np.zeros((n_states, n_actions))
    episode_returns, lengths = [], []
    for episode in progress(range(n_episodes), desc="mc_control"):
        eps = epsilon_for_episode(epsilon, epsilon_final, episode, n_episodes)
        s, _ = env.reset(seed=seed if episode == 0 else None)
        states, actions, rewards = [], [], []
        while True:
            a = epsilon_greedy(Q[s], eps, agent_rng)
            s_next, r, terminated, truncated, _ = env.step(a)
            states.append(s)
            actions.append(a)
            rewards.append(float(r))
            if terminated or truncated or (limit is not None and len(rewards) >= limit):
                break
            s = s_next
        for s_t, a_t, G_t in first_visit_returns(states, actions, rewards, gamma):
            N[s_t, a_t] += 1
            if alpha is None:  # sample average, written as the textbook does (bit for bit)
                Q[s_t, a_t] += (G_t - Q[s_t, a_t]) / N[s_t, a_t]
            else:
                Q[s_t, a_t] += alpha * (G_t - Q[s_t, a_t])
        episode_returns.append(sum(rewards))
        lengths.append(len(rewards))
    return tabular_result(Q, episode_returns, lengths)


def first_visit_mc_control(
    env: gym.Env | str, n_episodes: int, gamma: float, epsilon: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """On-policy first-visit MC control with sample averages and a constant epsilon (S&B 5.4).

    The recipe (``mc_control`` with ``alpha=None``): ``Q = N = 0`` of shape (S, A); the agent's
    generator ``default_rng((seed, AGENT_STREAM))`` with ``AGENT_STREAM = 1``; the env is reset
    with ``seed`` in the first episode only; each action is ``epsilon_greedy(Q[s], epsilon, rng)``;
    an episode ends when a step terminated or was truncated; then, for each
    ``(s, a, G)`` of ``first_visit_returns(states, actions, rewards, gamma)``:
    ``N[s, a] += 1; Q[s, a] += (G - Q[s, a]) / N[s, a]``.

    Returns:
        ``(Q, episode_returns)``: (S, A) action values and the undiscounted return of each
        episode, shape (n_episodes,).
    """
    result = mc_control(env, n_episodes, None, gamma, epsilon, seed)
    return result.Q, result.episode_returns


def first_visit_mc_prediction(
    env: gym.Env | str, policy: np.ndarray, n_episodes: int, gamma: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """First-visit Monte Carlo prediction of ``V^pi`` (Sutton & Barto, Section 5.1).

    ``V = N = 0`` of shape (S,); the agent's generator ``default_rng((seed, AGENT_STREAM))``;
    the env is reset with ``seed`` in the first episode only; each action is
    ``rng.choice(A, p=policy[s])``; an episode ends when a step terminated or was truncated (a
    truncated episode contributes its return so far). Then, walking the episode backwards with
    ``G = R_{t+1} + gamma * G``, at the first visit of each state ``s`` at time ``t``:
    ``N[s] += 1; V[s] += (G_t - V[s]) / N[s]`` (a sample average of the first-visit returns).

    Args:
        policy: action probabilities, shape (S, A), each row summing to 1.

    Returns:
        ``(V, N)``: the estimates (0 where a state was never visited) and the number of
        first-visit returns averaged into each, both of shape (S,).
    """
    env = _make_env(env)
    n_states, n_actions = check_discrete_env(env)
    policy = np.asarray(policy, dtype=np.float64)
    if policy.shape != (n_states, n_actions) or not np.allclose(policy.sum(axis=1), 1.0):
        raise ValueError(
            f"policy must be ({n_states}, {n_actions}) action probabilities with rows summing "
            f"to 1, got shape {policy.shape}"
        )
    n_episodes, gamma = check_n_episodes(n_episodes), check_gamma(gamma)
    seed = check_seed(seed)
    rng = np.random.default_rng((seed, AGENT_STREAM))
    V, N = np.zeros(n_states), np.zeros(n_states)
    for episode in range(n_episodes):
        s, _ = env.reset(seed=seed if episode == 0 else None)
        states, rewards = [], []
        while True:
            a = int(rng.choice(n_actions, p=policy[s]))
            s_next, r, terminated, truncated, _ = env.step(a)
            states.append(int(s))
            rewards.append(float(r))
            if terminated or truncated:
                break
            s = s_next
        first_visit = {}
        for t, state in enumerate(states):
            first_visit.setdefault(state, t)
        G = 0.0
        for t in reversed(range(len(states))):
            G = rewards[t] + gamma * G
            if first_visit[states[t]] == t:
                N[states[t]] += 1
                V[states[t]] += (G - V[states[t]]) / N[states[t]]
    return V, N
