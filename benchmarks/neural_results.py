"""The neural track's results table: does each algorithm reach its target on every seed?

    .venv/bin/python benchmarks/neural_results.py                      # all algorithms, 5 seeds
    .venv/bin/python benchmarks/neural_results.py --seeds 2 --algos ppo,a2c

Each algorithm trains with the configuration below for its stated env-step budget, one run per
seed (seeds 0..n-1, one torch thread), and its deterministic (greedy) policy is then evaluated on
the same 20 fixed-seed episodes (seeds 1000..1019). A seed passes when that mean return reaches
the target. Writes benchmarks/results/neural_results.md (per algorithm: budget, per-seed final
evaluation, pass count) and prints it. Rows of algorithms not run this time are kept from the
previous run with the same number of seeds (stored in neural_results.json), so the slow rows can
be rerun one at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rlhf_edu.neural import actor_critic, dqn, ppo, reinforce
from rlhf_edu.neural.agent import TrainResult
from rlhf_edu.neural.evaluation import evaluate
from rlhf_edu.utils import seed_everything

EVAL_SEED = 1000
N_EVAL = 20


@dataclass(frozen=True)
class Task:
    """One row of the table: an algorithm, its env and config, and the target it must reach."""

    label: str
    env_id: str
    train: Callable[..., TrainResult]
    make_config: Callable[[], object]
    target: float
    note: str = ""

    def budget(self) -> int:
        return int(self.make_config().total_steps)


TASKS: dict[str, Task] = {
    "ppo": Task("PPO", "CartPole-v1", ppo.train, ppo.PPOConfig, 475.0, "default PPOConfig"),
    "dqn": Task("DQN", "CartPole-v1", dqn.train, dqn.DQNConfig, 475.0, "default DQNConfig"),
    "a2c": Task(
        "A2C",
        "CartPole-v1",
        actor_critic.train,
        actor_critic.ActorCriticConfig,
        400.0,
        "default ActorCriticConfig",
    ),
    "reinforce": Task(
        "REINFORCE with baseline",
        "CartPole-v1",
        reinforce.train,
        reinforce.ReinforceConfig,
        400.0,
        "default ReinforceConfig (use_baseline=True)",
    ),
    "ppo-acrobot": Task(
        "PPO",
        "Acrobot-v1",
        ppo.train,
        lambda: ppo.ACROBOT_CONFIG,
        -100.0,
        "ppo.ACROBOT_CONFIG",
    ),
}


def run_task(task: Task, seeds: int) -> dict:
    finals, seconds = [], []
    for seed in range(seeds):
        start = time.perf_counter()
        result = task.train(task.env_id, task.make_config(), seed=seed)
        seconds.append(time.perf_counter() - start)
        finals.append(evaluate(result.agent, task.env_id, N_EVAL, EVAL_SEED))
        print(
            f"{task.label} {task.env_id} seed {seed}: eval {finals[-1]:.1f} "
            f"(target {task.target:g}), train {seconds[-1]:.1f} s",
            flush=True,
        )
    return {"finals": finals, "seconds": seconds}


def table(results: dict[str, dict], seeds: int) -> str:
    lines = [
        f"# Neural track results ({seeds} seeds, 1 torch thread)",
        "",
        f"Each seed trains for the stated env-step budget; then the greedy policy's mean return "
        f"over {N_EVAL} fixed-seed episodes (seeds {EVAL_SEED}..{EVAL_SEED + N_EVAL - 1}) is "
        "compared with the target.",
        "",
        "| algorithm | env | config | budget (env steps) | target | eval per seed | passed | "
        "mean train s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, run in results.items():
        task = TASKS[key]
        per_seed = ", ".join(f"{value:.1f}" for value in run["finals"])
        passed = sum(value >= task.target for value in run["finals"])
        mean_seconds = sum(run["seconds"]) / len(run["seconds"])
        lines.append(
            f"| {task.label} | {task.env_id} | {task.note} | {task.budget():,} | "
            f">= {task.target:g} | {per_seed} | {passed}/{len(run['finals'])} | "
            f"{mean_seconds:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--algos", default=",".join(TASKS), help=f"comma-separated, from {', '.join(TASKS)}"
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    algos = [a.strip() for a in args.algos.split(",") if a.strip()]
    unknown = [a for a in algos if a not in TASKS]
    if unknown:
        parser.error(f"unknown --algos {unknown}; choose from {', '.join(TASKS)}")
    if args.seeds < 1:
        parser.error("--seeds must be >= 1")
    os.environ.setdefault("RLHF_EDU_NO_PROGRESS", "1")
    seed_everything(0)  # one torch thread, deterministic algorithms
    args.out.mkdir(parents=True, exist_ok=True)
    store = args.out / "neural_results.json"
    previous = json.loads(store.read_text()) if store.exists() else {}
    results = previous.get("results", {}) if previous.get("seeds") == args.seeds else {}
    for key in algos:
        results[key] = run_task(TASKS[key], args.seeds)
    results = {key: results[key] for key in TASKS if key in results}  # table order
    store.write_text(json.dumps({"seeds": args.seeds, "results": results}, indent=1) + "\n")
    text = table(results, args.seeds)
    path = args.out / "neural_results.md"
    path.write_text(text)
    print(text)
    print(f"wrote {path} and {store}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
