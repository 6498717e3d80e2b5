"""Proximal Policy Optimization (Schulman et al. 2017) with GAE, on gymnasium vector envs.

Each update collects ``n_steps`` steps from each of ``n_envs`` envs with the current policy
``pi_old`` (the action ``A_t`` taken in ``S_t`` is followed by the reward ``R_{t+1}``; in code
``rewards[t]`` holds ``R_{t+1}``), computes advantages ``A_t`` and lambda-returns
``G_t = A_t + V_old(S_t)`` with GAE (``rlhf_edu.neural.returns``), and then takes ``n_epochs``
passes of minibatch gradient steps (``ppo_update``) on

    logprob_ratio       rho_t = pi(a_t | s_t) / pi_old(a_t | s_t)
    clipped_objective   L_clip = E[ min(rho_t A_t, clip(rho_t, 1 - eps, 1 + eps) A_t) ]
    value_loss          L_V = 0.5 * E[(V(s_t) - G_t)^2]
    loss = -L_clip + value_coef * L_V - entropy_coef * E[H(pi(. | s_t))]

so the squared error ``E[(V - G)^2]`` has weight ``value_coef / 2`` in the loss (CleanRL's
convention; with the default ``value_coef = 0.5``, a weight of 0.25). ``pi_old``'s log-probs are
constants: they come from the rollout, computed without gradient.

The clip removes the *incentive* to move ``rho_t`` outside ``[1 - eps, 1 + eps]`` (the clipped
samples pass no gradient); it does not bound ``rho_t``: the other samples' gradient steps, shared
weights and Adam's momentum still move it, and after many epochs ratios beyond the clip range are
common (``clip_fraction`` in the history counts them). The details that matter (from "The 37
implementation details of PPO"): advantage normalisation per minibatch, orthogonal init, Adam
with eps 1e-5, learning-rate annealing, gradient-norm clipping, optional value clipping, and
bootstrapping truncated episodes from ``V(final_obs)`` (``rlhf_edu.neural.rollout``).

``train(..., parts={"compute_gae": f, "update": g})`` runs the same loop with your own GAE and
minibatch update (notebook 07 passes the student's functions this way).

Defaults follow rl-baselines3-zoo's tuned CartPole-v1 settings (8 envs x 32 steps, 20 epochs,
gamma 0.98, lambda 0.8, learning rate annealed linearly) except for a twice larger learning
rate, 2e-3 instead of 1e-3: the greedy policy first reaches 475 after a median 8,192 env steps
over seeds 0-4 (SB3 with the zoo settings: 20,480; ``benchmarks/neural_vs_sb3.py``), and each of
seeds 0-9 ends at 500 after the 60k-step budget. ``ACROBOT_CONFIG`` holds settings for Acrobot-v1.
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
class PPOConfig:
    """PPO hyperparameters (validated on construction); each field's ``metadata["help"]`` says
    what it sets."""

    total_steps: int = documented(60_000, "env steps of training, all envs together")
    n_envs: int = documented(8, "parallel envs (a gymnasium vector env)")
    n_steps: int = documented(32, "steps per env per update; the batch is n_envs * n_steps")
    n_epochs: int = documented(20, "passes over each batch")
    minibatch_size: int = documented(256, "samples per gradient step; must divide the batch")
    learning_rate: float = documented(2e-3, "Adam learning rate (zoo's 1e-3 doubled; see the docs)")
    anneal_lr: bool = documented(True, "anneal the learning rate linearly to 0 over training")
    gamma: float = documented(0.98, "discount factor")
    gae_lambda: float = documented(0.8, "GAE's lambda: 0 one-step TD advantages, 1 Monte Carlo")
    clip_coef: float = documented(0.2, "PPO's epsilon: the ratio is clipped to [1 - eps, 1 + eps]")
    clip_value_coef: float | None = documented(
        None, "clip V around the rollout's V_old by this too (None: no value clipping)"
    )
    value_coef: float = documented(0.5, "weight of the value loss in the total loss")
    entropy_coef: float = documented(0.0, "weight of the entropy bonus in the total loss")
    max_grad_norm: float = documented(0.5, "clip the gradient norm to this")
    normalize_advantages: bool = documented(True, "normalise the advantages per minibatch")
    target_kl: float | None = documented(
        None,
        "stop an update's remaining epochs once an epoch's mean approx-KL exceeds this "
        "(None: always run n_epochs)",
    )
    hidden_sizes: tuple[int, ...] = documented((64, 64), "widths of the hidden layers of both MLPs")
    activation: str = documented("tanh", "activation of the hidden layers: 'tanh' or 'relu'")
    checkpoint_dir: str | None = documented(
        None, "save the agent here every checkpoint_every updates (None: no checkpoints)"
    )
    checkpoint_every: int = documented(10, "updates between checkpoints")

    def __post_init__(self) -> None:
        for name in ("total_steps", "n_envs", "n_steps", "n_epochs", "minibatch_size"):
            field_int(name, getattr(self, name))
        field_int("checkpoint_every", self.checkpoint_every)
        batch_size = self.n_envs * self.n_steps
        if batch_size % self.minibatch_size != 0:
            raise ValueError(
                f"minibatch_size must divide the batch n_envs * n_steps = {batch_size}, "
                f"got {self.minibatch_size}"
            )
        field_float("learning_rate", self.learning_rate, 0.0, None, low_open=True)
        field_float("gamma", self.gamma, 0.0, 1.0)
        field_float("gae_lambda", self.gae_lambda, 0.0, 1.0)
        field_float("clip_coef", self.clip_coef, 0.0, None, low_open=True)
        if self.clip_value_coef is not None:
            field_float("clip_value_coef", self.clip_value_coef, 0.0, None, low_open=True)
        if self.target_kl is not None:
            field_float("target_kl", self.target_kl, 0.0, None, low_open=True)
        field_float("value_coef", self.value_coef, 0.0)
        field_float("entropy_coef", self.entropy_coef, 0.0)
        field_float("max_grad_norm", self.max_grad_norm, 0.0, None, low_open=True)
        self.hidden_sizes = check_hidden_sizes(self.hidden_sizes)


# Acrobot-v1 (reward -1 per step until the tip swings up; an episode lasts at most 500 steps):
# the credit for swinging up is spread over long episodes, so a longer horizon (gamma 0.99,
# lambda 0.94, as in rl-baselines3-zoo), longer rollouts from more envs, and 4 epochs of 4
# minibatches. Greedy eval mean >= -100 (the usual "solved") on each of seeds 0-4 within the
# budget of 200,000 env steps (benchmarks/neural_results.py --algos ppo-acrobot).
ACROBOT_CONFIG = PPOConfig(
    total_steps=200_000,
    n_envs=16,
    n_steps=128,
    n_epochs=4,
    minibatch_size=512,
    learning_rate=1e-3,
    gamma=0.99,
    gae_lambda=0.94,
)


def clipped_surrogate_loss(
    new_logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    clip_coef: float,
) -> torch.Tensor:
    """``-E[min(rho A, clip(rho, 1 - eps, 1 + eps) A)]`` with ``rho = exp(new - old)`` (a scalar)."""
    logprob_ratio = torch.exp(new_logprobs - old_logprobs)
    unclipped_objective = logprob_ratio * advantages
    clipped_objective = torch.clamp(logprob_ratio, 1.0 - clip_coef, 1.0 + clip_coef) * advantages
    return -torch.min(unclipped_objective, clipped_objective).mean()


def value_loss(
    values: torch.Tensor,
    returns: torch.Tensor,
    old_values: torch.Tensor | None = None,
    clip_coef: float | None = None,
) -> torch.Tensor:
    """``0.5 E[(V - G)^2]`` (a scalar); with ``clip_coef`` (and ``old_values``), the elementwise
    max of that squared error and the one of ``V_clip = V_old + clip(V - V_old, -eps, eps)``,
    PPO's pessimistic value clipping (CleanRL, "The 37 implementation details", detail 9)."""
    squared_error = (values - returns) ** 2
    if clip_coef is not None and old_values is not None:
        clipped_values = old_values + torch.clamp(values - old_values, -clip_coef, clip_coef)
        squared_error = torch.max(squared_error, (clipped_values - returns) ** 2)
    return 0.5 * squared_error.mean()


def categorical_entropy(logits: torch.Tensor) -> torch.Tensor:
    """``H(pi(.|s)) = -sum_a pi(a|s) log pi(a|s)`` per row, from logits ``(N, n_actions)``
    -> ``(N,)``, in nats; computed with ``log_softmax`` so large logits do not overflow."""
    log_pi = torch.log_softmax(logits, dim=-1)
    return -(log_pi.exp() * log_pi).sum(-1)


def normalize_advantages(advantages: torch.Tensor) -> torch.Tensor:
    """``(A - mean(A)) / (std(A) + 1e-8)`` over a minibatch (``std`` Bessel-corrected, torch's
    default); a minibatch of one sample is returned unchanged (its std is undefined)."""
    if advantages.numel() <= 1:
        return advantages
    return (advantages - advantages.mean()) / (advantages.std() + 1e-8)


def first_epoch_policy_loss(
    logits: torch.Tensor, actions: torch.Tensor, advantages: torch.Tensor, clip_coef: float
) -> torch.Tensor:
    """PPO's clipped loss at the first step of an update, where ``pi_old`` is the current policy:
    the old log-probs come from the same forward pass, *detached* (``pi_old`` is a constant).

    logits ``(N, n_actions)``, actions ``(N,)``, advantages ``(N,)`` -> a scalar whose value is
    ``-mean(A)`` and whose gradient is the policy gradient ``-mean(A grad log pi(a | s))``.
    Without the ``detach`` the ratio is ``exp(x - x) = 1`` with a zero gradient: nothing learns.
    """
    log_pi = torch.log_softmax(logits, dim=-1)
    new_logprobs = log_pi.gather(-1, actions[:, None]).squeeze(-1)
    old_logprobs = new_logprobs.detach()
    return clipped_surrogate_loss(new_logprobs, old_logprobs, advantages, clip_coef)


#: The per-minibatch diagnostics that ``train`` averages over an update and logs.
DIAGNOSTICS = (
    "policy_loss",
    "value_loss",
    "entropy",
    "approx_kl",
    "clip_fraction",
    "value_clip_fraction",
)


# -- diagnostics, as CleanRL and TRL report them (mask: 1 where a position counts, e.g. a token) --


def _mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return values.mean()
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1)


def approx_kl(log_ratio: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """``mean((rho - 1) - log rho)`` with ``log rho = log pi - log pi_old``: the k3 estimator of
    ``KL(pi_old || pi)`` from samples of ``pi_old`` (Schulman 2020), unbiased and never negative."""
    with torch.no_grad():
        return float(_mean(torch.expm1(log_ratio) - log_ratio, mask))


def clip_fraction(
    log_ratio: torch.Tensor, clip_coef: float, mask: torch.Tensor | None = None
) -> float:
    """The fraction of samples whose ratio ``rho`` lies outside ``[1 - eps, 1 + eps]`` (clipped)."""
    with torch.no_grad():
        return float(_mean(((log_ratio.exp() - 1).abs() > clip_coef).float(), mask))


def value_clip_fraction(
    values: torch.Tensor,
    old_values: torch.Tensor,
    clip_coef: float | None,
    mask: torch.Tensor | None = None,
) -> float:
    """The fraction of samples whose value moved further than ``clip_coef`` from the rollout's
    value ``V_old`` (0 without value clipping)."""
    if clip_coef is None:
        return 0.0
    with torch.no_grad():
        return float(_mean(((values - old_values).abs() > clip_coef).float(), mask))


def explained_variance(
    values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor | None = None
) -> float:
    """``1 - Var(R - V) / Var(R)``: 1 for a perfect critic, 0 for one that predicts the mean,
    negative for a worse one; NaN when the returns do not vary."""
    with torch.no_grad():
        values, returns = values.detach().double(), returns.detach().double()
        var_returns = _mean((returns - _mean(returns, mask)) ** 2, mask)
        errors = returns - values
        var_errors = _mean((errors - _mean(errors, mask)) ** 2, mask)
        if float(var_returns) == 0.0:
            return float("nan")
        return float(1.0 - var_errors / var_returns)


#: The keys of a flattened batch (``ppo_update``'s ``batch``), each a tensor with ``batch_size``
#: rows: observations ``(B, obs_dim)``, then ``(B,)`` each.
BATCH_KEYS = ("obs", "actions", "logprobs", "values", "advantages", "returns")


def ppo_update(
    net: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: dict[str, torch.Tensor],
    config: PPOConfig,
    generator: torch.Generator,
) -> dict[str, list[float]]:
    """PPO's update on one rollout: ``n_epochs`` passes, each over a fresh random permutation of
    the batch cut into minibatches of ``minibatch_size``; one Adam step per minibatch.

    Per minibatch (indices ``mb``): log-probs and entropies from ``net.logits(obs[mb])``;
    advantages normalised over the minibatch (if ``config.normalize_advantages``); loss
    ``clipped_surrogate_loss + value_coef * value_loss(V, G, V_old, clip_value_coef)
    - entropy_coef * mean entropy``; gradient norm clipped to ``max_grad_norm``; a step.
    Stops the remaining epochs once an epoch's mean approx-KL exceeds ``config.target_kl``.

    RNG: exactly one ``torch.randperm(batch_size, generator=generator)`` per epoch, nothing else,
    so a seeded generator makes the update deterministic.

    Args:
        net: an ``ActorCritic`` (``net.logits(obs)`` ``(B, n_actions)``, ``net.value(obs)`` ``(B,)``).
        optimizer: the optimizer over ``net``'s parameters (its learning rate already set).
        batch: ``BATCH_KEYS`` -> tensors with ``batch_size`` rows, from the rollout (no gradient).
        config: the ``PPOConfig`` whose update fields are read.
        generator: the torch generator of the minibatch permutations.

    Returns:
        per-minibatch diagnostics, each computed from its forward pass before its step:
        ``{name: [one float per minibatch]}`` for the names in ``DIAGNOSTICS``.
    """
    batch_size = int(batch["actions"].shape[0])
    diagnostics: dict[str, list[float]] = {k: [] for k in DIAGNOSTICS}
    n_minibatches = max(1, batch_size // config.minibatch_size)
    for _epoch in range(config.n_epochs):
        order = torch.randperm(batch_size, generator=generator)
        for start in range(0, batch_size, config.minibatch_size):
            mb = order[start : start + config.minibatch_size]
            logits = net.logits(batch["obs"][mb])
            new_logprobs = torch.log_softmax(logits, dim=-1).gather(-1, batch["actions"][mb, None])
            new_logprobs = new_logprobs.squeeze(-1)
            advantages = batch["advantages"][mb]
            if config.normalize_advantages:
                advantages = normalize_advantages(advantages)
            policy_loss = clipped_surrogate_loss(
                new_logprobs, batch["logprobs"][mb], advantages, config.clip_coef
            )
            new_values = net.value(batch["obs"][mb])
            critic_loss = value_loss(
                new_values, batch["returns"][mb], batch["values"][mb], config.clip_value_coef
            )
            entropy = categorical_entropy(logits).mean()
            loss = policy_loss + config.value_coef * critic_loss - config.entropy_coef * entropy
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), config.max_grad_norm)
            optimizer.step()
            log_ratio = (new_logprobs - batch["logprobs"][mb]).detach()
            diagnostics["policy_loss"].append(policy_loss.item())
            diagnostics["value_loss"].append(critic_loss.item())
            diagnostics["entropy"].append(entropy.item())
            diagnostics["approx_kl"].append(approx_kl(log_ratio))
            diagnostics["clip_fraction"].append(clip_fraction(log_ratio, config.clip_coef))
            diagnostics["value_clip_fraction"].append(
                value_clip_fraction(new_values, batch["values"][mb], config.clip_value_coef)
            )
        epoch_kl = float(np.mean(diagnostics["approx_kl"][-n_minibatches:]))
        if config.target_kl is not None and epoch_kl > config.target_kl:
            break  # CleanRL's early stop: the policy moved far enough from pi_old
    return diagnostics


#: What ``train``'s ``parts`` may replace, and the library's versions.
PARTS = ("compute_gae", "update")


def check_parts(parts: dict[str, Callable] | None) -> dict[str, Callable]:
    """``parts`` with the library's defaults filled in; raise on an unknown name or a non-callable."""
    defaults: dict[str, Callable] = {"compute_gae": compute_gae, "update": ppo_update}
    if parts is None:
        return defaults
    if not isinstance(parts, dict):
        raise TypeError(f"parts must be a dict of {PARTS} -> callables, got {type(parts).__name__}")
    for name, fn in parts.items():
        if name not in defaults:
            raise ValueError(f"parts: unknown part {name!r}; allowed: {', '.join(PARTS)}")
        if not callable(fn):
            raise TypeError(f"parts[{name!r}] must be callable, got {type(fn).__name__}")
    return {**defaults, **parts}


def mean_or_nan(values: list[float] | None) -> float:
    """The mean of a diagnostic's per-minibatch values; NaN when there are none."""
    return float(np.mean(values)) if values else float("nan")


def train(
    env_id: str,
    config: PPOConfig | None = None,
    seed: int = 0,
    callback: Callable[[PolicyAgent, int], bool | None] | None = None,
    parts: dict[str, Callable] | None = None,
) -> TrainResult:
    """Train a PPO agent on ``env_id``.

    Args:
        env_id: a gymnasium id with flat Box observations and Discrete actions.
        config: hyperparameters (``PPOConfig()`` by default).
        seed: seeds torch, the envs (env ``i`` gets ``seed + i``) and action sampling.
        callback: called as ``callback(agent, env_steps)`` after every update; return ``False``
            to stop training early (used by the benchmark to evaluate on a schedule).
        parts: replace pieces of the loop by your own functions, with the library's signatures:
            ``"compute_gae"`` (``rlhf_edu.neural.returns.compute_gae``) and ``"update"``
            (``ppo_update``; the diagnostics it does not return are logged as NaN).

    Returns:
        ``TrainResult(agent, history)``; history rows per update: ``env_steps``, ``update``,
        ``episode_return`` (mean of the training episodes that ended), then the diagnostics
        CleanRL logs, each averaged over every minibatch of the update (computed from its forward
        pass, before its optimizer step): ``policy_loss``, ``value_loss``, ``entropy``,
        ``approx_kl`` (the k3 estimate of KL(pi_old || pi)), ``clip_fraction``,
        ``value_clip_fraction``; ``explained_variance`` of the returns by the rollout's values;
        and ``learning_rate``.
    """
    config = PPOConfig() if config is None else config
    if not isinstance(config, PPOConfig):
        raise TypeError(f"config must be a PPOConfig, got {type(config).__name__}")
    parts = check_parts(parts)
    seed = seed_everything(seed)
    obs_dim, n_actions = env_spaces(env_id, "PPO")
    agent = PolicyAgent(
        obs_dim,
        n_actions,
        config.hidden_sizes,
        config.activation,
        env_id=env_id,
        config=config_to_dict(config),
        algo="ppo",
    )
    net = agent.net
    optimizer = make_adam(net.parameters(), config.learning_rate, eps=1e-5)
    envs = make_vec_env(env_id, config.n_envs, seed)
    obs, _ = envs.reset(seed=seed)
    stats = EpisodeStats(config.n_envs)
    history = History()
    batch_size = config.n_envs * config.n_steps
    n_updates = max(1, config.total_steps // batch_size)
    generator = torch.Generator().manual_seed(seed)
    checkpoint: str | None = None
    env_steps = 0
    try:
        for update in range(1, n_updates + 1):
            learning_rate = config.learning_rate
            if config.anneal_lr:
                learning_rate *= 1.0 - (update - 1) / n_updates
                optimizer.param_groups[0]["lr"] = learning_rate
            rollout, obs = collect_rollout(envs, net, obs, config.n_steps, config.gamma, stats)
            env_steps += batch_size
            with torch.no_grad():
                advantages, returns = parts["compute_gae"](
                    rollout.rewards,
                    rollout.values,
                    rollout.dones,
                    rollout.last_value,
                    config.gamma,
                    config.gae_lambda,
                )
            batch = {
                "obs": rollout.obs.reshape(batch_size, obs_dim),
                "actions": rollout.actions.reshape(batch_size),
                "logprobs": rollout.logprobs.reshape(batch_size),
                "values": rollout.values.reshape(batch_size),
                "advantages": advantages.reshape(batch_size),
                "returns": returns.reshape(batch_size),
            }
            # a NaN/inf reward makes the targets, and so both losses, NaN: stop before any step
            for name, targets in (("value_loss", batch["returns"]), ("policy_loss", advantages)):
                check_finite_loss(name, targets.sum(), update, checkpoint)
            diagnostics = parts["update"](net, optimizer, batch, config, generator)
            for name in ("policy_loss", "value_loss"):  # a loss that diverged during the epochs
                losses = torch.tensor(diagnostics.get(name, []), dtype=torch.float64)
                check_finite_loss(name, losses.sum(), update, checkpoint)
            episode_returns = [ret for ret, _ in rollout.episodes]
            history.log(
                env_steps=env_steps,
                update=update,
                episode_return=float(np.mean(episode_returns)) if episode_returns else None,
                **{k: mean_or_nan(diagnostics.get(k)) for k in DIAGNOSTICS},  # every minibatch
                explained_variance=explained_variance(batch["values"], batch["returns"]),
                learning_rate=learning_rate,
            )
            if config.checkpoint_dir and update % config.checkpoint_every == 0:
                checkpoint = str(save_agent_checkpoint(agent, config.checkpoint_dir, env_steps))
            if callback is not None and callback(agent, env_steps) is False:
                break
    finally:
        envs.close()
    agent.eval()
    return TrainResult(agent, history)


__all__ = [
    "ACROBOT_CONFIG",
    "BATCH_KEYS",
    "DIAGNOSTICS",
    "PARTS",
    "PPOConfig",
    "approx_kl",
    "categorical_entropy",
    "check_parts",
    "clip_fraction",
    "clipped_surrogate_loss",
    "explained_variance",
    "first_epoch_policy_loss",
    "normalize_advantages",
    "ppo_update",
    "train",
    "value_clip_fraction",
    "value_loss",
]
