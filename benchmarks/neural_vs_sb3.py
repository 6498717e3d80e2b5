"""Ours vs Stable-Baselines3 on CartPole-v1: PPO and DQN, same seeds, same machine, one run.

    .venv/bin/python benchmarks/neural_vs_sb3.py            # 5 seeds, PPO and DQN
    .venv/bin/python benchmarks/neural_vs_sb3.py --seeds 2 --algos ppo

(in a venv with the ``bench`` extra: ``.venv/bin/pip install -c constraints/cpu.txt -e ".[dev,bench]"``)

SB3 runs with rl-baselines3-zoo's tuned CartPole-v1 hyperparameters; ours with its defaults.
Both use one torch thread. Every 2,048 env steps the deterministic policy is evaluated on the same
20 fixed-seed episodes (seeds 1000..1019); evaluation time is excluded from the training
wall-clock. Reported per algorithm and library: fraction of seeds that solve (eval mean >= 475),
median env steps and training seconds to solve, final eval return. Writes
benchmarks/results/neural_vs_sb3.md and neural_vs_sb3.png and prints the ratios.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from rlhf_edu.neural import dqn, ppo
from rlhf_edu.neural.agent import Agent
from rlhf_edu.neural.evaluation import evaluate
from rlhf_edu.utils import seed_everything

ENV_ID = "CartPole-v1"
SOLVED = 475.0
EVAL_SEED = 1000
N_EVAL = 20


class Clock:
    """Training wall-clock with evaluation time subtracted, and the eval curve."""

    def __init__(self, eval_every: int) -> None:
        self.eval_every = eval_every
        self.next_eval = eval_every
        self.start = time.perf_counter()
        self.eval_seconds = 0.0
        self.curve: list[tuple[int, float]] = []
        self.solved_at: tuple[int, float] | None = None

    def train_seconds(self) -> float:
        return time.perf_counter() - self.start - self.eval_seconds

    def maybe_evaluate(self, agent: Agent, env_steps: int) -> None:
        if env_steps < self.next_eval:
            return
        while self.next_eval <= env_steps:
            self.next_eval += self.eval_every
        elapsed = self.train_seconds()
        t0 = time.perf_counter()
        value = evaluate(agent, ENV_ID, N_EVAL, EVAL_SEED)
        self.eval_seconds += time.perf_counter() - t0
        self.curve.append((env_steps, value))
        if value >= SOLVED and self.solved_at is None:
            self.solved_at = (env_steps, elapsed)


class SB3Policy(Agent):
    """An SB3 model behind our Agent interface, so both are evaluated by the same code."""

    def __init__(self, model) -> None:
        super().__init__(4, 2, (1,), "tanh", env_id=ENV_ID)
        self.model = model

    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        return self.model.predict(obs, deterministic=deterministic)[0]


def run_ours(algo: str, seed: int, eval_every: int) -> dict:
    clock = Clock(eval_every)

    def callback(agent, env_steps):
        clock.maybe_evaluate(agent, env_steps)

    if algo == "ppo":
        result = ppo.train(ENV_ID, ppo.PPOConfig(), seed=seed, callback=callback)
    else:
        result = dqn.train(
            ENV_ID, dqn.DQNConfig(), seed=seed, callback=callback, callback_every=256
        )
    total = clock.train_seconds()
    return finish(clock, result.agent, total)


def run_sb3(algo: str, seed: int, eval_every: int) -> dict:
    from stable_baselines3 import DQN, PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    clock = Clock(eval_every)

    class EvalCallback(BaseCallback):
        def _on_step(self) -> bool:
            clock.maybe_evaluate(SB3Policy(self.model), self.num_timesteps)
            return True

    def linear(start: float):
        return lambda progress_remaining: progress_remaining * start

    if algo == "ppo":
        env = make_vec_env(ENV_ID, n_envs=8, seed=seed)
        model = PPO(
            "MlpPolicy",
            env,
            n_steps=32,
            batch_size=256,
            gae_lambda=0.8,
            gamma=0.98,
            n_epochs=20,
            ent_coef=0.0,
            learning_rate=linear(1e-3),
            clip_range=linear(0.2),
            seed=seed,
            device="cpu",
            verbose=0,
        )
        steps = 100_000
    else:
        env = make_vec_env(ENV_ID, n_envs=1, seed=seed)
        model = DQN(
            "MlpPolicy",
            env,
            learning_rate=2.3e-3,
            batch_size=64,
            buffer_size=100_000,
            learning_starts=1000,
            gamma=0.99,
            target_update_interval=10,
            train_freq=256,
            gradient_steps=128,
            exploration_fraction=0.16,
            exploration_final_eps=0.04,
            policy_kwargs={"net_arch": [256, 256]},
            seed=seed,
            device="cpu",
            verbose=0,
        )
        steps = 50_000
    clock.start = time.perf_counter()
    model.learn(steps, callback=EvalCallback())
    total = clock.train_seconds()
    return finish(clock, SB3Policy(model), total)


def finish(clock: Clock, agent: Agent, total_seconds: float) -> dict:
    final = evaluate(agent, ENV_ID, N_EVAL, EVAL_SEED)
    return {
        "solved": clock.solved_at is not None,
        "steps_to_solve": clock.solved_at[0] if clock.solved_at else None,
        "seconds_to_solve": clock.solved_at[1] if clock.solved_at else None,
        "final_return": final,
        "train_seconds": total_seconds,
        "curve": clock.curve,
    }


def median_or_none(values: list[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--algos", default="ppo,dqn")
    parser.add_argument("--eval-every", type=int, default=2048)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    # One-time costs out of the first seed's clock: seed_everything's first call imports the part of
    # torch that use_deterministic_algorithms needs (seconds), SB3's import is outside its clock too.
    seed_everything(0)
    torch.set_num_threads(1)
    results: dict[tuple[str, str], list[dict]] = {}
    for algo in args.algos.split(","):
        for seed in range(args.seeds):
            for lib, runner in (("ours", run_ours), ("sb3", run_sb3)):
                run = runner(algo, seed, args.eval_every)
                results.setdefault((algo, lib), []).append(run)
                print(
                    f"{algo} {lib:4} seed {seed}: solved at {run['steps_to_solve']} steps / "
                    f"{fmt(run['seconds_to_solve'])} s, final {run['final_return']:.1f}, "
                    f"train {run['train_seconds']:.1f} s",
                    flush=True,
                )
    lines = [
        f"# Ours vs Stable-Baselines3 on {ENV_ID} ({args.seeds} seeds, 1 torch thread)",
        "",
        f"Solved: deterministic policy's mean return over {N_EVAL} fixed-seed episodes >= "
        f"{SOLVED:g}, evaluated every {args.eval_every} env steps (eval time excluded).",
        "",
        "| algo | library | solved | median steps to solve | median train s to solve | "
        "median final return | mean total train s |",
        "|---|---|---|---|---|---|---|",
    ]
    summary = {}
    for (algo, lib), runs in results.items():
        steps = median_or_none([r["steps_to_solve"] for r in runs])
        seconds = median_or_none([r["seconds_to_solve"] for r in runs])
        solved = sum(r["solved"] for r in runs)
        summary[(algo, lib)] = seconds
        lines.append(
            f"| {algo} | {lib} | {solved}/{len(runs)} | {fmt(steps, 0)} | {fmt(seconds)} | "
            f"{statistics.median(r['final_return'] for r in runs):.1f} | "
            f"{np.mean([r['train_seconds'] for r in runs]):.1f} |"
        )
    lines.append("")
    for algo in args.algos.split(","):
        ours, sb3 = summary.get((algo, "ours")), summary.get((algo, "sb3"))
        if ours is not None and sb3 is not None:
            ratio = f"{ours / sb3:.2f}"
        else:
            ratio = "n/a (a library solved no seed)"
        lines.append(f"- {algo}: median time-to-solve ours / SB3 = {ratio}")
    text = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "neural_vs_sb3.md").write_text(text)
    print(text)
    plot(results, args.out / "neural_vs_sb3.png")
    print(f"wrote {args.out / 'neural_vs_sb3.md'} and {args.out / 'neural_vs_sb3.png'}")
    return 0


def plot(results: dict[tuple[str, str], list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rlhf_edu.viz import plot_learning_curves, save_figure

    algos = sorted({algo for algo, _ in results})
    fig, axes = plt.subplots(1, len(algos), figsize=(6 * len(algos), 4), squeeze=False)
    for ax, algo in zip(axes[0], algos):
        curves, xs = {}, {}
        for lib in ("ours", "sb3"):
            runs = results.get((algo, lib), [])
            if not runs or not all(r["curve"] for r in runs):
                continue
            n = max(len(r["curve"]) for r in runs)
            grid = max((r["curve"] for r in runs), key=len)
            values = [[v for _, v in r["curve"]] for r in runs]
            curves[lib] = np.array([v + [v[-1]] * (n - len(v)) for v in values])
            xs[lib] = np.array([s for s, _ in grid])
        if curves:
            plot_learning_curves(
                curves,
                x=xs,
                xlabel="env steps",
                ylabel="eval return (20 episodes)",
                title=f"{algo.upper()} on {ENV_ID}",
                hline=SOLVED,
                ax=ax,
            )
    save_figure(fig, path)


if __name__ == "__main__":
    raise SystemExit(main())
