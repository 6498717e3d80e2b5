"""Deep Q-Networks (Mnih et al. 2015), with the Double-DQN target (van Hasselt et al. 2016).

Q-learning with a neural network ``Q_theta(s, a)``. Transitions ``(s, a, r, s', terminated)`` go
into a replay buffer; each gradient step samples a minibatch and regresses ``Q_theta(s, a)`` on

    td_target = r + gamma * (1 - terminated) * max_a' Q_target(s', a')            (DQN)
    td_target = r + gamma * (1 - terminated) * Q_target(s', argmax_a' Q_theta(s', a'))  (Double DQN)

with the Huber loss of ``td_error = Q_theta(s, a) - td_target``. ``Q_target`` is a copy of
``Q_theta`` refreshed every ``target_update_interval`` steps, so the target does not chase itself.
Actions are epsilon-greedy with epsilon decaying linearly from ``epsilon_start`` to
``epsilon_end`` over the first ``exploration_fraction`` of training.

Defaults, for CartPole-v1: collect 64 env steps, then take 32 gradient steps (batch 128) against a
target frozen during them, and refresh the target after each such phase. Each phase is one
approximate Bellman backup, so the failure signal travels one step further back per phase: phases
4x more frequent than rl-baselines3-zoo's (256 steps, then 128 gradient steps) solve in fewer env
steps, with the same 0.5 gradient steps per env step. Double DQN, gamma 0.99 (a horizon of ~100
steps, which sees the cart drift to the edge of the track; with 0.98, seed 1 never held a greedy
policy that scored 500 on the validation episodes under the locked torch 2.13 stack) and a
learning rate annealed linearly to 0 damp the late collapses of the greedy policy, though not
always: DQN on CartPole still oscillates after solving
(a greedy return of 500 at one evaluation, 114 two evaluations later). So, as practitioners do,
``train`` keeps the best policy it has seen: every ``eval_every`` env steps it evaluates the
greedy policy on a few validation episodes and returns the best-scoring weights (set
``eval_every=None`` for the last weights). A (128, 128) network and fused Adam make a gradient step
cheaper than zoo's (256, 256) one.

Only ``terminated`` stops the bootstrap: when the time limit truncates an episode, ``s'`` is the
true last observation and ``Q_target(s', .)`` is used as for any other step.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

from rlhf_edu.core.exploration import linear_epsilon, maybe_explore
from rlhf_edu.neural.agent import (
    QAgent,
    TrainResult,
    config_to_dict,
    env_spaces,
    save_agent_checkpoint,
)
from rlhf_edu.neural.checks import check_finite_loss, field_float, field_int
from rlhf_edu.neural.evaluation import evaluate
from rlhf_edu.neural.networks import check_hidden_sizes, make_adam
from rlhf_edu.utils import History, seed_everything
from rlhf_edu.utils.validation import documented


@dataclass
class DQNConfig:
    """DQN hyperparameters (validated on construction); each field's ``metadata["help"]`` says
    what it sets."""

    total_steps: int = documented(50_000, "env steps of training")
    buffer_size: int = documented(100_000, "transitions the replay buffer holds")
    learning_starts: int = documented(
        1_000, "random actions, no updates, until the buffer has this many transitions"
    )
    batch_size: int = documented(128, "transitions per gradient step")
    learning_rate: float = documented(2.3e-3, "Adam learning rate")
    anneal_lr: bool = documented(
        True, "anneal the learning rate linearly to 0 (the greedy policy settles at the end)"
    )
    gamma: float = documented(0.99, "discount factor")
    train_frequency: int = documented(64, "env steps between gradient phases")
    gradient_steps: int = documented(32, "gradient steps per phase")
    target_update_interval: int = documented(
        64, "env steps between copies of Q_theta into Q_target"
    )
    epsilon_start: float = documented(1.0, "exploration rate at the start")
    epsilon_end: float = documented(0.04, "exploration rate after the linear decay")
    exploration_fraction: float = documented(
        0.16, "fraction of total_steps over which epsilon decays linearly"
    )
    double_dqn: bool = documented(
        True, "Double DQN target: the online net picks the next action, the target net rates it"
    )
    max_grad_norm: float = documented(10.0, "clip the gradient norm to this")
    hidden_sizes: tuple[int, ...] = documented((128, 128), "widths of the hidden layers")
    activation: str = documented("relu", "activation of the hidden layers: 'tanh' or 'relu'")
    checkpoint_dir: str | None = documented(
        None, "save the agent here every checkpoint_every env steps (None: no checkpoints)"
    )
    checkpoint_every: int = documented(10_000, "env steps between checkpoints")
    # Keep the best greedy policy seen: every ``eval_every`` env steps (and at the end) the greedy
    # policy is evaluated on ``eval_episodes`` validation episodes (reset seeds 10_000, 10_001,
    # ...; not the benchmark's or the notebooks' evaluation seeds), and train() returns the
    # weights that scored best. None: return the final weights. Evaluation uses no random numbers,
    # so training itself is the same either way.
    eval_every: int | None = documented(
        5_000,
        "env steps between greedy evaluations; train() returns the best weights seen (None: the "
        "final weights)",
    )
    eval_episodes: int = documented(20, "validation episodes per greedy evaluation")

    def __post_init__(self) -> None:
        for name in (
            "total_steps",
            "buffer_size",
            "batch_size",
            "train_frequency",
            "gradient_steps",
            "target_update_interval",
            "checkpoint_every",
        ):
            field_int(name, getattr(self, name))
        field_int("learning_starts", self.learning_starts, low=0)
        if self.eval_every is not None:
            field_int("eval_every", self.eval_every)
        field_int("eval_episodes", self.eval_episodes)
        field_float("learning_rate", self.learning_rate, 0.0, None, low_open=True)
        field_float("gamma", self.gamma, 0.0, 1.0)
        field_float("epsilon_start", self.epsilon_start, 0.0, 1.0)
        field_float("epsilon_end", self.epsilon_end, 0.0, 1.0)
        field_float("exploration_fraction", self.exploration_fraction, 0.0, 1.0)
        field_float("max_grad_norm", self.max_grad_norm, 0.0, None, low_open=True)
        self.hidden_sizes = check_hidden_sizes(self.hidden_sizes)


#: Reset seed of the first validation episode of ``DQNConfig.eval_every`` (episode i: + i).
VALIDATION_SEED = 10_000


def td_target(
    rewards: torch.Tensor, next_q_values: torch.Tensor, terminated: torch.Tensor, gamma: float
) -> torch.Tensor:
    """``r + gamma * (1 - terminated) * max_a' Q_target(s', a')``.

    Args:
        rewards: ``(batch,)``; next_q_values: ``Q_target(s', .)``, ``(batch, n_actions)``;
        terminated: ``(batch,)``, 1 where ``s'`` is terminal.
    """
    return rewards + gamma * (1.0 - terminated.float()) * next_q_values.max(dim=-1).values


def double_dqn_td_target(
    rewards: torch.Tensor,
    next_q_values: torch.Tensor,
    next_q_values_online: torch.Tensor,
    terminated: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """``r + gamma * (1 - terminated) * Q_target(s', argmax_a' Q_theta(s', a'))``: the online
    network picks the action, the target network values it (less maximisation bias)."""
    best_actions = next_q_values_online.argmax(dim=-1, keepdim=True)
    next_value = next_q_values.gather(-1, best_actions).squeeze(-1)
    return rewards + gamma * (1.0 - terminated.float()) * next_value


class ReplayBuffer:
    """A fixed-size circular buffer of transitions, sampled uniformly."""

    def __init__(self, capacity: int, obs_dim: int, seed: int) -> None:
        field_int("capacity", capacity)
        self.capacity = capacity
        self.obs = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminated = np.zeros(capacity, dtype=np.float32)
        self.size = 0
        self.position = 0
        self.rng = np.random.default_rng(seed)

    def add(self, obs, action: int, reward: float, next_obs, terminated: bool) -> None:
        i = self.position
        self.obs[i], self.actions[i], self.rewards[i] = obs, action, reward
        self.next_obs[i], self.terminated[i] = next_obs, terminated
        self.position = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int) -> tuple[torch.Tensor, ...]:
        """``(obs, actions, rewards, next_obs, terminated)`` tensors of ``batch_size`` rows."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        idx = self.rng.integers(0, self.size, size=batch_size)
        return (
            torch.from_numpy(self.obs[idx]),
            torch.from_numpy(self.actions[idx]),
            torch.from_numpy(self.rewards[idx]),
            torch.from_numpy(self.next_obs[idx]),
            torch.from_numpy(self.terminated[idx]),
        )

    def __len__(self) -> int:
        return self.size


def train(
    env_id: str,
    config: DQNConfig | None = None,
    seed: int = 0,
    callback: Callable[[QAgent, int], bool | None] | None = None,
    callback_every: int = 2048,
) -> TrainResult:
    """Train a DQN agent on ``env_id`` (flat observations, Discrete actions).

    ``callback(agent, env_steps)`` runs every ``callback_every`` env steps; ``False`` stops training.
    History rows: per finished episode ``env_steps``, ``episode_return``, ``epsilon``; every 1,000
    env steps ``td_loss`` and ``q_mean``; at each validation ``eval_return``.

    With ``config.eval_every`` set (the default) the returned agent holds the weights whose greedy
    policy scored best on the validation episodes, not necessarily the last ones; ``callback``
    always sees the current weights.
    """
    config = DQNConfig() if config is None else config
    if not isinstance(config, DQNConfig):
        raise TypeError(f"config must be a DQNConfig, got {type(config).__name__}")
    seed = seed_everything(seed)
    obs_dim, n_actions = env_spaces(env_id, "DQN")
    agent = QAgent(
        obs_dim,
        n_actions,
        config.hidden_sizes,
        config.activation,
        env_id=env_id,
        config=config_to_dict(config),
    )
    q_network = agent.q_network
    target_network = copy.deepcopy(q_network)
    optimizer = make_adam(q_network.parameters(), config.learning_rate)
    buffer = ReplayBuffer(config.buffer_size, obs_dim, seed)
    rng = np.random.default_rng(seed)
    env = gym.make(env_id)
    env.action_space.seed(seed)
    history = History()
    decay_steps = int(config.exploration_fraction * config.total_steps)
    obs, _ = env.reset(seed=seed)
    episode_return, n_updates, checkpoint = 0.0, 0, None
    td_loss = q_mean = None
    best_return, best_weights = -math.inf, None

    def validate(step: int) -> None:
        """Evaluate the greedy policy; remember its weights if it is the best so far."""
        nonlocal best_return, best_weights
        eval_return = evaluate(agent, env_id, config.eval_episodes, VALIDATION_SEED)
        history.log(env_steps=step, eval_return=eval_return)
        if eval_return > best_return:  # ties keep the first weights to reach the score
            best_return, best_weights = eval_return, copy.deepcopy(q_network.state_dict())

    try:
        for step in range(1, config.total_steps + 1):
            epsilon = linear_epsilon(step, config.epsilon_start, config.epsilon_end, decay_steps)
            if step <= config.learning_starts:  # fill the buffer with random actions first
                action = int(rng.integers(n_actions))
            else:
                action = maybe_explore(epsilon, n_actions, rng)
            if action is None:  # exploit: the greedy action of the online network
                with torch.no_grad():
                    q_values = q_network(torch.as_tensor(obs, dtype=torch.float32)[None])
                action = int(q_values.argmax())
            next_obs, reward, terminated, truncated, _ = env.step(action)
            buffer.add(obs, action, float(reward), next_obs, bool(terminated))
            episode_return += float(reward)
            obs = next_obs
            if terminated or truncated:
                history.log(env_steps=step, episode_return=episode_return, epsilon=epsilon)
                obs, _ = env.reset()
                episode_return = 0.0

            if step > config.learning_starts and step % config.train_frequency == 0:
                if config.anneal_lr:
                    optimizer.param_groups[0]["lr"] = config.learning_rate * (
                        1.0 - step / config.total_steps
                    )
                for _ in range(config.gradient_steps):
                    n_updates += 1
                    b_obs, b_actions, b_rewards, b_next_obs, b_terminated = buffer.sample(
                        config.batch_size
                    )
                    with torch.no_grad():
                        next_q_values = target_network(b_next_obs)  # (batch, n_actions)
                        if config.double_dqn:
                            targets = double_dqn_td_target(
                                b_rewards,
                                next_q_values,
                                q_network(b_next_obs),
                                b_terminated,
                                config.gamma,
                            )
                        else:
                            targets = td_target(
                                b_rewards, next_q_values, b_terminated, config.gamma
                            )
                    q_taken = q_network(b_obs).gather(-1, b_actions[:, None]).squeeze(-1)
                    loss = F.smooth_l1_loss(q_taken, targets)  # Huber loss of the td_error
                    check_finite_loss("td_loss", loss, n_updates, checkpoint)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(q_network.parameters(), config.max_grad_norm)
                    optimizer.step()
                    td_loss, q_mean = loss.item(), q_taken.mean().item()
            if step % config.target_update_interval == 0:
                target_network.load_state_dict(q_network.state_dict())
            if step % 1000 == 0 and td_loss is not None:
                history.log(env_steps=step, td_loss=td_loss, q_mean=q_mean)
            if config.checkpoint_dir and step % config.checkpoint_every == 0:
                checkpoint = str(save_agent_checkpoint(agent, config.checkpoint_dir, step))
            if config.eval_every is not None and step % config.eval_every == 0:
                validate(step)
            if callback is not None and step % callback_every == 0:
                if callback(agent, step) is False:
                    break
    finally:
        env.close()
    if config.eval_every is not None:
        if step % config.eval_every != 0:
            validate(step)  # the final weights compete too
        q_network.load_state_dict(best_weights)
    agent.eval()
    return TrainResult(agent, history)


__all__ = [
    "DQNConfig",
    "ReplayBuffer",
    "double_dqn_td_target",
    "linear_epsilon",
    "td_target",
    "train",
]
