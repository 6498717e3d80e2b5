"""REINFORCE (Williams 1992): the Monte Carlo policy gradient, with an optional learned baseline.

The policy gradient theorem gives, for episodes sampled from ``pi_theta``,

    grad J(theta) = E[ sum_t grad log pi_theta(a_t | s_t) * (G_t - b(s_t)) ]

where ``G_t = sum_{k >= t} gamma^(k - t) R_{k+1}`` is the reward-to-go (``discounted_returns``) and
``b(s_t)`` any baseline that does not depend on ``a_t``. The baseline leaves the gradient unbiased
and can cut its variance a lot; we learn ``b(s) = V_w(s)`` by regressing it on ``G_t``. Weighting
every step by the whole-episode return ``G_0`` instead of ``G_t`` is also unbiased but noisier
(and a classic teaching bug).

The loss we minimise is the negative of the surrogate whose gradient is the estimate above:

    policy_loss = -mean_t( log pi_theta(a_t | s_t) * advantage_t ),  advantage_t = G_t - V_w(s_t)

The reward index follows Sutton & Barto: the action ``A_t`` taken in ``S_t`` is followed by
``R_{t+1}``; in code ``rewards[t]`` holds ``R_{t+1}``, so ``G_t = rewards[t] + gamma * G_{t+1}``.
The theorem's exact estimator weights step ``t`` by ``gamma^t G_t``; like most implementations we
drop ``gamma^t`` (the common practical estimator, biased for ``gamma < 1``: it weights late steps
as much as early ones).

When the time limit truncates an episode and a baseline is learned, ``G_t`` bootstraps from
``V_w(s_final)`` (see ``rlhf_edu.neural.rollout``); without a baseline nothing is added.

The pieces are graded exercises of module 06: the exact gradient of a softmax bandit and its
score-function estimate (the log-derivative trick checked numerically), ``discounted_returns``,
``episode_policy_loss``, ``reinforce_loss`` and a whole loop, ``reinforce_loop``.
``train(..., parts=ReinforceParts(...))`` runs the library's loop with a student's
``discounted_returns`` and ``reinforce_loss``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rlhf_edu.core.returns import discounted_returns
from rlhf_edu.neural.agent import (
    PolicyAgent,
    TrainResult,
    config_to_dict,
    env_spaces,
    save_agent_checkpoint,
)
from rlhf_edu.neural.checks import check_finite_loss, field_float, field_int
from rlhf_edu.neural.networks import check_hidden_sizes
from rlhf_edu.utils import History, seed_everything
from rlhf_edu.utils.validation import check_float, documented


@dataclass
class ReinforceConfig:
    """REINFORCE hyperparameters (validated on construction); each field's ``metadata["help"]``
    says what it sets."""

    total_steps: int = documented(
        200_000, "env steps; training stops after the episode that crosses it"
    )
    episodes_per_update: int = documented(4, "whole episodes per gradient step")
    learning_rate: float = documented(2e-3, "Adam learning rate of the policy")
    value_learning_rate: float = documented(5e-3, "Adam learning rate of the baseline V(s)")
    anneal_lr: bool = documented(True, "anneal the learning rates linearly to 0 over training")
    gamma: float = documented(0.99, "discount factor")
    use_baseline: bool = documented(True, "subtract a learned V(s) from the returns")
    normalize_advantages: bool = documented(True, "normalise the advantages per update")
    max_grad_norm: float = documented(1.0, "clip the gradient norm to this")
    hidden_sizes: tuple[int, ...] = documented((64, 64), "widths of the hidden layers")
    activation: str = documented("tanh", "activation of the hidden layers: 'tanh' or 'relu'")
    checkpoint_dir: str | None = documented(
        None, "save the agent here every checkpoint_every updates (None: no checkpoints)"
    )
    checkpoint_every: int = documented(20, "updates between checkpoints")

    def __post_init__(self) -> None:
        for name in ("total_steps", "episodes_per_update", "checkpoint_every"):
            field_int(name, getattr(self, name))
        field_float("learning_rate", self.learning_rate, 0.0, None, low_open=True)
        field_float("value_learning_rate", self.value_learning_rate, 0.0, None, low_open=True)
        field_float("gamma", self.gamma, 0.0, 1.0)
        field_float("max_grad_norm", self.max_grad_norm, 0.0, None, low_open=True)
        self.hidden_sizes = check_hidden_sizes(self.hidden_sizes)


def softmax_probs(theta: np.ndarray) -> np.ndarray:
    """``pi = softmax(theta)``, computed stably (the max subtracted first)."""
    theta = np.asarray(theta, dtype=np.float64)
    z = np.exp(theta - theta.max())
    return z / z.sum()


def softmax_bandit_gradient(theta: np.ndarray, rewards: np.ndarray) -> np.ndarray:
    """The exact gradient of ``J(theta) = sum_a pi_theta(a) r(a)`` for ``pi_theta = softmax(theta)``.

    ``d pi(a) / d theta_b = pi(a) (1[a = b] - pi(b))`` gives
    ``grad J = pi * (r - sum_a pi(a) r(a))``, shape ``(n_arms,)``.
    """
    pi = softmax_probs(theta)
    rewards = np.asarray(rewards, dtype=np.float64)
    return pi * (rewards - pi @ rewards)


def score_function_gradient(
    theta: np.ndarray, rewards: np.ndarray, n_samples: int, rng: np.random.Generator
) -> np.ndarray:
    """The score-function (log-derivative, REINFORCE) estimate of ``grad J`` for the softmax bandit.

    ``grad J = E_{a ~ pi}[r(a) grad log pi(a)]`` with ``grad log pi(a) = onehot(a) - pi``; the
    estimate averages ``r(a_i) (onehot(a_i) - pi)`` over ``n_samples`` actions drawn with one call,
    ``rng.choice(n_arms, size=n_samples, p=pi)``. Unbiased; its error shrinks like
    ``1 / sqrt(n_samples)``.
    """
    if not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    pi = softmax_probs(theta)
    rewards = np.asarray(rewards, dtype=np.float64)
    actions = rng.choice(len(pi), size=n_samples, p=pi)
    scores = np.eye(len(pi))[actions] - pi  # grad log pi(a_i), (n_samples, n_arms)
    return (rewards[actions][:, None] * scores).mean(axis=0)


def episode_policy_loss(
    logprobs: torch.Tensor, rewards: torch.Tensor, gamma: float
) -> torch.Tensor:
    """``-sum_t log pi(A_t | S_t) G_t`` for one episode, ``G_t`` the discounted reward-to-go.

    ``logprobs`` and ``rewards`` ``(T,)``, ``rewards[t]`` = ``R_{t+1}``. Its gradient is the
    single-episode estimate of the policy gradient (``gamma^t`` dropped, as in practice). Weighting
    every step by ``G_0`` instead credits actions with rewards that came before them.
    """
    returns = discounted_returns(rewards.detach(), gamma).to(logprobs.dtype)
    return -(logprobs * returns).sum()


def reinforce_loss(
    logprobs: torch.Tensor, returns: torch.Tensor, baselines: torch.Tensor | None = None
) -> torch.Tensor:
    """``-mean_t(log pi(a_t | s_t) * (G_t - b(s_t)))``; no gradient flows into the baseline."""
    advantages = returns if baselines is None else returns - baselines.detach()
    return -(logprobs * advantages.detach()).mean()


@dataclass(frozen=True)
class ReinforceParts:
    """The pieces of ``train`` a student may supply: ``discounted_returns(rewards, gamma)`` and
    ``reinforce_loss(logprobs, returns, baselines=None)``, with this module's signatures."""

    discounted_returns: Callable[..., Any] = discounted_returns
    reinforce_loss: Callable[..., torch.Tensor] = reinforce_loss


def run_episode(
    env: gym.Env, policy_logits: Callable[[torch.Tensor], torch.Tensor], seed: int | None = None
) -> dict[str, torch.Tensor | bool]:
    """One episode with actions sampled from ``softmax(policy_logits(s))``.

    Returns a dict with ``obs`` ``(T, obs_dim)``, ``actions`` ``(T,)``, ``rewards`` ``(T,)``,
    ``final_obs`` ``(obs_dim,)`` and ``truncated`` (the time limit ended it).
    """
    obs, _ = env.reset(seed=seed)
    observations, actions, rewards = [], [], []
    while True:
        obs_t = torch.as_tensor(obs, dtype=torch.float32)
        with torch.no_grad():
            probs = torch.softmax(policy_logits(obs_t[None]), dim=-1)[0]
        action = int(torch.multinomial(probs, 1))
        obs, reward, terminated, truncated, _ = env.step(action)
        observations.append(obs_t)
        actions.append(action)
        rewards.append(float(reward))
        if terminated or truncated:
            break
    return {
        "obs": torch.stack(observations),
        "actions": torch.tensor(actions),
        "rewards": torch.tensor(rewards),
        "final_obs": torch.as_tensor(obs, dtype=torch.float32),
        "truncated": bool(truncated and not terminated),
    }


def train(
    env_id: str,
    config: ReinforceConfig | None = None,
    seed: int = 0,
    callback: Callable[[PolicyAgent, int], bool | None] | None = None,
    parts: ReinforceParts | None = None,
) -> TrainResult:
    """Train a REINFORCE agent (with a learned baseline unless ``use_baseline=False``).

    ``parts`` (default: this module's functions) supplies ``discounted_returns`` and
    ``reinforce_loss``.

    ``callback(agent, env_steps)`` runs after every update; ``False`` stops training.
    History rows per update: ``env_steps``, ``update``, ``episode_return`` (mean of the batch),
    ``policy_loss``, ``value_loss``, ``grad_norm``.
    """
    parts = ReinforceParts() if parts is None else parts
    if not isinstance(parts, ReinforceParts):
        raise TypeError(f"parts must be a ReinforceParts, got {type(parts).__name__}")
    config = ReinforceConfig() if config is None else config
    if not isinstance(config, ReinforceConfig):
        raise TypeError(f"config must be a ReinforceConfig, got {type(config).__name__}")
    seed = seed_everything(seed)
    obs_dim, n_actions = env_spaces(env_id, "REINFORCE")
    agent = PolicyAgent(
        obs_dim,
        n_actions,
        config.hidden_sizes,
        config.activation,
        env_id=env_id,
        config=config_to_dict(config),
        algo="reinforce",
    )
    net = agent.net
    policy_optimizer = torch.optim.Adam(net.actor.parameters(), lr=config.learning_rate)
    value_optimizer = torch.optim.Adam(net.critic.parameters(), lr=config.value_learning_rate)
    env = gym.make(env_id)
    env.action_space.seed(seed)
    history = History()
    env_steps, update, checkpoint = 0, 0, None
    first_reset_seed: int | None = seed
    try:
        while env_steps < config.total_steps:
            update += 1
            if config.anneal_lr:
                fraction = max(0.0, 1.0 - env_steps / config.total_steps)
                policy_optimizer.param_groups[0]["lr"] = config.learning_rate * fraction
                value_optimizer.param_groups[0]["lr"] = config.value_learning_rate * fraction
            episodes = []
            for _ in range(config.episodes_per_update):
                episodes.append(run_episode(env, net.logits, seed=first_reset_seed))
                first_reset_seed = None
            obs = torch.cat([e["obs"] for e in episodes])
            actions = torch.cat([e["actions"] for e in episodes])
            returns_per_episode = []
            for episode in episodes:
                rewards = episode["rewards"].clone()
                if config.use_baseline and episode["truncated"]:
                    with torch.no_grad():  # the time limit is not the end of the MDP
                        rewards[-1] += config.gamma * net.value(episode["final_obs"][None])[0]
                returns_per_episode.append(
                    torch.as_tensor(parts.discounted_returns(rewards, config.gamma))
                )
            returns = torch.cat(returns_per_episode).float()  # G_t, (total steps of the batch,)
            env_steps += len(actions)

            log_pi = torch.log_softmax(net.logits(obs), dim=-1)
            logprobs = log_pi.gather(-1, actions[:, None]).squeeze(-1)
            critic_loss = torch.zeros(())
            values = None
            if config.use_baseline:
                values = net.value(obs)
                critic_loss = 0.5 * ((values - returns) ** 2).mean()
            if config.normalize_advantages and len(returns) > 1:
                advantages = returns if values is None else returns - values.detach()
                advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
                policy_loss = parts.reinforce_loss(logprobs, advantages)
            else:
                policy_loss = parts.reinforce_loss(logprobs, returns, values)
            check_finite_loss("policy_loss", policy_loss, update, checkpoint)
            check_finite_loss("value_loss", critic_loss, update, checkpoint)
            policy_optimizer.zero_grad(set_to_none=True)
            policy_loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(net.actor.parameters(), config.max_grad_norm)
            policy_optimizer.step()
            if config.use_baseline:
                value_optimizer.zero_grad(set_to_none=True)
                critic_loss.backward()
                torch.nn.utils.clip_grad_norm_(net.critic.parameters(), config.max_grad_norm)
                value_optimizer.step()
            history.log(
                env_steps=env_steps,
                update=update,
                episode_return=float(np.mean([e["rewards"].sum().item() for e in episodes])),
                policy_loss=policy_loss.item(),
                value_loss=critic_loss.item(),
                grad_norm=grad_norm.item(),
            )
            if config.checkpoint_dir and update % config.checkpoint_every == 0:
                checkpoint = str(save_agent_checkpoint(agent, config.checkpoint_dir, env_steps))
            if callback is not None and callback(agent, env_steps) is False:
                break
    finally:
        env.close()
    agent.eval()
    return TrainResult(agent, history)


def reinforce_loop(
    env: gym.Env,
    policy: torch.nn.Module,
    n_updates: int,
    episodes_per_update: int,
    gamma: float,
    learning_rate: float,
    seed: int,
    use_baseline: bool = True,
) -> list[float]:
    """REINFORCE from scratch: episodes -> reward-to-go -> loss -> one Adam step, ``n_updates`` times.

    ``policy(obs)`` maps ``(batch, obs_dim)`` observations to action logits; it is trained in place.
    Random numbers, in this order, so that a seeded run is reproducible: ``torch.manual_seed(seed)``
    once at the start; then episodes from ``run_episode(env, policy, seed=...)`` with
    ``seed=seed`` for the very first episode and ``None`` afterwards (actions drawn with
    ``torch.multinomial``). One ``torch.optim.Adam(policy.parameters(), lr=learning_rate)``. Per
    update: ``G_t`` per episode (``discounted_returns``), concatenated over the batch; the
    log-probabilities of the taken actions from ``log_softmax(policy(obs))``; with
    ``use_baseline`` the baseline is the batch mean of ``G_t`` (a constant); the step is on
    ``reinforce_loss``. Returns the mean undiscounted return of each update's episodes.
    """
    for name, value in (("n_updates", n_updates), ("episodes_per_update", episodes_per_update)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    check_float("gamma", gamma, 0.0, 1.0)
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(policy.parameters(), lr=learning_rate)
    mean_returns: list[float] = []
    reset_seed: int | None = seed
    for _ in range(n_updates):
        episodes = []
        for _ in range(episodes_per_update):
            episodes.append(run_episode(env, policy, seed=reset_seed))
            reset_seed = None
        obs = torch.cat([e["obs"] for e in episodes])  # (total steps, obs_dim)
        actions = torch.cat([e["actions"] for e in episodes])  # (total steps,)
        returns = torch.cat([discounted_returns(e["rewards"], gamma) for e in episodes]).float()
        log_pi = torch.log_softmax(policy(obs), dim=-1)
        logprobs = log_pi.gather(-1, actions[:, None]).squeeze(-1)
        baselines = torch.full_like(returns, returns.mean().item()) if use_baseline else None
        loss = reinforce_loss(logprobs, returns, baselines)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        mean_returns.append(float(np.mean([e["rewards"].sum().item() for e in episodes])))
    return mean_returns


__all__ = [
    "ReinforceConfig",
    "ReinforceParts",
    "episode_policy_loss",
    "reinforce_loop",
    "reinforce_loss",
    "run_episode",
    "score_function_gradient",
    "softmax_bandit_gradient",
    "softmax_probs",
    "train",
]
