"""Trained agents: a network plus what is needed to use it again (env id, algorithm, config).

``PolicyAgent`` (REINFORCE, A2C, PPO) acts by sampling from ``softmax(logits)``, or by argmax when
``deterministic``; ``QAgent`` (DQN) acts greedily on ``Q(s, .)``. Both save to one checksummed
file written atomically (``rlhf_edu.utils.save_checkpoint``) and load with ``load_agent(path)``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rlhf_edu.neural.networks import ActorCritic, QNetwork
from rlhf_edu.utils import History, load_checkpoint, save_checkpoint


class Agent(nn.Module):
    """Base class: ``act(obs)`` for a batch of observations, ``save(path)``, ``load_agent(path)``."""

    algo: str = "agent"

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        hidden_sizes: tuple[int, ...],
        activation: str,
        env_id: str = "",
        config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.obs_dim = obs_dim
        self.n_actions = n_actions
        self.hidden_sizes = tuple(hidden_sizes)
        self.activation = activation
        self.env_id = env_id
        self.config = dict(config or {})

    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Actions for a batch of observations ``(batch, obs_dim)`` -> ``(batch,)`` ints."""
        raise NotImplementedError

    def save(self, path: str | os.PathLike) -> Path:
        """Write the agent to ``path`` atomically (a crash never leaves a half-written file)."""
        state = {
            "algo": self.algo,
            "obs_dim": self.obs_dim,
            "n_actions": self.n_actions,
            "hidden_sizes": list(self.hidden_sizes),
            "activation": self.activation,
            "env_id": self.env_id,
            "config": self.config,
            "state_dict": {k: v.detach().clone() for k, v in self.state_dict().items()},
        }
        return save_checkpoint(state, path)

    def extra_repr(self) -> str:
        return f"algo={self.algo!r}, env_id={self.env_id!r}"


class PolicyAgent(Agent):
    """An actor-critic network used as a policy: ``pi(a | s) = softmax(actor(s))``."""

    algo = "policy"

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        hidden_sizes: tuple[int, ...] = (64, 64),
        activation: str = "tanh",
        env_id: str = "",
        config: dict[str, Any] | None = None,
        algo: str = "policy",
    ) -> None:
        super().__init__(obs_dim, n_actions, hidden_sizes, activation, env_id, config)
        self.algo = algo
        self.net = ActorCritic(obs_dim, n_actions, hidden_sizes, activation)

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        logits = self.net.logits(torch.as_tensor(np.asarray(obs), dtype=torch.float32))
        if deterministic:
            return logits.argmax(-1).numpy()
        return torch.distributions.Categorical(logits=logits).sample().numpy()


class QAgent(Agent):
    """A Q-network used as a greedy policy: ``a = argmax_a Q(s, a)``."""

    algo = "dqn"

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        hidden_sizes: tuple[int, ...] = (64, 64),
        activation: str = "relu",
        env_id: str = "",
        config: dict[str, Any] | None = None,
        algo: str = "dqn",
    ) -> None:
        super().__init__(obs_dim, n_actions, hidden_sizes, activation, env_id, config)
        self.algo = algo
        self.q_network = QNetwork(obs_dim, n_actions, hidden_sizes, activation)

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        q_values = self.q_network(torch.as_tensor(np.asarray(obs), dtype=torch.float32))
        return q_values.argmax(-1).numpy()


_AGENT_CLASSES: dict[str, type[Agent]] = {
    "reinforce": PolicyAgent,
    "a2c": PolicyAgent,
    "ppo": PolicyAgent,
    "policy": PolicyAgent,
    "dqn": QAgent,
}


def load_agent(path: str | os.PathLike) -> Agent:
    """Load an agent written by ``agent.save(path)`` (the checksum is verified)."""
    state = load_checkpoint(path)
    if not isinstance(state, dict) or state.get("algo") not in _AGENT_CLASSES:
        raise ValueError(f"{path} is not a saved rlhf_edu.neural agent")
    cls = _AGENT_CLASSES[state["algo"]]
    agent = cls(
        state["obs_dim"],
        state["n_actions"],
        tuple(state["hidden_sizes"]),
        state["activation"],
        env_id=state["env_id"],
        config=state["config"],
        algo=state["algo"],
    )
    agent.load_state_dict(state["state_dict"])
    agent.eval()
    return agent


@dataclass
class TrainResult:
    """What ``train`` returns: the trained agent and its metric history."""

    agent: Agent
    history: History = field(default_factory=History)


def config_to_dict(config: Any) -> dict[str, Any]:
    """A dataclass config as plain Python values (tuples become lists), to store with an agent."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}


def env_spaces(env_id: str, algo: str) -> tuple[int, int]:
    """``(obs_dim, n_actions)`` of ``env_id``, checked for an MLP and discrete actions."""
    from rlhf_edu.neural.networks import check_discrete_actions, check_observation_space

    if not isinstance(env_id, str) or not env_id:
        raise TypeError(f"env_id must be a gymnasium id string, got {env_id!r}")
    env = gym.make(env_id)
    try:
        return check_observation_space(env.observation_space), check_discrete_actions(
            env.action_space, algo
        )
    finally:
        env.close()


def save_agent_checkpoint(agent: Agent, folder: str | os.PathLike, env_steps: int) -> Path:
    """Save ``agent`` to ``folder/agent-<env_steps>.pt`` (atomically) and return the path."""
    path = Path(folder) / f"agent-{env_steps:09d}.pt"
    agent.save(path)
    return path
