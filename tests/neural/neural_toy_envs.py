"""Toy environments whose values are known, for testing episode-end handling (registered in conftest)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class CounterEnv(gym.Env):
    """Observation = steps taken so far; reward 1 per step; terminates at ``terminate_at`` if set.

    Wrapped in a 3-step time limit, an episode that does not terminate is *truncated* at obs 3.
    """

    def __init__(self, terminate_at: int | None = None, nan_after: int | None = None):
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.terminate_at = terminate_at
        self.nan_after = nan_after
        self.t = 0
        self.total_steps = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        self.total_steps += 1
        reward = 1.0
        if self.nan_after is not None and self.total_steps > self.nan_after:
            reward = float("nan")
        terminated = self.terminate_at is not None and self.t >= self.terminate_at
        return np.array([float(self.t)], dtype=np.float32), reward, terminated, False, {}


class ImageEnv(gym.Env):
    observation_space = gym.spaces.Box(0, 255, (8, 8, 3), np.uint8)
    action_space = gym.spaces.Discrete(2)


class ContinuousEnv(gym.Env):
    observation_space = gym.spaces.Box(-1, 1, (3,), np.float32)
    action_space = gym.spaces.Box(-1, 1, (1,), np.float32)
