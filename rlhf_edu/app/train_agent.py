"""``rlhf-edu train agent ALGO``: train a neural agent, save it with its history and a plot."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from rlhf_edu.neural import ALGORITHMS
from rlhf_edu.neural.evaluation import evaluate
from rlhf_edu.utils.history import require_tensorboard
from rlhf_edu.utils.progress import progress

CONFIGS = {
    "ppo": "PPOConfig",
    "dqn": "DQNConfig",
    "a2c": "ActorCriticConfig",
    "reinforce": "ReinforceConfig",
}


@contextlib.contextmanager
def env_steps_bar(total_steps: int, desc: str) -> Iterator[Callable[[object, int], None]]:
    """A progress bar over env steps; yields the ``callback(agent, env_steps)`` that moves it."""
    bar = progress(total=total_steps, desc=desc, unit="step")
    done = 0

    def callback(agent: object, env_steps: int) -> None:
        nonlocal done
        bar.update(env_steps - done)
        done = env_steps

    try:
        yield callback
    finally:
        bar.close()


def check_env_id(env_id: str) -> str:
    """``env_id`` if gymnasium knows it (the course's ``rlhf_edu/...`` ids included), else a
    one-line ``ValueError``."""
    import gymnasium as gym

    import rlhf_edu.envs  # noqa: F401  (registers the rlhf_edu/... ids)

    try:
        gym.spec(env_id)
    except gym.error.Error as err:
        raise ValueError(f"--env {env_id!r} is not a gymnasium environment id: {err}") from None
    return env_id


def run_train_agent(args: argparse.Namespace) -> int:
    """Train ``args.algo`` on ``args.env`` for ``args.steps`` env steps; write agent.pt,
    history.csv and learning_curve.png to ``args.out``; print the evaluation return."""
    from rlhf_edu.viz import save_figure
    from rlhf_edu.viz.neural import plot_training_curve

    if args.algo not in ALGORITHMS:
        raise ValueError(f"algo must be one of {sorted(ALGORITHMS)}, got {args.algo!r}")
    check_env_id(args.env)
    tensorboard_dir = getattr(args, "tensorboard", None)
    if tensorboard_dir is not None:
        require_tensorboard()  # fail now, not after the training run
    module = ALGORITHMS[args.algo]
    config = getattr(module, CONFIGS[args.algo])()
    if args.steps is not None:
        config = dataclasses.replace(config, total_steps=args.steps)
    safe_env = re.sub(r"[^A-Za-z0-9_.-]+", "_", args.env)
    out = Path(args.out) if args.out else Path("runs") / f"{args.algo}-{safe_env}-seed{args.seed}"
    print(
        f"training {args.algo} on {args.env} for {config.total_steps} env steps (seed {args.seed})"
    )
    start = time.perf_counter()
    with env_steps_bar(config.total_steps, f"{args.algo} on {args.env}") as callback:
        result = module.train(args.env, config, seed=args.seed, callback=callback)
    seconds = time.perf_counter() - start
    eval_return = evaluate(result.agent, args.env, n_episodes=20, seed=10_000 + args.seed)
    agent_path = result.agent.save(out / "agent.pt")
    result.history.to_csv(out / "history.csv")
    rows = [r for r in result.history if r.get("episode_return") is not None]
    fig = plot_training_curve(
        [r["env_steps"] for r in rows],
        [r["episode_return"] for r in rows],
        title=f"{args.algo.upper()} on {args.env} (seed {args.seed})",
    )
    save_figure(fig, out / "learning_curve.png")
    if tensorboard_dir is not None:
        result.history.to_tensorboard(tensorboard_dir)
        print(f"tensorboard: {tensorboard_dir} (tensorboard --logdir {tensorboard_dir})")
    print(
        f"trained in {seconds:.1f} s; greedy-policy mean return over 20 episodes: {eval_return:.1f}"
    )
    print(
        f"agent: {agent_path}\nhistory: {out / 'history.csv'}\nplot: {out / 'learning_curve.png'}"
    )
    return 0
