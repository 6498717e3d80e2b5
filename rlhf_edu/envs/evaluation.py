"""Estimating how good a policy is by running it: the Monte Carlo idea in its simplest form.

The success rate of a policy is the probability that an episode ends with a positive reward
(reaching the goal in FrozenLake). Running ``n`` independent episodes and averaging the
indicator gives an unbiased estimate whose standard error is ``sqrt(p (1 - p) / n)``.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np

from rlhf_edu.utils.seeding import check_seed
from rlhf_edu.utils.validation import check_int


def estimate_success_rate(
    env: gym.Env, policy: Callable[[int], int], n_episodes: int, seed: int
) -> float:
    """Fraction of ``n_episodes`` episodes that end with a positive reward.

    Episode ``i`` is reset with ``seed + i``, so the estimate is repeatable.

    Args:
        env: a gymnasium environment (its time limit, if any, ends an episode too).
        policy: maps an observation to an action.
        n_episodes: how many episodes to average over (>= 1).
        seed: the first episode's reset seed.
    """
    n_episodes = check_int("n_episodes", n_episodes, 1)
    seed = check_seed(seed)
    successes = 0
    for episode in range(n_episodes):
        observation, _ = env.reset(seed=seed + episode)
        done = False
        reward = 0.0
        while not done:
            observation, reward, terminated, truncated, _ = env.step(policy(observation))
            done = terminated or truncated
        successes += reward > 0
    return successes / n_episodes


def random_policy(env: gym.Env, seed: int) -> Callable[[int], int]:
    """A policy that picks uniformly random actions from its own seeded generator."""
    if not isinstance(env.action_space, gym.spaces.Discrete):
        raise TypeError(
            f"random_policy needs a Discrete action space, got {type(env.action_space).__name__}"
        )
    rng = np.random.default_rng(check_seed(seed))
    n_actions = int(env.action_space.n)
    return lambda observation: int(rng.integers(n_actions))
