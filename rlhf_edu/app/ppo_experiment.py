"""The RLHF PPO experiment of notebooks 10 and 11: adaptive KL vs no KL penalty, 3 seeds.

    python -m rlhf_edu.app.ppo_experiment               # ~15 min on one CPU core; rewrites the
                                                        # packaged rlhf_edu/data/ppo_curves.json
    python -m rlhf_edu.app.ppo_experiment --updates 10 --out /tmp/curves.json   # a quick look

Each run fine-tunes the tiny GPT-2 against the default reward model ("mix" labeler) with the
default ``RLHFPPOConfig`` — once with the adaptive KL controller, once with ``kl_coef = 0`` — and
logs every update's reward-model score, true utility (the labeler's hidden utility) and KL, then
evaluates the final policy on held-out prompts. The notebooks load the stored curves
(``rlhf_edu.data.load_ppo_curves``, also importable from ``rlhf_edu.rlhf.ppo_results``) because
nine minutes of training do not fit their time budget; they still train a short run themselves.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rlhf_edu.data import PPO_CURVES_PATH, write_ppo_curves
from rlhf_edu.utils.seeding import seed_everything

SETTINGS = {"adaptive KL": {}, "no KL penalty": {"init_kl_coef": 0.0, "adaptive_kl": False}}
N_UPDATES = 60
SEEDS = (0, 1, 2)
N_EVAL_PROMPTS = 128


def course_trainer(seed: int, config: Any = None) -> Any:
    """A PPO trainer on the course's models: the tiny GPT-2 policy, the default reward model, the
    "mix" labeler's hidden utility for reporting, and 512 training prompts drawn with ``seed``.
    ``config`` defaults to ``RLHFPPOConfig()``. Shared by this experiment and the demo."""
    from rlhf_edu.rlhf.corpus import sample_prompts
    from rlhf_edu.rlhf.lm import load_tiny_lm
    from rlhf_edu.rlhf.ppo import RLHFPPOConfig, RLHFPPOTrainer
    from rlhf_edu.rlhf.preferences import get_labeler
    from rlhf_edu.rlhf.reward_model import load_default_reward_model

    seed_everything(seed)
    policy, tokenizer = load_tiny_lm()
    return RLHFPPOTrainer(
        policy,
        tokenizer,
        load_default_reward_model(),
        sample_prompts(512, seed=seed),
        RLHFPPOConfig() if config is None else config,
        seed=seed,
        true_utility=get_labeler("mix").utility,
    )


def eval_prompts_for(seed: int, n: int) -> list[str]:
    """Held-out prompts for evaluating a run of ``course_trainer(seed)``."""
    from rlhf_edu.rlhf.corpus import sample_prompts

    return sample_prompts(n, seed=10_000 + seed)


def run_ppo(
    seed: int,
    n_updates: int = N_UPDATES,
    config_changes: dict[str, Any] | None = None,
    show_progress: bool | None = None,
) -> dict[str, Any]:
    """One PPO run on the course's models; returns ``{"history": rows, "before": ..., "after":
    ...}`` where before/after hold the held-out ``reward``, ``true_utility``, ``kl`` and samples."""
    from rlhf_edu.rlhf.ppo import RLHFPPOConfig

    trainer = course_trainer(seed, RLHFPPOConfig().replace(**(config_changes or {})))
    eval_prompts = eval_prompts_for(seed, N_EVAL_PROMPTS)
    keys = ("reward", "true_utility", "kl", "eos_fraction")

    def measure() -> dict[str, Any]:
        out = trainer.evaluate(eval_prompts, seed=seed)
        return {**{k: out[k] for k in keys}, "samples": out["responses"][:8]}

    before = measure()
    trainer.train(n_updates, show_progress=show_progress)
    return {"history": trainer.history.rows, "before": before, "after": measure()}


def run_experiment(
    seeds: Sequence[int] = SEEDS,
    n_updates: int = N_UPDATES,
    show_progress: bool | None = None,
    settings: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Every setting in ``SETTINGS`` (or those named) for every seed:
    ``{"settings": {label: [run per seed]}}``."""
    started = time.perf_counter()
    results: dict[str, Any] = {"n_updates": n_updates, "seeds": list(seeds), "settings": {}}
    for label, changes in SETTINGS.items():
        if settings is not None and label not in settings:
            continue
        results["settings"][label] = [
            run_ppo(seed, n_updates, changes, show_progress=show_progress) for seed in seeds
        ]
    results["seconds"] = round(time.perf_counter() - started, 1)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--updates", type=int, default=N_UPDATES)
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--out", type=Path, default=PPO_CURVES_PATH)
    parser.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated labels")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    settings = [label.strip() for label in args.settings.split(",")]
    unknown = set(settings) - set(SETTINGS)
    if unknown:
        parser.error(f"unknown settings {sorted(unknown)}; known: {list(SETTINGS)}")
    results = run_experiment(seeds, args.updates, settings=settings)
    write_ppo_curves(results, args.out)
    for label, runs in results["settings"].items():
        for seed, run in zip(seeds, runs):
            b, a = run["before"], run["after"]
            print(
                f"{label:14s} seed {seed}: true utility {b['true_utility']:+.3f} -> "
                f"{a['true_utility']:+.3f}, reward {b['reward']:+.3f} -> {a['reward']:+.3f}, "
                f"KL {a['kl']:.2f}"
            )
    print(f"written to {args.out} in {results['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
