"""Evaluating an agent: the mean undiscounted return of its deterministic (greedy) policy.

Episode ``i`` starts from ``reset(seed=seed + i)``, so two agents evaluated with the same seed face
the same start states. The episodes run side by side in a vector env (one batched forward pass
per step), and each env's first episode is the one that counts.
"""

from __future__ import annotations

import os

import gymnasium as gym
import numpy as np

from rlhf_edu.neural.agent import Agent
from rlhf_edu.utils import check_seed
from rlhf_edu.utils.validation import check_int


def evaluate_episodes(
    agent: Agent, env_id: str, n_episodes: int, seed: int, deterministic: bool = True
) -> np.ndarray:
    """The return of each of ``n_episodes`` evaluation episodes, shape ``(n_episodes,)``."""
    if not isinstance(agent, Agent):
        raise TypeError(f"agent must be an rlhf_edu.neural Agent, got {type(agent).__name__}")
    n_episodes = check_int("n_episodes", n_episodes, 1)
    seed = check_seed(seed)
    envs = gym.vector.SyncVectorEnv(
        [lambda: gym.make(env_id) for _ in range(n_episodes)],
        autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP,
    )
    try:
        obs, _ = envs.reset(seed=seed)
        returns = np.zeros(n_episodes)
        running = np.ones(n_episodes, dtype=bool)
        while running.any():
            actions = agent.act(obs, deterministic=deterministic)
            obs, rewards, terminated, truncated, _ = envs.step(actions)
            returns += np.where(running, rewards, 0.0)
            running &= ~(terminated | truncated)
    finally:
        envs.close()
    return returns


def evaluate(agent: Agent, env_id: str, n_episodes: int = 20, seed: int = 0) -> float:
    """Mean return of ``agent``'s deterministic policy over ``n_episodes`` seeded episodes."""
    return float(evaluate_episodes(agent, env_id, n_episodes, seed).mean())


def render_frame(agent: Agent, env_id: str, seed: int = 0, n_steps: int = 100) -> np.ndarray:
    """An RGB frame after the agent has acted greedily for ``n_steps`` steps (or the episode ended).

    Uses ``render_mode="rgb_array"`` (no window, works on a headless machine).
    """
    seed = check_seed(seed)
    # headless: no display, no sound card (else SDL prints an error on stderr)
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    env = gym.make(env_id, render_mode="rgb_array")
    try:
        obs, _ = env.reset(seed=seed)
        for _ in range(n_steps):
            action = agent.act(np.asarray(obs)[None], deterministic=True)[0]
            obs, _, terminated, truncated, _ = env.step(int(action))
            if terminated or truncated:
                break
        return env.render()
    finally:
        env.close()
