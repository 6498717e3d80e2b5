"""REINFORCE (Williams 1992): the Monte Carlo policy gradient, with an optional learned baseline.

The policy gradient theorem gives, for episodes sampled from ``pi_theta``,

    grad J(theta) = E[ sum_t grad log pi_theta(a_t | s_t) * (G_t - b(s_t)) ]

where ``G_t = sum_{k >= t} gamma^(k - t) r_k`` is the reward-to-go (``discounted_returns``) and
``b(s_t)`` any baseline that does not depend on ``a_t``. The baseline leaves the gradient unbiased
and can cut its variance a lot; we learn ``b(s) = V_w(s)`` by regressing it on ``G_t``. Weighting
every step by the whole-episode return ``G_0`` instead of ``G_t`` is also unbiased but noisier
(and a classic teaching bug).

The loss we minimise is the negative of the surrogate whose gradient is the estimate above:

    policy_loss = -mean_t( log pi_theta(a_t | s_t) * advantage_t ),  advantage_t = G_t - V_w(s_t)

When the time limit truncates an episode and a baseline is learned, ``G_t`` bootstraps from
``V_w(s_final)`` (see ``rlhf_edu.neural.rollout``); without a baseline nothing is added.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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
from rlhf_edu.utils.validation import documented


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


def reinforce_loss(
    logprobs: torch.Tensor, returns: torch.Tensor, baselines: torch.Tensor | None = None
) -> torch.Tensor:
    """``-mean_t(log pi(a_t | s_t) * (G_t - b(s_t)))``; no gradient flows into the baseline."""
    advantages = returns if baselines is None else returns - baselines.detach()
    return -(logprobs * advantages.detach()).mean()


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
) -> TrainResult:
    """Train a REINFORCE agent (with a learned baseline unless ``use_baseline=False``).

    ``callback(agent, env_steps)`` runs after every update; ``False`` stops training.
    History rows per update: ``env_steps``, ``update``, ``episode_return`` (mean of the batch),
    ``policy_loss``, ``value_loss``, ``grad_norm``.
    """
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
                returns_per_episode.append(discounted_returns(rewards, config.gamma))
            returns = torch.cat(returns_per_episode).float()  # G_t, (total steps of the batch,)
            env_steps += len(actions)

            log_pi = torch.log_softmax(net.logits(obs), dim=-1)
            logprobs = log_pi.gather(-1, actions[:, None]).squeeze(-1)
            critic_loss = torch.zeros(())
            if config.use_baseline:
                values = net.value(obs)
                advantages = returns - values.detach()
                critic_loss = 0.5 * ((values - returns) ** 2).mean()
            else:
                advantages = returns.clone()
            if config.normalize_advantages and len(advantages) > 1:
                advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
            policy_loss = reinforce_loss(logprobs, advantages)
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


__all__ = ["ReinforceConfig", "reinforce_loss", "run_episode", "train"]
