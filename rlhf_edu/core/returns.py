"""Returns and advantages: how much reward follows an action, and how much better than expected.

The course's reward index (Sutton & Barto): the action A_t taken in S_t is followed by the
reward R_{t+1}. In code, ``rewards[t]`` holds R_{t+1}, the reward of the step taken at index
``t``; below, ``r_t`` is short for ``rewards[t]`` (= R_{t+1}).

Discounted return (reward-to-go) of step ``t`` in an episode of length ``T``::

    G_t = R_{t+1} + gamma * R_{t+2} + ... = r_t + gamma * r_{t+1} + ... = r_t + gamma * G_{t+1},
    G_T = 0

Generalized advantage estimation (Schulman et al. 2016, "High-dimensional continuous control
using generalized advantage estimation")::

    delta_t = r_t + gamma * (1 - done_t) * V(s_{t+1}) - V(s_t)            (one-step TD error)
    A_t     = delta_t + gamma * lam * (1 - done_t) * A_{t+1}              (exponentially weighted)
    R_t     = A_t + V(s_t)                                                (the value target)

``lam = 0`` gives the one-step TD advantage (low variance, biased by V); ``lam = 1`` gives the
Monte Carlo return minus the baseline (unbiased, high variance).

Episode ends. ``dones[t] = 1`` where the episode *terminated* at step ``t``: the state after it is
absorbing and worth 0, so nothing is bootstrapped across it and the sums restart. An episode cut
by a time limit (*truncated*) did not end in the MDP: its last state still has value. Rollout code
handles it by adding ``gamma * V(final_observation)`` to that step's reward and then marking the
step done (the next row of the buffer belongs to a new episode); see
``rlhf_edu.neural.rollout``. Both functions take tensors of shape ``(T,)`` (one sequence) or
``(T, n)`` (``n`` parallel envs, or ``n`` responses of a batch in RLHF), time first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

TensorLike = torch.Tensor | np.ndarray | Sequence[float]


def _as_float_tensor(name: str, value: TensorLike) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        tensor = value
    else:
        try:
            tensor = torch.as_tensor(np.asarray(value, dtype=np.float64))
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name} must be a tensor or array of numbers, got {value!r}") from err
    if not torch.is_floating_point(tensor):
        tensor = tensor.to(torch.get_default_dtype())
    return tensor


def _check_unit_interval(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a float in [0, 1], got {value!r}")
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return value


def _check_time_major(name: str, tensor: torch.Tensor) -> None:
    if tensor.ndim not in (1, 2):
        raise ValueError(
            f"{name} must have shape (T,) or (T, n_envs), got shape {tuple(tensor.shape)}"
        )


def discounted_returns(
    rewards: TensorLike, gamma: float, dones: TensorLike | None = None
) -> torch.Tensor:
    """Reward-to-go ``G_t = r_t + gamma * G_{t+1}`` for every step (``r_t = rewards[t]``, the
    reward R_{t+1} that follows the action at index t).

    Args:
        rewards: shape ``(T,)`` or ``(T, n_envs)``, time first.
        gamma: discount factor in [0, 1].
        dones: optional, same shape; ``dones[t] = 1`` ends an episode at step ``t`` so the sum
            restarts (``G_t = r_t`` there). Without it the whole sequence is one episode.

    Returns:
        ``returns`` with the shape and dtype of ``rewards``.
    """
    gamma = _check_unit_interval("gamma", gamma)
    rewards = _as_float_tensor("rewards", rewards)
    _check_time_major("rewards", rewards)
    if dones is None:
        not_done = torch.ones_like(rewards)
    else:
        dones = _as_float_tensor("dones", dones)
        if dones.shape != rewards.shape:
            raise ValueError(
                f"dones must have the shape of rewards {tuple(rewards.shape)}, "
                f"got {tuple(dones.shape)}"
            )
        not_done = 1.0 - dones.to(rewards.dtype)
    returns = torch.zeros_like(rewards)
    future_return = torch.zeros_like(rewards[0]) if len(rewards) else None
    for t in reversed(range(len(rewards))):
        future_return = rewards[t] + gamma * not_done[t] * future_return
        returns[t] = future_return
    return returns


def compute_gae(
    rewards: TensorLike,
    values: TensorLike,
    dones: TensorLike,
    last_value: TensorLike,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimates and value targets.

    Args:
        rewards: ``r_t = rewards[t]`` (= R_{t+1}), shape ``(T,)`` or ``(T, n_envs)``.
        values: ``V(s_t)``, same shape.
        dones: 1 where the episode terminated at step ``t`` (no bootstrap from ``s_{t+1}``).
        last_value: ``V(s_T)``, the value of the observation after the last step, shape ``()``
            (or ``(1,)``) for ``(T,)`` inputs, ``(n_envs,)`` for ``(T, n_envs)`` inputs.
        gamma: discount factor in [0, 1].
        lam: the GAE lambda in [0, 1].

    Returns:
        ``(advantages, returns)``, each the shape of ``rewards``; ``returns = advantages + values``.
    """
    gamma = _check_unit_interval("gamma", gamma)
    lam = _check_unit_interval("lam", lam)
    rewards = _as_float_tensor("rewards", rewards)
    values = _as_float_tensor("values", values).to(rewards.dtype)
    dones = _as_float_tensor("dones", dones).to(rewards.dtype)
    last_value = _as_float_tensor("last_value", last_value).to(rewards.dtype)
    _check_time_major("rewards", rewards)
    for name, tensor in (("values", values), ("dones", dones)):
        if tensor.shape != rewards.shape:
            raise ValueError(
                f"{name} must have the shape of rewards {tuple(rewards.shape)}, "
                f"got {tuple(tensor.shape)}"
            )
    expected = tuple(rewards.shape[1:])
    if tuple(last_value.shape) != expected:
        if last_value.numel() == int(np.prod(expected)):
            last_value = last_value.reshape(expected)
        else:
            raise ValueError(
                f"last_value must have shape {expected} (one value per env), "
                f"got {tuple(last_value.shape)}"
            )
    not_done = 1.0 - dones
    advantages = torch.zeros_like(rewards)
    next_value = last_value
    next_advantage = torch.zeros_like(last_value)
    for t in reversed(range(len(rewards))):
        td_error = rewards[t] + gamma * not_done[t] * next_value - values[t]
        next_advantage = td_error + gamma * lam * not_done[t] * next_advantage
        advantages[t] = next_advantage
        next_value = values[t]
    returns = advantages + values
    return advantages, returns
