"""The k-armed bandit testbed of Sutton & Barto Section 2.3.

Each of ``k`` arms has a true value ``q*(a) ~ N(0, 1)``; pulling arm ``a`` pays a reward
``R ~ N(q*(a), 1)``. ``BanditTestbed`` holds ``n_runs`` independent bandit problems side by side
(one row each), so a whole figure's worth of runs can be stepped with one numpy call.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from rlhf_edu.utils.seeding import check_seed
from rlhf_edu.utils.validation import check_int


class BanditTestbed:
    """``n_runs`` independent k-armed Gaussian bandits.

    Attributes:
        q_star: true action values, shape (n_runs, k).
        optimal_action: ``argmax_a q_star``, shape (n_runs,).
    """

    def __init__(
        self,
        k: int = 10,
        n_runs: int = 1,
        seed: int = 0,
        mean: float = 0.0,
        reward_std: float = 1.0,
    ):
        self.k = check_int("k", k, 1)
        self.n_runs = check_int("n_runs", n_runs, 1)
        if reward_std < 0:
            raise ValueError(f"reward_std must be >= 0, got {reward_std}")
        self.rng = np.random.default_rng(check_seed(seed))
        self.q_star = self.rng.normal(mean, 1.0, size=(self.n_runs, self.k))  # (n_runs, k)
        self.optimal_action = self.q_star.argmax(axis=1)  # (n_runs,)
        self.reward_std = float(reward_std)

    def pull(self, actions: np.ndarray) -> np.ndarray:
        """Rewards for one pull in every run: ``actions`` has shape (n_runs,) of ints in [0, k)."""
        actions = np.asarray(actions)
        if actions.shape != (self.n_runs,):
            raise ValueError(f"actions must have shape ({self.n_runs},), got {actions.shape}")
        if actions.size and (actions.min() < 0 or actions.max() >= self.k):
            raise ValueError(f"actions must be in [0, {self.k})")
        means = self.q_star[np.arange(self.n_runs), actions]
        return means + self.reward_std * self.rng.standard_normal(self.n_runs)


class KArmedBanditEnv(gym.Env):
    """One k-armed bandit as a gymnasium env: a single state (observation 0), episodes of one pull.

    ``reset(seed=...)`` draws new true values ``q*`` only when ``resample_on_reset`` is True;
    otherwise they are drawn once, from ``problem_seed``.
    """

    metadata = {"render_modes": []}

    def __init__(self, k: int = 10, problem_seed: int = 0, resample_on_reset: bool = False):
        self.k = check_int("k", k, 1)
        self.observation_space = gym.spaces.Discrete(1)
        self.action_space = gym.spaces.Discrete(self.k)
        self.resample_on_reset = bool(resample_on_reset)
        self.q_star = np.random.default_rng(check_seed(problem_seed, "problem_seed")).normal(
            size=self.k
        )

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if self.resample_on_reset:
            self.q_star = self.np_random.normal(size=self.k)
        return 0, {"optimal_action": int(self.q_star.argmax())}

    def step(self, action: int):
        a = int(action)
        if not 0 <= a < self.k:
            raise ValueError(f"action must be in [0, {self.k}), got {action!r}")
        reward = float(self.q_star[a] + self.np_random.standard_normal())
        return 0, reward, True, False, {"optimal_action": int(self.q_star.argmax())}
