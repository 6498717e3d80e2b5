"""Bandit agents (Sutton & Barto, Chapter 2).

Action-value methods keep an estimate ``Q(a)`` of each arm's mean reward:

    sample average:   N(a) <- N(a) + 1;  Q(a) <- Q(a) + (R - Q(a)) / N(a)
    constant step:    Q(a) <- Q(a) + alpha * (R - Q(a))     (tracks a changing bandit)

and choose epsilon-greedily (optimistic initial values ``Q_1(a) = 5`` make even a greedy agent
explore), or by the upper confidence bound

    A_t = argmax_a [ Q(a) + c * sqrt(ln t / N(a)) ]          (an untried arm counts as maximal).

The gradient bandit keeps preferences ``H(a)``, acts with ``pi = softmax(H)`` and climbs the
expected reward:  ``H(a) <- H(a) + alpha * (R - baseline) * (1[a = A_t] - pi(a))``.

``bandit_testbed_loop`` runs an action-value agent on ``n_runs`` bandit problems at once (vectorised
over runs): the agent is an action-selection rule ``select_actions(Q, N, t, rng)``
(``epsilon_greedy_actions`` or ``ucb_actions``) plus the update ``update_action_values``; that is
how Figure 2.2's 2000 runs x 1000 steps take about a second. ``run_testbed`` names a method and
its settings and also runs the gradient bandit.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rlhf_edu.core.exploration import epsilon_greedy_rows, maybe_explore
from rlhf_edu.envs.bandits import BanditTestbed
from rlhf_edu.tabular.checks import check_alpha, check_epsilon, check_n_episodes, check_rng
from rlhf_edu.utils.seeding import check_seed

BANDIT_METHODS = ("epsilon_greedy", "ucb", "gradient")


# --------------------------------------------------------------------- pure pieces
def sample_average_update(Q: np.ndarray, N: np.ndarray, a: int, r: float) -> None:
    """Incremental sample average, in place: ``N[a] += 1; Q[a] += (r - Q[a]) / N[a]``."""
    N[a] += 1
    Q[a] += (r - Q[a]) / N[a]


def ucb_action(Q: np.ndarray, N: np.ndarray, t: int, c: float) -> int:
    """Upper-confidence-bound choice at step ``t`` (1-based): untried arms first (lowest index),
    else ``argmax_a Q[a] + c * sqrt(ln t / N[a])`` (first index on ties)."""
    untried = np.flatnonzero(N == 0)
    if untried.size:
        return int(untried[0])
    upper_bounds = Q + c * np.sqrt(np.log(t) / N)
    return int(np.argmax(upper_bounds))


def softmax(H: np.ndarray) -> np.ndarray:
    """``exp(H) / sum exp(H)`` along the last axis, computed stably."""
    z = np.exp(H - np.max(H, axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def gradient_bandit_update(H: np.ndarray, a: int, r: float, baseline: float, alpha: float) -> None:
    """Gradient-bandit step, in place: ``H += alpha * (r - baseline) * (one_hot(a) - softmax(H))``."""
    pi = softmax(H)
    one_hot = np.zeros_like(H)
    one_hot[a] = 1.0
    H += alpha * (r - baseline) * (one_hot - pi)


# ----------------------------------------------------- pure pieces, vectorised over runs
def epsilon_greedy_actions(Q: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
    """An epsilon-greedy arm for every run: ``Q`` (n_runs, k) -> actions (n_runs,) of ints.

    Draws, in this order (so a seeded run repeats draw for draw): ``rng.random((n_runs, k))`` to
    break ties among each row's maxima at random (the greedy arm is the maximal entry with the
    largest draw), ``rng.random(n_runs) < epsilon`` to decide who explores, and
    ``rng.integers(k, size=n_runs)`` for the explorers' arms.
    """
    return epsilon_greedy_rows(np.asarray(Q), epsilon, rng)


def ucb_actions(Q: np.ndarray, N: np.ndarray, t: int, c: float) -> np.ndarray:
    """The UCB arm for every run at step ``t`` (1-based): ``Q``, ``N`` (n_runs, k) -> (n_runs,).

    ``argmax_a Q[a] + c * sqrt(ln t / N[a])`` per row, with untried arms (``N = 0``) maximal, so
    each row takes its lowest-numbered untried arm first, like ``ucb_action`` (S&B eq. 2.10).
    """
    Q, N = np.asarray(Q, dtype=np.float64), np.asarray(N, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        upper_bounds = Q + c * np.sqrt(np.log(t) / N)
    upper_bounds[N == 0] = np.inf  # untried arms are maximal
    return np.argmax(upper_bounds, axis=1)


def update_action_values(
    Q: np.ndarray, N: np.ndarray, actions: np.ndarray, rewards: np.ndarray, alpha: float | None
) -> None:
    """In place, one pull per run: ``N[i, A_i] += 1``, ``Q[i, A_i] += step * (R_i - Q[i, A_i])``.

    ``step = 1 / N[i, A_i]`` (sample average, S&B eq. 2.3) when ``alpha`` is None, else ``alpha``
    (constant step, eq. 2.5). ``Q``, ``N``: (n_runs, k); ``actions``, ``rewards``: (n_runs,).
    """
    runs = np.arange(Q.shape[0])
    N[runs, actions] += 1
    step = 1.0 / N[runs, actions] if alpha is None else alpha
    Q[runs, actions] += step * (rewards - Q[runs, actions])


def bandit_testbed_loop(
    select_actions: Callable[[np.ndarray, np.ndarray, int, np.random.Generator], np.ndarray],
    n_runs: int,
    n_steps: int,
    seed: int,
    *,
    k: int = 10,
    initial_value: float = 0.0,
    alpha: float | None = None,
    q_star_mean: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """An action-value agent on ``n_runs`` testbed problems for ``n_steps`` steps (Figure 2.2).

    The problems are ``BanditTestbed(k=k, n_runs=n_runs, seed=seed, mean=q_star_mean)``; the
    agent's random numbers come from one generator ``rng = np.random.default_rng((seed, 1))``.
    ``Q`` starts at ``initial_value`` and ``N`` at 0, both (n_runs, k). At each step
    ``t = 1, ..., n_steps``: ``actions = select_actions(Q, N, t, rng)``,
    ``rewards = testbed.pull(actions)`` (``rewards[i]`` is R_t of run i), then
    ``update_action_values(Q, N, actions, rewards, alpha)``.

    Returns:
        ``(average_reward, optimal_fraction)``, each shape (n_steps,): the reward averaged over
        runs at each step, and the fraction of runs whose action was the true best arm.
    """
    testbed = BanditTestbed(k=k, n_runs=n_runs, seed=seed, mean=q_star_mean)
    rng = np.random.default_rng((seed, 1))
    Q = np.full((n_runs, k), float(initial_value))  # (n_runs, k)
    N = np.zeros((n_runs, k))
    average_reward = np.zeros(n_steps)
    optimal_fraction = np.zeros(n_steps)
    for t in range(n_steps):
        actions = select_actions(Q, N, t + 1, rng)  # (n_runs,)
        rewards = testbed.pull(actions)  # (n_runs,)
        update_action_values(Q, N, actions, rewards, alpha)
        average_reward[t] = rewards.mean()
        optimal_fraction[t] = np.mean(actions == testbed.optimal_action)
    return average_reward, optimal_fraction


# ------------------------------------------------------------------ one agent, one bandit
class EpsilonGreedyAgent:
    """Epsilon-greedy with sample averages (``alpha=None``) or a constant step, optional optimism."""

    def __init__(
        self,
        k: int,
        epsilon: float,
        seed: int,
        initial_value: float = 0.0,
        alpha: float | None = None,
    ):
        self.k = check_n_episodes(k, "k")
        self.epsilon = check_epsilon(epsilon)
        self.alpha = None if alpha is None else check_alpha(alpha)
        self.rng = np.random.default_rng(check_seed(seed))
        self.Q = np.full(self.k, float(initial_value))
        self.N = np.zeros(self.k)

    def act(self) -> int:
        explore = maybe_explore(self.epsilon, self.k, self.rng)
        if explore is not None:
            return explore
        best = np.flatnonzero(self.Q == self.Q.max())
        return int(self.rng.choice(best))

    def update(self, a: int, r: float) -> None:
        if self.alpha is None:
            sample_average_update(self.Q, self.N, a, r)
        else:
            self.N[a] += 1
            self.Q[a] += self.alpha * (r - self.Q[a])


class UCBAgent:
    """Upper-confidence-bound action selection with sample averages."""

    def __init__(self, k: int, c: float, seed: int = 0):
        self.k = check_n_episodes(k, "k")
        if not c >= 0:
            raise ValueError(f"c must be >= 0, got {c}")
        self.c = float(c)
        self.Q, self.N, self.t = np.zeros(self.k), np.zeros(self.k), 0

    def act(self) -> int:
        self.t += 1
        return ucb_action(self.Q, self.N, self.t, self.c)

    def update(self, a: int, r: float) -> None:
        sample_average_update(self.Q, self.N, a, r)


class GradientBanditAgent:
    """Softmax over preferences; the baseline is the running average reward (or 0)."""

    def __init__(self, k: int, alpha: float, seed: int, baseline: bool = True):
        self.k = check_n_episodes(k, "k")
        self.alpha = check_alpha(alpha)
        self.use_baseline = bool(baseline)
        self.rng = np.random.default_rng(check_seed(seed))
        self.H = np.zeros(self.k)
        self.average_reward, self.t = 0.0, 0

    def act(self) -> int:
        return int(self.rng.choice(self.k, p=softmax(self.H)))

    def update(self, a: int, r: float) -> None:
        self.t += 1
        self.average_reward += (r - self.average_reward) / self.t
        baseline = self.average_reward if self.use_baseline else 0.0
        gradient_bandit_update(self.H, a, r, baseline, self.alpha)


# ------------------------------------------------------------- many runs at once
def run_testbed(
    method: str,
    n_runs: int,
    n_steps: int,
    seed: int,
    *,
    k: int = 10,
    epsilon: float = 0.1,
    initial_value: float = 0.0,
    alpha: float | None = None,
    c: float = 2.0,
    baseline: bool = True,
    q_star_mean: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Average reward and fraction of optimal actions per step over ``n_runs`` testbed problems.

    Args:
        method: "epsilon_greedy" (``epsilon``, ``initial_value``, ``alpha=None`` for sample
            averages), "ucb" (``c``) or "gradient" (``alpha``, ``baseline``).
        n_runs, n_steps: the figure's runs and steps (>= 1).
        seed: one seed for the problems and the agents' choices.
        q_star_mean: mean of the true values (Figure 2.5 uses +4 for the gradient bandit).

    Returns:
        ``(average_reward, optimal_fraction)``, each shape (n_steps,).
    """
    if method not in BANDIT_METHODS:
        raise ValueError(f"method must be one of {BANDIT_METHODS}, got {method!r}")
    n_runs, n_steps = check_n_episodes(n_runs, "n_runs"), check_n_episodes(n_steps, "n_steps")
    epsilon = check_epsilon(epsilon)
    seed = check_seed(seed)
    if alpha is not None:
        alpha = check_alpha(alpha)
    if method == "gradient" and alpha is None:
        raise ValueError("alpha must be given (in (0, 1]) for the gradient bandit")
    if method == "epsilon_greedy":
        return bandit_testbed_loop(
            lambda Q, N, t, rng: epsilon_greedy_actions(Q, epsilon, rng),
            n_runs, n_steps, seed, k=k, initial_value=initial_value, alpha=alpha,
            q_star_mean=q_star_mean,
        )  # fmt: skip
    if method == "ucb":
        return bandit_testbed_loop(
            lambda Q, N, t, rng: ucb_actions(Q, N, t, c),
            n_runs, n_steps, seed, k=k, initial_value=initial_value, alpha=alpha,
            q_star_mean=q_star_mean,
        )  # fmt: skip
    testbed = BanditTestbed(k=k, n_runs=n_runs, seed=seed, mean=q_star_mean)
    rng = np.random.default_rng((seed, 1))
    runs = np.arange(n_runs)
    H = np.zeros((n_runs, k))  # preferences
    average_reward_so_far = np.zeros(n_runs)
    mean_reward = np.zeros(n_steps)
    optimal_fraction = np.zeros(n_steps)
    for t in range(n_steps):
        pi = softmax(H)  # (n_runs, k)
        actions = (pi.cumsum(axis=1) > rng.random((n_runs, 1))).argmax(axis=1)
        rewards = testbed.pull(actions)  # (n_runs,)
        average_reward_so_far += (rewards - average_reward_so_far) / (t + 1)
        baseline_value = average_reward_so_far if baseline else 0.0
        one_hot = np.zeros((n_runs, k))
        one_hot[runs, actions] = 1.0
        H += alpha * (rewards - baseline_value)[:, None] * (one_hot - pi)
        mean_reward[t] = rewards.mean()
        optimal_fraction[t] = np.mean(actions == testbed.optimal_action)
    return mean_reward, optimal_fraction


def gradient_bandit_testbed(
    n_runs: int,
    n_steps: int,
    seed: int,
    alpha: float,
    baseline: bool,
    *,
    k: int = 10,
    q_star_mean: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """The gradient bandit on the testbed, vectorised over runs (S&B Section 2.8, Figure 2.5).

    ``H = 0`` of shape (n_runs, k); the problems ``BanditTestbed(k, n_runs, seed, q_star_mean)``;
    the agent's generator ``default_rng((seed, 1))``. Each step: ``pi = softmax(H)``; each run's
    arm is the first whose cumulative probability exceeds one uniform ``rng.random((n_runs, 1))``;
    the baseline is each run's average reward so far, this step's reward included (0 without a
    baseline); every arm moves by ``alpha * (R - baseline) * (1[a = A] - pi(a))`` (S&B eq. 2.12).
    ``run_testbed("gradient", ...)``, number for number.

    Returns:
        ``(average_reward, optimal_fraction)``, each shape (n_steps,).
    """
    return run_testbed(
        "gradient", n_runs, n_steps, seed, k=k, alpha=alpha, baseline=baseline,
        q_star_mean=q_star_mean,
    )  # fmt: skip


__all__ = [
    "BANDIT_METHODS",
    "EpsilonGreedyAgent",
    "GradientBanditAgent",
    "UCBAgent",
    "check_rng",
    "epsilon_greedy_actions",
    "gradient_bandit_testbed",
    "gradient_bandit_update",
    "run_testbed",
    "sample_average_update",
    "softmax",
    "bandit_testbed_loop",
    "ucb_action",
    "ucb_actions",
    "update_action_values",
]
