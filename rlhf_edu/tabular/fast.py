"""The fast path: the same TD control loops as ``rlhf_edu.tabular.td``, stepping the MDP's tables.

Nothing about the algorithm changes; only the overhead goes. ``td.py``'s readable loops call
``env.step`` through gymnasium's wrappers and index numpy arrays one scalar at a time, which costs
microseconds per step in Python. Here, for envs whose dynamics are a known table (gymnasium's
FrozenLake, CliffWalking and Taxi, and the ``rlhf_edu/...`` envs), each step is done with plain
Python objects:

- ``Q`` is a list of lists of Python floats (numpy scalar indexing is ~10x slower);
- the env's outcomes ``(next_state, reward, terminated)`` and their cumulative probabilities are
  precomputed per (s, a), and the outcome is found by bisection, exactly as gymnasium's
  ``categorical_sample`` does (``argmax(cumsum(p) > u)``);
- random numbers are drawn from the same generators in blocks and read one at a time.

Identical results: the env's generator is seeded as ``env.reset(seed=seed)`` seeds it, the agent's
as in ``td.py``, and both paths consume the same uniforms in the same order (one per env reset,
one per env step, plus one for a noisy reward; two per action choice, one per Double-Q coin).
Floating-point operations are the same IEEE operations in the same order, so the Q tables match
bit for bit (``tests/tabular/test_fast_path.py``). The fast path does not advance ``env`` itself.
"""

from __future__ import annotations

import bisect
import weakref
from collections.abc import Callable, Iterator

import gymnasium as gym
import numpy as np
from gymnasium.envs.toy_text.cliffwalking import CliffWalkingEnv
from gymnasium.envs.toy_text.frozen_lake import FrozenLakeEnv
from gymnasium.envs.toy_text.taxi import TaxiEnv
from gymnasium.wrappers import OrderEnforcing, PassiveEnvChecker, TimeLimit

from rlhf_edu.core.exploration import epsilon_for_episode, epsilon_greedy_choice
from rlhf_edu.envs.mdp import TabularMDP
from rlhf_edu.envs.tabular_env import TabularEnv, gaussian_from_uniform
from rlhf_edu.tabular.result import AGENT_STREAM, TabularResult, tabular_result
from rlhf_edu.utils.progress import progress

_BLOCK = 4096
_FAST_ENVS = (FrozenLakeEnv, CliffWalkingEnv, TaxiEnv, TabularEnv)
_TRANSPARENT_WRAPPERS = (TimeLimit, OrderEnforcing, PassiveEnvChecker)


def uniform_stream(rng: np.random.Generator) -> Callable[[], float]:
    """``next_u()`` returning ``rng.random()``'s values one by one, drawn in blocks (same values)."""

    def blocks() -> Iterator[float]:
        while True:
            yield from rng.random(_BLOCK).tolist()

    return blocks().__next__


def _wrapper_chain(env: gym.Env) -> tuple[list[gym.Wrapper], gym.Env]:
    wrappers = []
    while isinstance(env, gym.Wrapper):
        wrappers.append(env)
        env = env.env
    return wrappers, env


def supports_fast_path(env: gym.Env) -> bool:
    """True for toy-text style envs whose only wrappers are gymnasium's standard ones."""
    wrappers, base = _wrapper_chain(env)
    if not isinstance(base, _FAST_ENVS) or getattr(base, "render_mode", None) is not None:
        return False
    if isinstance(base, TaxiEnv) and getattr(base, "fickle_passenger", False):
        return False
    return all(type(w) in _TRANSPARENT_WRAPPERS for w in wrappers)


def env_time_limit(env: gym.Env) -> int | None:
    """The smallest ``TimeLimit`` wrapping ``env``, or None."""
    limits = [w._max_episode_steps for w in _wrapper_chain(env)[0] if isinstance(w, TimeLimit)]
    return min(limits) if limits else None


class StepTables:
    """Per-(s, a) outcome tables of an MDP as plain Python lists, for fast sampling."""

    def __init__(self, mdp: TabularMDP):
        self.n_states, self.n_actions = mdp.n_states, mdp.n_actions
        self.initial_cumulative = np.cumsum(mdp.initial).tolist()
        self.cumulative = []  # [s][a] -> list of cumulative probabilities
        self.outcomes = []  # [s][a] -> list of (next_state, reward, terminated)
        for row in mdp.transitions:
            self.cumulative.append([np.cumsum([o[0] for o in outs]).tolist() for outs in row])
            self.outcomes.append(
                [[(int(o[1]), float(o[2]), bool(o[3])) for o in outs] for outs in row]
            )
        self.reward_std = None
        if mdp.reward_std is not None and np.any(mdp.reward_std > 0):
            self.reward_std = mdp.reward_std.tolist()


_TABLE_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def step_tables(env: gym.Env) -> StepTables:
    """The (cached) ``StepTables`` of a supported env."""
    base = env.unwrapped
    tables = _TABLE_CACHE.get(base)
    if tables is None:
        tables = StepTables(TabularMDP.from_gymnasium(env))
        _TABLE_CACHE[base] = tables
    return tables


def _sample(cumulative: list[float], u: float) -> int:
    if len(cumulative) == 1:
        return 0
    i = bisect.bisect_right(cumulative, u)
    return i if i < len(cumulative) else 0


def run_fast(
    method: str,
    env: gym.Env,
    n_episodes: int,
    alpha: float,
    gamma: float,
    epsilon: float,
    seed: int,
    epsilon_final: float | None,
    limit: int | None,
) -> TabularResult:
    """Run ``method`` ("q_learning", "sarsa", "expected_sarsa", "double_q_learning") on tables.

    Arguments are already validated by the caller in ``td.py``.
    """
    tables = step_tables(env)
    limits = [x for x in (env_time_limit(env), limit) if x is not None]
    time_limit = min(limits) if limits else None
    env_u = uniform_stream(np.random.default_rng(seed))  # = env.reset(seed=seed)'s np_random
    agent_u = uniform_stream(np.random.default_rng((seed, AGENT_STREAM)))
    loop = {
        "q_learning": _td_loop,
        "sarsa": _sarsa_loop,
        "expected_sarsa": _td_loop,
        "double_q_learning": _double_q_loop,
    }[method]
    Q, returns, lengths = loop(
        method, tables, n_episodes, alpha, gamma, epsilon, epsilon_final, time_limit, env_u, agent_u
    )

    return tabular_result(np.array(Q, dtype=np.float64), returns, lengths)


def _choose(row: list[float], eps: float, agent_u: Callable[[], float]) -> int:
    """``epsilon_greedy`` on a list row, drawing the same two uniforms in the same order."""
    u_explore = agent_u()
    return epsilon_greedy_choice(row, eps, u_explore, agent_u())


def _env_step(
    tables: StepTables, s: int, a: int, env_u: Callable[[], float]
) -> tuple[int, float, bool]:
    s_next, r, terminated = tables.outcomes[s][a][_sample(tables.cumulative[s][a], env_u())]
    if tables.reward_std is not None and tables.reward_std[s][a] > 0:
        r += tables.reward_std[s][a] * gaussian_from_uniform(env_u())
    return s_next, r, terminated


def _td_loop(
    method, tables, n_episodes, alpha, gamma, epsilon, epsilon_final, time_limit, env_u, agent_u
):
    n_actions = tables.n_actions
    Q = [[0.0] * n_actions for _ in range(tables.n_states)]
    expected = method == "expected_sarsa"
    cumulative, outcomes, noisy = tables.cumulative, tables.outcomes, tables.reward_std is not None
    bisect_right = bisect.bisect_right
    returns, lengths = [], []
    for episode in progress(range(n_episodes), desc=method):
        eps = epsilon_for_episode(epsilon, epsilon_final, episode, n_episodes)
        s = _sample(tables.initial_cumulative, env_u())
        episode_return, t = 0.0, 0
        while True:
            row = Q[s]
            a = epsilon_greedy_choice(row, eps, agent_u(), agent_u())  # u_explore, then u_pick
            # env.step, inlined: one uniform, the first outcome whose cumulative p exceeds it
            cum = cumulative[s][a]
            u = env_u()
            if len(cum) == 1:
                s_next, r, terminated = outcomes[s][a][0]
            else:
                i = bisect_right(cum, u)
                s_next, r, terminated = outcomes[s][a][i if i < len(cum) else 0]
            if noisy and tables.reward_std[s][a] > 0:
                r += tables.reward_std[s][a] * gaussian_from_uniform(env_u())
            t += 1
            if terminated:
                td_target = r + 0.0
            elif expected:
                next_row = Q[s_next]
                best = max(next_row)
                n_greedy = sum(1 for q in next_row if q == best)
                p_explore = eps / n_actions
                p_greedy = p_explore + (1.0 - eps) / n_greedy
                expected_q = 0.0
                for q in next_row:
                    expected_q += (p_greedy if q == best else p_explore) * q
                td_target = r + gamma * expected_q
            else:
                td_target = r + gamma * max(Q[s_next])
            row[a] += alpha * (td_target - row[a])
            episode_return += r
            if terminated or (time_limit is not None and t >= time_limit):
                break
            s = s_next
        returns.append(episode_return)
        lengths.append(t)
    return Q, returns, lengths


def _sarsa_loop(
    method, tables, n_episodes, alpha, gamma, epsilon, epsilon_final, time_limit, env_u, agent_u
):
    n_actions = tables.n_actions
    Q = [[0.0] * n_actions for _ in range(tables.n_states)]
    returns, lengths = [], []
    for episode in progress(range(n_episodes), desc=method):
        eps = epsilon_for_episode(epsilon, epsilon_final, episode, n_episodes)
        s = _sample(tables.initial_cumulative, env_u())
        a = _choose(Q[s], eps, agent_u)
        episode_return, t = 0.0, 0
        while True:
            s_next, r, terminated = _env_step(tables, s, a, env_u)
            t += 1
            episode_return += r
            row = Q[s]
            if terminated:
                row[a] += alpha * (r + 0.0 - row[a])
                break
            a_next = _choose(Q[s_next], eps, agent_u)
            row[a] += alpha * (r + gamma * Q[s_next][a_next] - row[a])
            if time_limit is not None and t >= time_limit:
                break
            s, a = s_next, a_next
        returns.append(episode_return)
        lengths.append(t)
    return Q, returns, lengths


def _double_q_loop(
    method, tables, n_episodes, alpha, gamma, epsilon, epsilon_final, time_limit, env_u, agent_u
):
    n_actions = tables.n_actions
    Q1 = [[0.0] * n_actions for _ in range(tables.n_states)]
    Q2 = [[0.0] * n_actions for _ in range(tables.n_states)]
    returns, lengths = [], []
    for episode in progress(range(n_episodes), desc=method):
        eps = epsilon_for_episode(epsilon, epsilon_final, episode, n_episodes)
        s = _sample(tables.initial_cumulative, env_u())
        episode_return, t = 0.0, 0
        while True:
            q1, q2 = Q1[s], Q2[s]
            a = _choose([q1[i] + q2[i] for i in range(n_actions)], eps, agent_u)
            s_next, r, terminated = _env_step(tables, s, a, env_u)
            t += 1
            select, evaluate = (Q1, Q2) if agent_u() < 0.5 else (Q2, Q1)
            if terminated:
                td_target = r + 0.0
            else:
                next_row = select[s_next]
                a_star = next_row.index(max(next_row))
                td_target = r + gamma * evaluate[s_next][a_star]
            row = select[s]
            row[a] += alpha * (td_target - row[a])
            episode_return += r
            if terminated or (time_limit is not None and t >= time_limit):
                break
            s = s_next
        returns.append(episode_return)
        lengths.append(t)
    Q = [[(x + y) / 2 for x, y in zip(r1, r2)] for r1, r2 in zip(Q1, Q2)]
    return Q, returns, lengths


class FastEnv(gym.Env):
    """A gymnasium-style env (``reset``, ``step``) over a toy-text env's tables, in plain Python.

    For writing your own loop at the fast path's speed: ``FastEnv(gym.make("CliffWalking-v1"))``
    behaves exactly like the env it wraps, time limit included, and draws the same random numbers
    (one uniform per reset and per step, plus one for a noisy reward), so a loop gives the same
    numbers on either. ``reset(seed=s)`` seeds its generator as ``env.reset(seed=s)`` does; a
    ``reset()`` without a seed continues the stream. ``step`` returns
    ``(next_state, reward, terminated, truncated, info)``.
    """

    def __init__(self, env: gym.Env):
        if not supports_fast_path(env):
            raise TypeError(
                "env must be a gymnasium toy-text env (FrozenLake, CliffWalking, Taxi) or an "
                f"rlhf_edu/... tabular env without extra wrappers, got {env}"
            )
        self.tables = step_tables(env)
        self.time_limit = env_time_limit(env)
        self.observation_space = env.observation_space
        self.action_space = env.action_space
        self.spec = env.spec
        self._rng: np.random.Generator | None = None
        self._uniforms: list[float] = []
        self._next = 0
        self._state: int | None = None
        self._elapsed = 0

    def _uniform(self) -> float:
        """The generator's next ``random()`` value (drawn in blocks: the same values, faster)."""
        if self._next >= len(self._uniforms):
            self._uniforms, self._next = self._rng.random(_BLOCK).tolist(), 0
        u = self._uniforms[self._next]
        self._next += 1
        return u

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[int, dict]:
        if seed is not None or self._rng is None:
            self._rng = np.random.default_rng(seed)
            self._uniforms, self._next = [], 0
        self._state = _sample(self.tables.initial_cumulative, self._uniform())
        self._elapsed = 0
        return self._state, {}

    def step(self, action: int) -> tuple[int, float, bool, bool, dict]:
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        tables, s, a = self.tables, self._state, int(action)
        if not 0 <= a < tables.n_actions:
            raise ValueError(f"action must be in [0, {tables.n_actions}), got {action}")
        s_next, r, terminated = tables.outcomes[s][a][
            _sample(tables.cumulative[s][a], self._uniform())
        ]
        if tables.reward_std is not None and tables.reward_std[s][a] > 0:
            r += tables.reward_std[s][a] * gaussian_from_uniform(self._uniform())
        self._elapsed += 1
        truncated = self.time_limit is not None and self._elapsed >= self.time_limit
        self._state = s_next
        return s_next, r, terminated, truncated, {}

    def __repr__(self) -> str:
        name = self.spec.id if self.spec is not None else type(self).__name__
        return f"FastEnv({name})"
