"""Temporal-difference learning (Sutton & Barto, Chapter 6).

Every method moves an estimate a step ``alpha`` toward a *TD target* built from one reward and
the current estimate of the next state:

    td_error = td_target - Q(s, a);   Q(s, a) <- Q(s, a) + alpha * td_error

with targets (the next state's term is dropped when the transition *terminated*):

    TD(0) prediction  V:  r + gamma * V(s')
    SARSA             :  r + gamma * Q(s', a')                 a' = the action actually taken next
    Q-learning        :  r + gamma * max_a' Q(s', a')
    Expected SARSA    :  r + gamma * sum_a' pi(a'|s') Q(s', a')  pi = the epsilon-greedy policy
    Double Q-learning :  r + gamma * Q2(s', argmax_a' Q1(s', a'))   (roles of Q1, Q2 swap at random)

Terminated vs truncated: an episode that *terminates* (goal, hole) has no future, so nothing is
bootstrapped. An episode *truncated* by a time limit still had a future: the update bootstraps
as usual and only the loop stops. Treating a truncation as a termination teaches the agent that
the last state before the time limit is worth nothing.

Randomness: the agent draws from its own generator ``agent_rng = np.random.default_rng((seed, 1))``
(two uniforms per action, see ``epsilon_greedy``); the env is reset once with ``seed`` and then
continues its own stream. ``rlhf_edu.tabular.fast`` reproduces these loops exactly, much faster.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from rlhf_edu.core.exploration import (
    epsilon_for_episode,
    epsilon_greedy,
    epsilon_greedy_probabilities,
)
from rlhf_edu.envs.mdp import check_discrete_env
from rlhf_edu.tabular.checks import (
    check_alpha,
    check_epsilon,
    check_gamma,
    check_n_episodes,
    check_rng,
)
from rlhf_edu.tabular.fast import run_fast, supports_fast_path
from rlhf_edu.tabular.result import AGENT_STREAM, TabularResult, tabular_result
from rlhf_edu.utils.progress import progress
from rlhf_edu.utils.seeding import check_seed
from rlhf_edu.utils.validation import check_int


# ------------------------------------------------------------------ single-step updates
def td0_update(
    V: np.ndarray, s: int, r: float, s_next: int, terminated: bool, alpha: float, gamma: float
) -> None:
    """TD(0), in place: ``V[s] += alpha * (r + gamma * V[s_next] * (not terminated) - V[s])``."""
    td_target = r + (0.0 if terminated else gamma * V[s_next])
    td_error = td_target - V[s]
    V[s] += alpha * td_error


def sarsa_update(
    Q: np.ndarray,
    s: int,
    a: int,
    r: float,
    s_next: int,
    a_next: int,
    terminated: bool,
    alpha: float,
    gamma: float,
) -> None:
    """SARSA, in place: the target uses the next action actually chosen, ``Q[s_next, a_next]``."""
    td_target = r + (0.0 if terminated else gamma * Q[s_next, a_next])
    td_error = td_target - Q[s, a]
    Q[s, a] += alpha * td_error


def q_learning_update(
    Q: np.ndarray,
    s: int,
    a: int,
    r: float,
    s_next: int,
    terminated: bool,
    alpha: float,
    gamma: float,
) -> None:
    """Q-learning, in place: the target uses the best next action, ``max_a' Q[s_next, a']``."""
    td_target = r + (0.0 if terminated else gamma * np.max(Q[s_next]))
    td_error = td_target - Q[s, a]
    Q[s, a] += alpha * td_error


def expected_sarsa_update(
    Q: np.ndarray,
    s: int,
    a: int,
    r: float,
    s_next: int,
    terminated: bool,
    alpha: float,
    gamma: float,
    epsilon: float,
) -> None:
    """Expected SARSA, in place: the target averages ``Q[s_next]`` under the epsilon-greedy policy."""
    if terminated:
        td_target = r
    else:
        pi_next = epsilon_greedy_probabilities(Q[s_next], epsilon)
        expected_q = 0.0
        for a_next in range(len(pi_next)):  # sum_a' pi(a'|s') Q(s', a')
            expected_q += pi_next[a_next] * Q[s_next, a_next]
        td_target = r + gamma * expected_q
    td_error = td_target - Q[s, a]
    Q[s, a] += alpha * td_error


def double_q_update(
    Q1: np.ndarray,
    Q2: np.ndarray,
    s: int,
    a: int,
    r: float,
    s_next: int,
    terminated: bool,
    alpha: float,
    gamma: float,
    update_first: bool,
) -> None:
    """Double Q-learning, in place on ``Q1`` (if ``update_first``) or ``Q2``.

    The table being updated picks the next action, the other one values it:
    ``td_target = r + gamma * Q2[s_next, argmax Q1[s_next]]`` (and symmetrically), which removes
    the maximization bias of ``max_a' Q[s_next, a']``.
    """
    Q_select, Q_evaluate = (Q1, Q2) if update_first else (Q2, Q1)
    if terminated:
        td_target = r
    else:
        a_star = int(np.argmax(Q_select[s_next]))
        td_target = r + gamma * Q_evaluate[s_next, a_star]
    td_error = td_target - Q_select[s, a]
    Q_select[s, a] += alpha * td_error


# ------------------------------------------------------------------ one episode each
# The episode functions share one contract, so a training loop can take any of them:
#     episode(env, Q, alpha, gamma, epsilon, agent_rng, seed=None) -> (episode_return, n_steps)
# They reset the env with ``seed`` (None continues its random stream), choose every action with
# ``epsilon_greedy(Q[s], epsilon, agent_rng)`` (two uniforms per action, nothing else drawn from
# agent_rng), update ``Q`` in place after every step and stop when the step terminated or was
# truncated. ``episode_return`` is the undiscounted sum R_1 + ... + R_T (``rewards[t]`` holds
# R_{t+1}, the reward of the step taken at index t); ``n_steps`` is T.


def q_learning_episode(
    env: gym.Env,
    Q: np.ndarray,
    alpha: float,
    gamma: float,
    epsilon: float,
    agent_rng: np.random.Generator,
    seed: int | None = None,
) -> tuple[float, int]:
    """One episode of Q-learning (Sutton & Barto, Section 6.5), in place on ``Q``.

    At each step: ``A_t = epsilon_greedy(Q[S_t])``, take it, then update toward
    ``R_{t+1} + gamma * max_a Q[S_{t+1}, a]`` (``R_{t+1}`` alone if the step terminated).
    """
    s, _ = env.reset(seed=seed)
    episode_return, n_steps = 0.0, 0
    while True:
        a = epsilon_greedy(Q[s], epsilon, agent_rng)
        s_next, r, terminated, truncated, _ = env.step(a)
        n_steps += 1
        q_learning_update(Q, s, a, r, s_next, terminated, alpha, gamma)
        episode_return += r
        if terminated or truncated:  # truncated: stop, but the update above bootstrapped
            return episode_return, n_steps
        s = s_next


def sarsa_episode(
    env: gym.Env,
    Q: np.ndarray,
    alpha: float,
    gamma: float,
    epsilon: float,
    agent_rng: np.random.Generator,
    seed: int | None = None,
) -> tuple[float, int]:
    """One episode of SARSA (Sutton & Barto, Section 6.4), in place on ``Q``.

    ``A_0`` is chosen after the reset; after each step the next action ``A_{t+1}`` is chosen first
    (unless the step terminated: then no action is drawn), the update uses it in its target
    ``R_{t+1} + gamma * Q[S_{t+1}, A_{t+1}]``, and it is the action taken next.
    """
    s, _ = env.reset(seed=seed)
    a = epsilon_greedy(Q[s], epsilon, agent_rng)
    episode_return, n_steps = 0.0, 0
    while True:
        s_next, r, terminated, truncated, _ = env.step(a)
        n_steps += 1
        episode_return += r
        if terminated:
            sarsa_update(Q, s, a, r, s_next, 0, True, alpha, gamma)
            return episode_return, n_steps
        a_next = epsilon_greedy(Q[s_next], epsilon, agent_rng)
        sarsa_update(Q, s, a, r, s_next, a_next, False, alpha, gamma)
        if truncated:
            return episode_return, n_steps
        s, a = s_next, a_next


def expected_sarsa_episode(
    env: gym.Env,
    Q: np.ndarray,
    alpha: float,
    gamma: float,
    epsilon: float,
    agent_rng: np.random.Generator,
    seed: int | None = None,
) -> tuple[float, int]:
    """One episode of Expected SARSA (Sutton & Barto, Section 6.6), in place on ``Q``.

    Acts like ``q_learning_episode``; the target is
    ``R_{t+1} + gamma * sum_a pi(a|S_{t+1}) Q[S_{t+1}, a]`` under the epsilon-greedy policy,
    and ``R_{t+1}`` alone when the step terminated.
    """
    s, _ = env.reset(seed=seed)
    episode_return, n_steps = 0.0, 0
    while True:
        a = epsilon_greedy(Q[s], epsilon, agent_rng)
        s_next, r, terminated, truncated, _ = env.step(a)
        n_steps += 1
        expected_sarsa_update(Q, s, a, r, s_next, terminated, alpha, gamma, epsilon)
        episode_return += r
        if terminated or truncated:
            return episode_return, n_steps
        s = s_next


def td_control(
    env: gym.Env,
    episode,
    n_episodes: int,
    alpha: float,
    gamma: float,
    epsilon: float,
    seed: int,
) -> TabularResult:
    """Train with ``episode`` (one of the episode functions above) for ``n_episodes`` episodes.

    ``Q`` starts at zero, shape (S, A); the agent's generator is
    ``np.random.default_rng((seed, AGENT_STREAM))``; episode 0 resets the env with ``seed`` and
    later episodes with ``None`` (the env's stream continues). With ``q_learning_episode`` this is
    exactly ``q_learning(env, n_episodes, alpha, gamma, epsilon, seed)``, number for number.
    """
    n_states, n_actions = check_discrete_env(env)
    agent_rng = np.random.default_rng((seed, AGENT_STREAM))
    Q = np.zeros((n_states, n_actions))
    returns, lengths = [], []
    for k in range(n_episodes):
        episode_return, n_steps = episode(
            env, Q, alpha, gamma, epsilon, agent_rng, seed=seed if k == 0 else None
        )
        returns.append(episode_return)
        lengths.append(n_steps)
    return tabular_result(Q, returns, lengths)


def train_q_learning(
    env: gym.Env,
    n_episodes: int,
    alpha: float,
    gamma: float,
    epsilon: float,
    seed: int,
    epsilon_final: float | None = None,
    alpha_final: float | None = None,
) -> TabularResult:
    """Q-learning with linearly decaying epsilon and step size: the readable loop of ``q_learning``.

    Episode k acts with ``epsilon_for_episode(epsilon, epsilon_final, k, n_episodes)`` and updates
    with the step size ``epsilon_for_episode(alpha, alpha_final, k, n_episodes)`` (the same linear
    schedule); otherwise as ``td_control(env, q_learning_episode, ...)``. With ``alpha_final=None``
    it equals ``q_learning(..., epsilon_final=epsilon_final)``, number for number.
    """
    n_states, n_actions = check_discrete_env(env)
    agent_rng = np.random.default_rng((seed, AGENT_STREAM))
    Q = np.zeros((n_states, n_actions))
    returns, lengths = [], []
    for k in range(n_episodes):
        eps = epsilon_for_episode(epsilon, epsilon_final, k, n_episodes)
        step_size = epsilon_for_episode(alpha, alpha_final, k, n_episodes)
        episode_return, n_steps = q_learning_episode(
            env, Q, step_size, gamma, eps, agent_rng, seed=seed if k == 0 else None
        )
        returns.append(episode_return)
        lengths.append(n_steps)
    return tabular_result(Q, returns, lengths)


def policy_returns(env: gym.Env, policy: np.ndarray, n_episodes: int, seed: int) -> np.ndarray:
    """Monte Carlo evaluation of a deterministic policy over fixed seeds: shape (n_episodes,).

    Episode i resets the env with ``seed + i`` and takes ``policy[s].argmax()`` in every state
    until the episode terminates or is truncated (the env needs a time limit); entry i is its
    undiscounted return. Two policies evaluated with the same seed meet the same luck.
    """
    policy = np.asarray(policy)
    n_episodes = check_int("n_episodes", n_episodes, 1)
    actions = policy.argmax(axis=1)
    returns = np.zeros(n_episodes)
    for i in range(n_episodes):
        s, _ = env.reset(seed=seed + i)
        while True:
            s, r, terminated, truncated, _ = env.step(int(actions[s]))
            returns[i] += r
            if terminated or truncated:
                break
    return returns


# ------------------------------------------------------------------------- helpers
def _time_limit(env: gym.Env, max_episode_steps: int | None) -> int | None:
    if max_episode_steps is None:
        return None
    return check_int("max_episode_steps", max_episode_steps, 1)


def _make_env(env: gym.Env | str) -> gym.Env:
    if isinstance(env, str):
        import rlhf_edu.envs  # noqa: F401  (registers the rlhf_edu/... ids)

        return gym.make(env)
    return env


def _check_common(env, n_episodes, alpha, gamma, epsilon, seed, epsilon_final, max_episode_steps):
    env = _make_env(env)
    n_states, n_actions = check_discrete_env(env)
    return (
        env,
        n_states,
        n_actions,
        check_n_episodes(n_episodes),
        check_alpha(alpha),
        check_gamma(gamma),
        check_epsilon(epsilon),
        check_seed(seed),
        None if epsilon_final is None else check_epsilon(epsilon_final, "epsilon_final"),
        _time_limit(env, max_episode_steps),
    )


def _use_fast_path(fast: bool, env: gym.Env) -> bool:
    if not fast:
        return False
    return supports_fast_path(env)


# ------------------------------------------------------------------- control loops
def q_learning(
    env: gym.Env | str,
    n_episodes: int,
    alpha: float,
    gamma: float,
    epsilon: float,
    seed: int,
    *,
    epsilon_final: float | None = None,
    max_episode_steps: int | None = None,
    fast: bool = True,
) -> TabularResult:
    """Off-policy TD control: act epsilon-greedily, learn the greedy policy's values.

    Args:
        env: a gymnasium env (or id) with Discrete observation and action spaces.
        n_episodes: training episodes (>= 1).
        alpha: step size in (0, 1].
        gamma: discount in [0, 1].
        epsilon: exploration probability in [0, 1] (the first episode's, if ``epsilon_final``).
        seed: seeds the env (first reset) and the agent's generator.
        epsilon_final: if given, epsilon decays linearly to it over the episodes.
        max_episode_steps: an extra time limit (truncation, bootstrapped) on top of the env's own.
        fast: step the env's MDP arrays directly when the env allows it (gymnasium toy-text and
            ``rlhf_edu/...`` envs), with results identical to this readable loop.
    """
    env, n_states, n_actions, n_episodes, alpha, gamma, epsilon, seed, epsilon_final, limit = (
        _check_common(
            env, n_episodes, alpha, gamma, epsilon, seed, epsilon_final, max_episode_steps
        )
    )
    if _use_fast_path(fast, env):
        return run_fast(
            "q_learning", env, n_episodes, alpha, gamma, epsilon, seed, epsilon_final, limit
        )
    agent_rng = np.random.default_rng((seed, AGENT_STREAM))
    Q = np.zeros((n_states, n_actions))
    returns, lengths = [], []
    for episode in progress(range(n_episodes), desc="q_learning"):
        eps = epsilon_for_episode(epsilon, epsilon_final, episode, n_episodes)
        s, _ = env.reset(seed=seed if episode == 0 else None)
        episode_return, t = 0.0, 0
        while True:
            a = epsilon_greedy(Q[s], eps, agent_rng)
            s_next, r, terminated, truncated, _ = env.step(a)
            t += 1
            truncated = truncated or (limit is not None and t >= limit)
            q_learning_update(Q, s, a, r, s_next, terminated, alpha, gamma)
            episode_return += r
            if terminated or truncated:
                break
            s = s_next
        returns.append(episode_return)
        lengths.append(t)
    return tabular_result(Q, returns, lengths)


def sarsa(
    env: gym.Env | str,
    n_episodes: int,
    alpha: float,
    gamma: float,
    epsilon: float,
    seed: int,
    *,
    epsilon_final: float | None = None,
    max_episode_steps: int | None = None,
    fast: bool = True,
) -> TabularResult:
    """On-policy TD control: the target uses the next action the epsilon-greedy policy takes.

    Arguments as in ``q_learning``. The next action is chosen *before* the update (it is part of
    the target) and then taken, so SARSA learns the value of the exploring policy itself.
    """
    env, n_states, n_actions, n_episodes, alpha, gamma, epsilon, seed, epsilon_final, limit = (
        _check_common(
            env, n_episodes, alpha, gamma, epsilon, seed, epsilon_final, max_episode_steps
        )
    )
    if _use_fast_path(fast, env):
        return run_fast("sarsa", env, n_episodes, alpha, gamma, epsilon, seed, epsilon_final, limit)
    agent_rng = np.random.default_rng((seed, AGENT_STREAM))
    Q = np.zeros((n_states, n_actions))
    returns, lengths = [], []
    for episode in progress(range(n_episodes), desc="sarsa"):
        eps = epsilon_for_episode(epsilon, epsilon_final, episode, n_episodes)
        s, _ = env.reset(seed=seed if episode == 0 else None)
        a = epsilon_greedy(Q[s], eps, agent_rng)
        episode_return, t = 0.0, 0
        while True:
            s_next, r, terminated, truncated, _ = env.step(a)
            t += 1
            truncated = truncated or (limit is not None and t >= limit)
            episode_return += r
            if terminated:
                sarsa_update(Q, s, a, r, s_next, 0, True, alpha, gamma)
                break
            a_next = epsilon_greedy(Q[s_next], eps, agent_rng)
            sarsa_update(Q, s, a, r, s_next, a_next, False, alpha, gamma)
            if truncated:
                break
            s, a = s_next, a_next
        returns.append(episode_return)
        lengths.append(t)
    return tabular_result(Q, returns, lengths)


def expected_sarsa(
    env: gym.Env | str,
    n_episodes: int,
    alpha: float,
    gamma: float,
    epsilon: float,
    seed: int,
    *,
    epsilon_final: float | None = None,
    max_episode_steps: int | None = None,
    fast: bool = True,
) -> TabularResult:
    """Expected SARSA: the target is the epsilon-greedy policy's expectation of ``Q[s_next]``.

    Arguments as in ``q_learning``.
    """
    env, n_states, n_actions, n_episodes, alpha, gamma, epsilon, seed, epsilon_final, limit = (
        _check_common(
            env, n_episodes, alpha, gamma, epsilon, seed, epsilon_final, max_episode_steps
        )
    )
    if _use_fast_path(fast, env):
        return run_fast(
            "expected_sarsa", env, n_episodes, alpha, gamma, epsilon, seed, epsilon_final, limit
        )
    agent_rng = np.random.default_rng((seed, AGENT_STREAM))
    Q = np.zeros((n_states, n_actions))
    returns, lengths = [], []
    for episode in progress(range(n_episodes), desc="expected_sarsa"):
        eps = epsilon_for_episode(epsilon, epsilon_final, episode, n_episodes)
        s, _ = env.reset(seed=seed if episode == 0 else None)
        episode_return, t = 0.0, 0
        while True:
            a = epsilon_greedy(Q[s], eps, agent_rng)
            s_next, r, terminated, truncated, _ = env.step(a)
            t += 1
            truncated = truncated or (limit is not None and t >= limit)
            expected_sarsa_update(Q, s, a, r, s_next, terminated, alpha, gamma, eps)
            episode_return += r
            if terminated or truncated:
                break
            s = s_next
        returns.append(episode_return)
        lengths.append(t)
    return tabular_result(Q, returns, lengths)


def double_q_learning(
    env: gym.Env | str,
    n_episodes: int,
    alpha: float,
    gamma: float,
    epsilon: float,
    seed: int,
    *,
    epsilon_final: float | None = None,
    max_episode_steps: int | None = None,
    fast: bool = True,
) -> TabularResult:
    """Double Q-learning: two tables, act epsilon-greedily on ``Q1 + Q2``, update one at random.

    Arguments as in ``q_learning``. The returned ``Q`` is ``(Q1 + Q2) / 2``.
    """
    env, n_states, n_actions, n_episodes, alpha, gamma, epsilon, seed, epsilon_final, limit = (
        _check_common(
            env, n_episodes, alpha, gamma, epsilon, seed, epsilon_final, max_episode_steps
        )
    )
    if _use_fast_path(fast, env):
        return run_fast(
            "double_q_learning", env, n_episodes, alpha, gamma, epsilon, seed, epsilon_final, limit
        )
    agent_rng = np.random.default_rng((seed, AGENT_STREAM))
    Q1 = np.zeros((n_states, n_actions))
    Q2 = np.zeros((n_states, n_actions))
    returns, lengths = [], []
    for episode in progress(range(n_episodes), desc="double_q_learning"):
        eps = epsilon_for_episode(epsilon, epsilon_final, episode, n_episodes)
        s, _ = env.reset(seed=seed if episode == 0 else None)
        episode_return, t = 0.0, 0
        while True:
            a = epsilon_greedy(Q1[s] + Q2[s], eps, agent_rng)
            s_next, r, terminated, truncated, _ = env.step(a)
            t += 1
            truncated = truncated or (limit is not None and t >= limit)
            update_first = agent_rng.random() < 0.5  # a fair coin picks the table to update
            double_q_update(Q1, Q2, s, a, r, s_next, terminated, alpha, gamma, update_first)
            episode_return += r
            if terminated or truncated:
                break
            s = s_next
        returns.append(episode_return)
        lengths.append(t)
    return tabular_result((Q1 + Q2) / 2, returns, lengths)


def double_q_control(
    env: gym.Env, n_episodes: int, alpha: float, gamma: float, epsilon: float, seed: int
) -> TabularResult:
    """Double Q-learning's training loop (Sutton & Barto, Section 6.7; module 03's exercise 3.9).

    ``Q1 = Q2 = 0``; one ``agent_rng = np.random.default_rng((seed, AGENT_STREAM))``; episode 0
    resets with ``seed``, later ones with ``None``; each step acts with
    ``epsilon_greedy(Q1[s] + Q2[s], epsilon, agent_rng)``, then one coin
    ``agent_rng.random() < 0.5`` picks the table that ``double_q_update`` changes. Returns
    ``tabular_result((Q1 + Q2) / 2, returns, lengths)``: ``double_q_learning(env, n_episodes,
    alpha, gamma, epsilon, seed, fast=False)``, number for number.
    """
    return double_q_learning(env, n_episodes, alpha, gamma, epsilon, seed, fast=False)


# ------------------------------------------------------------------------ prediction
def td0(
    env: gym.Env | str,
    policy: np.ndarray,
    n_episodes: int,
    alpha: float,
    gamma: float,
    seed: int,
    *,
    max_episode_steps: int | None = None,
) -> np.ndarray:
    """TD(0) prediction of ``V`` for a fixed stochastic ``policy[s, a]``; returns V, shape (S,)."""
    from rlhf_edu.envs.mdp import check_policy

    env = _make_env(env)
    n_states, n_actions = check_discrete_env(env)
    policy = check_policy(policy, n_states, n_actions)
    n_episodes, alpha, gamma = check_n_episodes(n_episodes), check_alpha(alpha), check_gamma(gamma)
    seed = check_seed(seed)
    limit = _time_limit(env, max_episode_steps)
    agent_rng = np.random.default_rng((seed, AGENT_STREAM))
    cumulative = np.cumsum(policy, axis=1)
    V = np.zeros(n_states)
    for episode in progress(range(n_episodes), desc="td0"):
        s, _ = env.reset(seed=seed if episode == 0 else None)
        t = 0
        while True:
            a = min(
                int(np.searchsorted(cumulative[s], agent_rng.random(), side="right")), n_actions - 1
            )
            s_next, r, terminated, truncated, _ = env.step(a)
            t += 1
            td0_update(V, s, r, s_next, terminated, alpha, gamma)
            if terminated or truncated or (limit is not None and t >= limit):
                break
            s = s_next
    return V


__all__ = [
    "AGENT_STREAM",
    "TabularResult",
    "check_rng",
    "double_q_control",
    "double_q_learning",
    "double_q_update",
    "epsilon_for_episode",
    "epsilon_greedy",
    "epsilon_greedy_probabilities",
    "expected_sarsa",
    "expected_sarsa_episode",
    "expected_sarsa_update",
    "policy_returns",
    "q_learning",
    "q_learning_episode",
    "q_learning_update",
    "sarsa",
    "sarsa_episode",
    "sarsa_update",
    "td0",
    "td0_update",
    "td_control",
    "train_q_learning",
]
