"""Advantage actor-critic (A2C; Mnih et al. 2016, synchronous version) with n-step returns.

``n_envs`` envs run ``n_steps`` steps with the current policy; then one gradient step on::

    advantages_t = G_t - V(s_t),   G_t = R_{t+1} + gamma R_{t+2} + ... + gamma^(n-1) R_{t+n}
                                          + gamma^n V(s_{t+n})        (n-step return, bootstrapped)
    policy_loss  = -mean( log pi(a_t | s_t) * advantages_t )
    value_loss   = 0.5 * mean( (V(s_t) - G_t)^2 )
    loss = policy_loss + value_coef * value_loss - entropy_coef * entropy

(the course's convention: the action ``a_t`` taken in ``s_t`` is followed by the reward
``R_{t+1}``; in code ``rewards[t]`` holds ``R_{t+1}``.)

The n-step return is GAE with ``lambda = 1`` over the rollout (``compute_gae``); ``gae_lambda < 1``
mixes in shorter returns. Unlike REINFORCE, the critic is used to *bootstrap*, so updates happen
every few steps instead of at the end of episodes; unlike PPO, each batch is used once.

Defaults (8 envs x 32 steps, learning rate 7e-4 annealed to 0 over 300,000 env steps): the greedy
policy ends with a mean return >= 400 on CartPole-v1 on each of seeds 0-4 (9 of seeds 0-9; single
gradient steps on small batches keep A2C's final policy noisier than PPO's). Smaller batches or a
larger learning rate reach 500 sooner but oscillate more, so the final policy is a lottery.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from rlhf_edu.core.returns import compute_gae
from rlhf_edu.neural.agent import (
    PolicyAgent,
    TrainResult,
    config_to_dict,
    env_spaces,
    save_agent_checkpoint,
)
from rlhf_edu.neural.checks import check_finite_loss, field_float, field_int
from rlhf_edu.neural.networks import check_hidden_sizes, make_adam
from rlhf_edu.neural.rollout import EpisodeStats, collect_rollout, make_vec_env
from rlhf_edu.utils import History, seed_everything
from rlhf_edu.utils.validation import documented


@dataclass
class ActorCriticConfig:
    """A2C hyperparameters (validated on construction); each field's ``metadata["help"]`` says
    what it sets."""

    total_steps: int = documented(300_000, "env steps of training, all envs together")
    n_envs: int = documented(8, "parallel envs (a gymnasium vector env)")
    n_steps: int = documented(
        32, "steps per env per update: the n of the n-step returns; batch n_envs * n_steps"
    )
    learning_rate: float = documented(7e-4, "Adam learning rate")
    anneal_lr: bool = documented(True, "anneal the learning rate linearly to 0 over training")
    gamma: float = documented(0.99, "discount factor")
    gae_lambda: float = documented(1.0, "GAE's lambda (1: plain n-step returns)")
    value_coef: float = documented(0.5, "weight of the value loss in the total loss")
    entropy_coef: float = documented(0.0, "weight of the entropy bonus in the total loss")
    max_grad_norm: float = documented(0.5, "clip the gradient norm to this")
    normalize_advantages: bool = documented(False, "normalise the advantages per batch")
    hidden_sizes: tuple[int, ...] = documented((64, 64), "widths of the hidden layers")
    activation: str = documented("tanh", "activation of the hidden layers: 'tanh' or 'relu'")
    checkpoint_dir: str | None = documented(
        None, "save the agent here every checkpoint_every updates (None: no checkpoints)"
    )
    checkpoint_every: int = documented(100, "updates between checkpoints")

    def __post_init__(self) -> None:
        for name in ("total_steps", "n_envs", "n_steps", "checkpoint_every"):
            field_int(name, getattr(self, name))
        field_float("learning_rate", self.learning_rate, 0.0, None, low_open=True)
        field_float("gamma", self.gamma, 0.0, 1.0)
        field_float("gae_lambda", self.gae_lambda, 0.0, 1.0)
        field_float("value_coef", self.value_coef, 0.0)
        field_float("entropy_coef", self.entropy_coef, 0.0)
        field_float("max_grad_norm", self.max_grad_norm, 0.0, None, low_open=True)
        self.hidden_sizes = check_hidden_sizes(self.hidden_sizes)


def train(
    env_id: str,
    config: ActorCriticConfig | None = None,
    seed: int = 0,
    callback: Callable[[PolicyAgent, int], bool | None] | None = None,
) -> TrainResult:
    """Train an A2C agent on ``env_id``; ``callback(agent, env_steps)`` as in ``ppo.train``.

    History rows per update: ``env_steps``, ``update``, ``episode_return``, ``policy_loss``,
    ``value_loss``, ``entropy``.
    """
    config = ActorCriticConfig() if config is None else config
    if not isinstance(config, ActorCriticConfig):
        raise TypeError(f"config must be an ActorCriticConfig, got {type(config).__name__}")
    seed = seed_everything(seed)
    obs_dim, n_actions = env_spaces(env_id, "A2C")
    agent = PolicyAgent(
        obs_dim,
        n_actions,
        config.hidden_sizes,
        config.activation,
        env_id=env_id,
        config=config_to_dict(config),
        algo="a2c",
    )
    net = agent.net
    optimizer = make_adam(net.parameters(), config.learning_rate, eps=1e-5)
    envs = make_vec_env(env_id, config.n_envs, seed)
    obs, _ = envs.reset(seed=seed)
    stats = EpisodeStats(config.n_envs)
    history = History()
    batch_size = config.n_envs * config.n_steps
    n_updates = max(1, config.total_steps // batch_size)
    recent_returns: list[float] = []
    checkpoint, env_steps = None, 0
    try:
        for update in range(1, n_updates + 1):
            if config.anneal_lr:
                optimizer.param_groups[0]["lr"] = config.learning_rate * (
                    1.0 - (update - 1) / n_updates
                )
            rollout, obs = collect_rollout(envs, net, obs, config.n_steps, config.gamma, stats)
            env_steps += batch_size
            advantages, returns = compute_gae(
                rollout.rewards,
                rollout.values,
                rollout.dones,
                rollout.last_value,
                config.gamma,
                config.gae_lambda,
            )
            b_obs = rollout.obs.reshape(batch_size, obs_dim)
            b_actions = rollout.actions.reshape(batch_size)
            b_advantages = advantages.reshape(batch_size)
            if config.normalize_advantages:
                b_advantages = (b_advantages - b_advantages.mean()) / (b_advantages.std() + 1e-8)
            log_pi = torch.log_softmax(net.logits(b_obs), dim=-1)
            logprobs = log_pi.gather(-1, b_actions[:, None]).squeeze(-1)
            policy_loss = -(logprobs * b_advantages).mean()
            critic_loss = 0.5 * ((net.value(b_obs) - returns.reshape(batch_size)) ** 2).mean()
            entropy = -(log_pi.exp() * log_pi).sum(-1).mean()
            loss = policy_loss + config.value_coef * critic_loss - config.entropy_coef * entropy
            check_finite_loss("policy_loss", policy_loss, update, checkpoint)
            check_finite_loss("value_loss", critic_loss, update, checkpoint)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), config.max_grad_norm)
            optimizer.step()
            recent_returns += [ret for ret, _ in rollout.episodes]
            if update % 10 == 0 or update == n_updates:
                history.log(
                    env_steps=env_steps,
                    update=update,
                    episode_return=float(np.mean(recent_returns)) if recent_returns else None,
                    policy_loss=policy_loss.item(),
                    value_loss=critic_loss.item(),
                    entropy=entropy.item(),
                )
                recent_returns = []
            if config.checkpoint_dir and update % config.checkpoint_every == 0:
                checkpoint = str(save_agent_checkpoint(agent, config.checkpoint_dir, env_steps))
            if callback is not None and callback(agent, env_steps) is False:
                break
    finally:
        envs.close()
    agent.eval()
    return TrainResult(agent, history)


__all__ = ["ActorCriticConfig", "train"]
