"""``rlhf-edu demo``: a short tour of the three tracks on the CPU.

Each track contributes a ``run(out_dir, seed) -> dict`` function that trains something small,
writes its plots into ``out_dir`` and returns its headline numbers. This module runs them in
order, writes ``summary.json`` ({"tabular": ..., "neural": ..., "rlhf": ...}) with
``summary_keys.md`` beside it (what each number means), and prints every file it wrote.

Duration on a 2-core CPU, once the tiny GPT-2 and the default reward model are in the cache:
3 to 6 minutes (measured on a busy machine: tabular 18 s, neural 58 s, RLHF 266 s, 342 s in
all). The first run builds those two models first, which adds a few minutes.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from rlhf_edu.utils.checkpoint import atomic_write_bytes
from rlhf_edu.utils.seeding import check_seed

#: track -> the modules whose ``run(out_dir, seed)`` results are merged into that track's entry.
TRACKS: dict[str, tuple[str, ...]] = {
    "tabular": ("rlhf_edu.app.demo_tabular",),
    "neural": ("rlhf_edu.app.demo_neural",),
    "rlhf": ("rlhf_edu.app.demo_reward_model", "rlhf_edu.app.demo_ppo"),
}


#: What each number of summary.json means ("track.key" or "track.group.key"; <setting> is
#: "adaptive_KL" or "no_KL_penalty").
SUMMARY_KEYS: dict[str, str] = {
    "tabular.frozenlake8x8_success": "probability that Q-learning's greedy policy reaches the goal "
    "of slippery FrozenLake8x8 within the 200-step time limit (computed exactly from the MDP)",
    "tabular.frozenlake8x8_optimal_success": "the best success probability any policy can reach "
    "within 200 steps (backward induction): the dashed line of the training plot",
    "tabular.frozenlake8x8_value_iteration_success": "success within 200 steps of value "
    "iteration's greedy policy (gamma 0.995)",
    "tabular.frozenlake8x8_success_estimate_1000_episodes": "the learned policy's success rate "
    "measured by playing 1000 episodes (close to frozenlake8x8_success)",
    "tabular.frozenlake8x8_training_steps": "env steps Q-learning took over its 60,000 episodes",
    "tabular.cliff_online_return_sarsa": "mean return of SARSA's training episodes 100-500 on "
    "CliffWalking (epsilon 0.1): the safe path pays off while exploring",
    "tabular.cliff_online_return_q_learning": "the same for Q-learning, which learns the optimal "
    "edge path and falls off it while exploring (S&B Figure 6.4)",
    "tabular.horizon": "the time limit (steps) the success probabilities are computed for",
    "neural.cartpole_eval_return": "mean return of PPO's greedy policy over 20 CartPole-v1 "
    "episodes (500 is the maximum)",
    "neural.env_steps": "env steps PPO trained for",
    "neural.seconds": "wall-clock seconds of PPO's training",
    "rlhf.reward_model.accuracy": "the default reward model's pairwise accuracy on held-out "
    "pairs (the left bar of rlhf_reward_model_accuracy.png)",
    "rlhf.reward_model.expected_accuracy": "its accuracy averaged over the labeler's noise "
    "(the right bar)",
    "rlhf.reward_model.bayes_optimal_accuracy": "the accuracy of the labeler's true utility "
    "itself on noisy labels: the ceiling (dashed line) no model can beat on average",
    "rlhf.reward_model.n_pairs": "preference pairs the reward model was trained on",
    "rlhf.reward_model.n_eval_pairs": "held-out pairs the accuracies are measured on",
    "rlhf.reward_model.labeler": "the synthetic labeler and its Bradley-Terry temperature",
    "rlhf.reward_model.reward_utility_correlation": "correlation of learned reward and true "
    "utility on fresh responses (reward_vs_utility.png)",
    "rlhf.ppo.true_utility_before": "mean true utility of the tiny GPT-2's responses to 64 "
    "held-out prompts before PPO (the dashed line of rlhf_utility_vs_kl.png)",
    "rlhf.ppo.true_utility_after": "the same after the demo's PPO run (adaptive KL penalty)",
    "rlhf.ppo.reward_before": "mean reward-model score of those responses before PPO",
    "rlhf.ppo.reward_after": "the same after PPO",
    "rlhf.ppo.kl": "KL(policy || reference) in nats per response after PPO, held-out prompts",
    "rlhf.ppo.updates": "PPO updates of the demo run",
    "rlhf.reward_hacking.<setting>.reward_after": "mean over seeds of the stored 60-update runs' "
    "held-out reward-model score after training (markers of rlhf_reward_hacking.png)",
    "rlhf.reward_hacking.<setting>.true_utility_after": "the same for the true utility",
    "rlhf.reward_hacking.<setting>.kl_after": "the same for KL(policy || reference), nats",
    "rlhf.reward_hacking.seeds": "seeds of the stored runs (rlhf_edu/data/ppo_curves.json)",
    "rlhf.reward_hacking.updates": "PPO updates of each stored run",
    "<track>.demo_seconds": "wall-clock seconds the track's part of the demo took",
}


def _documented_key(path: str) -> str | None:
    """The ``SUMMARY_KEYS`` entry that explains ``path`` ("rlhf.ppo.kl"), if any."""
    parts = path.split(".")
    candidates = [
        path,
        ".".join(["<track>", *parts[1:]]),
        ".".join([*parts[:2], "<setting>", *parts[3:]]) if len(parts) == 4 else "",
    ]
    return next((SUMMARY_KEYS[c] for c in candidates if c in SUMMARY_KEYS), None)


def summary_leaves(summary: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``("rlhf.ppo.kl", 0.91)`` for every number or string in a summary, in order."""
    leaves = []
    for key, value in summary.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            leaves.extend(summary_leaves(value, path + "."))
        else:
            leaves.append((path, value))
    return leaves


def describe_summary(summary: dict[str, Any]) -> str:
    """Markdown that explains every key of ``summary`` (written as summary_keys.md)."""
    lines = ["# What the numbers in summary.json mean", ""]
    for path, value in summary_leaves(summary):
        lines.append(f"- `{path}` = {value}: {_documented_key(path) or 'undocumented'}")
    return "\n".join(lines) + "\n"


def default_out_dir() -> Path:
    return Path("runs") / f"demo-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def prepare_out_dir(out_dir: Path) -> Path:
    """Create the run folder, or raise a clear error if it can't be written."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"--out {out_dir} exists and is not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise PermissionError(
            f"cannot create output folder {out_dir}: {err.strerror or err}"
        ) from err
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise PermissionError(f"output folder {out_dir} is not writable")
    return out_dir


def _track_runner(module_name: str) -> Callable[[Path, int], dict[str, Any]] | None:
    """The ``run`` function of a track's demo module, or None if this version doesn't ship it."""
    if importlib.util.find_spec(module_name) is None:
        return None
    return importlib.import_module(module_name).run


def run_tracks(out_dir: Path, seed: int, tracks: list[str]) -> dict[str, Any]:
    """Run the demo of each named track; return the summary (also written to summary.json)."""
    seed = check_seed(seed)
    unknown = [t for t in tracks if t not in TRACKS]
    if unknown:
        raise ValueError(f"unknown track(s) {unknown}; known tracks: {', '.join(TRACKS)}")
    out_dir = prepare_out_dir(out_dir)
    summary: dict[str, Any] = {}
    for track in tracks:
        entry: dict[str, Any] = {}
        start = time.perf_counter()
        for module_name in TRACKS[track]:
            runner = _track_runner(module_name)
            if runner is None:
                print(f"[{track}] {module_name} is not part of this version yet; skipped")
                continue
            print(f"[{track}] running {module_name} ...", flush=True)
            entry.update(runner(out_dir, seed))
        if entry:
            entry.setdefault("demo_seconds", round(time.perf_counter() - start, 1))
            summary[track] = entry
    summary_path = out_dir / "summary.json"
    atomic_write_bytes(
        (json.dumps(summary, indent=2, sort_keys=True) + "\n").encode(), summary_path
    )
    atomic_write_bytes(describe_summary(summary).encode(), out_dir / "summary_keys.md")
    return summary


def run_demo(args: argparse.Namespace) -> int:
    """Entry point of ``rlhf-edu demo``."""
    tracks = [t.strip() for t in args.tracks.split(",") if t.strip()]
    out_dir = args.out if args.out is not None else default_out_dir()
    start, started_at = time.perf_counter(), time.time()
    summary = run_tracks(out_dir, args.seed, tracks)
    print(json.dumps(summary, indent=2, sort_keys=True))
    print(f"\nDemo finished in {time.perf_counter() - start:.0f} s. Files written:")
    written = [p for p in Path(out_dir).rglob("*") if p.is_file()]
    for path in sorted(p for p in written if p.stat().st_mtime >= started_at - 1):
        print(f"  {path}")
    print(f"What each number means: {Path(out_dir) / 'summary_keys.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(run_demo(argparse.Namespace(out=None, seed=0, tracks="tabular,neural,rlhf")))
