"""The neural track's part of ``rlhf-edu demo``: PPO learns CartPole-v1 in well under a minute."""

from __future__ import annotations

import time
from pathlib import Path

from rlhf_edu.app.train_agent import env_steps_bar
from rlhf_edu.neural import ppo
from rlhf_edu.neural.evaluation import evaluate


def run(out_dir: Path, seed: int) -> dict:
    """Train PPO on CartPole-v1, write ``neural_ppo_cartpole.png``, return the summary entry."""
    from rlhf_edu.viz import save_figure
    from rlhf_edu.viz.neural import plot_training_curve

    config = ppo.PPOConfig()  # 60k env steps, about 10 s on one core
    start = time.perf_counter()
    with env_steps_bar(config.total_steps, "PPO on CartPole-v1") as callback:
        result = ppo.train("CartPole-v1", config, seed=seed, callback=callback)
    seconds = time.perf_counter() - start
    eval_return = evaluate(result.agent, "CartPole-v1", n_episodes=20, seed=10_000 + seed)
    rows = [r for r in result.history if r.get("episode_return") is not None]
    fig = plot_training_curve(
        [r["env_steps"] for r in rows],
        [r["episode_return"] for r in rows],
        target=500.0,
        title=f"PPO on CartPole-v1 (seed {seed}): greedy eval {eval_return:.0f}",
    )
    save_figure(fig, Path(out_dir) / "neural_ppo_cartpole.png")
    return {
        "cartpole_eval_return": float(eval_return),
        "env_steps": int(result.history.last("env_steps")),
        "seconds": round(seconds, 2),
    }
