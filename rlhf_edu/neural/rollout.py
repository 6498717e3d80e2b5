"""Collecting experience from gymnasium vector envs, with episode ends handled correctly.

We run ``n_envs`` copies of the env side by side (``gymnasium.vector.SyncVectorEnv``; for tiny envs
like CartPole a single process is faster than subprocesses) in *same-step* autoreset mode: when a
copy's episode ends at step ``t``, ``step`` returns the first observation of its next episode and
puts the true last observation in ``infos["final_obs"]``. Every step is a real transition (no
dummy reset steps), and the final observation is there when we need it.

Two ways an episode ends, and why they differ (Pardo et al. 2018, "Time limits in RL"):

- **terminated**: the MDP reached an absorbing state (the pole fell). Its value is 0; the return
  target is ``r_t``.
- **truncated**: a time limit cut the episode; the state is not special and the return would have
  gone on. The target is ``r_t + gamma * V(s_final)``: we bootstrap from the value of the *true*
  final observation (not the reset observation the env returned).

``bootstrap_truncated`` folds that bootstrap into the reward, after which both kinds of end are a
``done`` that GAE never bootstraps across (``rlhf_edu.core.returns``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from rlhf_edu.neural.networks import ActorCritic
from rlhf_edu.utils.validation import check_int


def make_vec_env(
    env_id: str | Callable[[], gym.Env], n_envs: int, seed: int
) -> gym.vector.SyncVectorEnv:
    """``n_envs`` copies of ``env_id`` (an id, or a function that makes one env), same-step autoreset.

    Env ``i`` is seeded with ``seed + i`` at the first ``reset(seed=seed)``.
    """
    n_envs = check_int("n_envs", n_envs, 1)

    def make() -> gym.Env:
        return env_id() if callable(env_id) else gym.make(env_id)

    envs = gym.vector.SyncVectorEnv(
        [make for _ in range(n_envs)], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
    )
    envs.action_space.seed(seed)
    return envs


def bootstrap_truncated(
    rewards: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    final_values: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """``r_t + gamma * V(s_final)`` where the episode was truncated (and not terminated), else ``r_t``.

    Args:
        rewards, terminated, truncated: shape ``(n_envs,)`` for one step.
        final_values: ``V`` of each env's true final observation (any value where not truncated).
    """
    cut = truncated.bool() & ~terminated.bool()
    return rewards + gamma * torch.where(cut, final_values, torch.zeros_like(final_values))


def final_observations(next_obs: np.ndarray, infos: dict) -> np.ndarray:
    """The true last observation of every env (the reset observation replaced where a step ended)."""
    if "_final_obs" not in infos:
        return next_obs
    final = next_obs.copy()
    for i in np.flatnonzero(infos["_final_obs"]):
        final[i] = infos["final_obs"][i]
    return final


class EpisodeStats:
    """Running undiscounted return and length of each env's current episode."""

    def __init__(self, n_envs: int) -> None:
        self.returns = np.zeros(n_envs)
        self.lengths = np.zeros(n_envs, dtype=np.int64)

    def update(self, rewards: np.ndarray, dones: np.ndarray) -> list[tuple[float, int]]:
        """Add one step; returns ``(return, length)`` of the episodes that ended."""
        self.returns += rewards
        self.lengths += 1
        finished = [(float(self.returns[i]), int(self.lengths[i])) for i in np.flatnonzero(dones)]
        self.returns[dones] = 0.0
        self.lengths[dones] = 0
        return finished


@dataclass
class Rollout:
    """``n_steps`` steps of ``n_envs`` envs, time first. Rewards include the truncation bootstrap."""

    obs: torch.Tensor  # (T, N, obs_dim)
    actions: torch.Tensor  # (T, N)
    logprobs: torch.Tensor  # (T, N)  log pi_old(a_t | s_t)
    values: torch.Tensor  # (T, N)  V_old(s_t)
    rewards: torch.Tensor  # (T, N)
    dones: torch.Tensor  # (T, N)  1 where an episode ended at step t
    last_value: torch.Tensor  # (N,)  V(s_T) for bootstrapping the unfinished episodes
    episodes: list[tuple[float, int]]  # (return, length) of the episodes that ended


@torch.no_grad()
def collect_rollout(
    envs: gym.vector.VectorEnv,
    net: ActorCritic,
    obs: np.ndarray,
    n_steps: int,
    gamma: float,
    stats: EpisodeStats,
) -> tuple[Rollout, np.ndarray]:
    """Run the current policy for ``n_steps`` steps in every env; returns the rollout and next obs.

    Inside the loop only the actor runs (to sample ``a_t``). ``pi_old`` and ``V_old`` do not change
    during the rollout, so ``log pi_old(a_t | s_t)`` and ``V_old(s_t)`` of all ``n_steps * n_envs``
    steps are computed afterwards in one batched pass: same numbers, far fewer small forwards.
    """
    n_envs, obs_dim = envs.num_envs, obs.shape[-1]
    obs_buf = np.zeros((n_steps, n_envs, obs_dim), dtype=np.float32)
    actions = np.zeros((n_steps, n_envs), dtype=np.int64)
    rewards = np.zeros((n_steps, n_envs), dtype=np.float32)
    dones = np.zeros((n_steps, n_envs), dtype=np.float32)
    episodes: list[tuple[float, int]] = []
    for t in range(n_steps):
        obs_buf[t] = obs
        logits = net.logits(torch.from_numpy(obs_buf[t]))  # (N, n_actions)
        action = torch.multinomial(torch.softmax(logits, dim=-1), 1)  # a_t ~ pi(. | s_t), (N, 1)
        actions[t] = action.squeeze(-1).numpy()
        next_obs, reward, terminated, truncated, infos = envs.step(actions[t])
        rewards[t] = reward
        if np.any(truncated & ~terminated):
            final_obs = final_observations(next_obs, infos).astype(np.float32)
            rewards[t] = bootstrap_truncated(
                torch.from_numpy(rewards[t]),
                torch.from_numpy(terminated),
                torch.from_numpy(truncated),
                net.value(torch.from_numpy(final_obs)),
                gamma,
            ).numpy()
        done = terminated | truncated
        dones[t] = done
        episodes += stats.update(np.asarray(reward, dtype=np.float64), done)
        obs = next_obs
    flat_obs = torch.from_numpy(obs_buf).reshape(n_steps * n_envs, obs_dim)
    flat_actions = torch.from_numpy(actions).reshape(n_steps * n_envs)
    log_pi = torch.log_softmax(net.logits(flat_obs), dim=-1)  # (T * N, n_actions)
    logprobs = log_pi.gather(-1, flat_actions[:, None]).reshape(n_steps, n_envs)
    values = net.value(flat_obs).reshape(n_steps, n_envs)
    last_value = net.value(torch.as_tensor(obs, dtype=torch.float32))
    rollout = Rollout(
        obs=torch.from_numpy(obs_buf),
        actions=torch.from_numpy(actions),
        logprobs=logprobs,
        values=values,
        rewards=torch.from_numpy(rewards),
        dones=torch.from_numpy(dones),
        last_value=last_value,
        episodes=episodes,
    )
    return rollout, obs
