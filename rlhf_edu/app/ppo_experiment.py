"""The RLHF PPO experiment of notebooks 10 and 11: the adaptive KL controller against no KL
penalty, 5 seeds each (stored); optionally a sweep of fixed KL coefficients and a faster controller.

    python -m rlhf_edu.app.ppo_experiment               # the stored file: 10 runs, about 25 min
                                                        # on one free CPU core; rewrites
                                                        # rlhf_edu/data/ppo_curves.json
    python -m rlhf_edu.app.ppo_experiment --settings sweep   # the fixed-beta sweep, 20 runs;
                                                             # rewrites rlhf_edu/data/ppo_kl_sweep.json
    python -m rlhf_edu.app.ppo_experiment --settings all --out /tmp/sweep.json   # all 35 runs
    python -m rlhf_edu.app.ppo_experiment --updates 10 --out /tmp/curves.json   # a quick look

    # the same file, split over processes (every run is seeded on its own, so the numbers are
    # those of one sequential run):
    python -m rlhf_edu.app.ppo_experiment --settings "no KL penalty" --seeds 0 --out a.json
    ...
    python -m rlhf_edu.app.ppo_experiment --merge a.json b.json ...

Each run fine-tunes the tiny GPT-2 against the default reward model ("mix" labeler) with the
default ``RLHFPPOConfig`` changed as ``SETTINGS`` says, logs every update's reward-model score,
true utility (the labeler's hidden utility), KL and beta, then evaluates the final policy on
held-out prompts. ``STORED_SETTINGS`` are those of the packaged file. The others: fixed
coefficients beta in {0.01, 0.03, 0.1, 0.3}, and ``"adaptive KL, target 2"``, whose 2-nat target
and 500-episode horizon make the controller push beta up within 60 updates (the library's default
4-nat target is not reached in 60 updates, so its beta only drifts down, and its 2000-episode
horizon moves beta by at most a factor e^0.2 every 31 updates).
The notebooks load the stored curves (``rlhf_edu.data.load_ppo_curves``, also importable from
``rlhf_edu.rlhf.ppo_results``) because the training does not fit their time budget; they still
train a short run themselves.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rlhf_edu.data import PPO_CURVES_PATH, PPO_KL_SWEEP_PATH, load_ppo_curves, write_ppo_curves
from rlhf_edu.utils.seeding import seed_everything

#: The fixed KL coefficients of the sweep (0 is the run without a penalty).
FIXED_KL_COEFS = (0.01, 0.03, 0.1, 0.3)
#: label -> changes to the default ``RLHFPPOConfig``; the labels are the keys of the stored file.
SETTINGS: dict[str, dict[str, Any]] = {
    "adaptive KL": {},  # the library's default controller: target 4 nats, horizon 2000
    "no KL penalty": {"init_kl_coef": 0.0, "adaptive_kl": False},
    "adaptive KL, target 2": {"kl_target": 2.0, "kl_horizon": 500.0},
    **{
        f"fixed beta {beta:g}": {"init_kl_coef": beta, "adaptive_kl": False}
        for beta in FIXED_KL_COEFS
    },
}
#: The settings of the packaged ``ppo_curves.json`` (the default of ``--settings``).
STORED_SETTINGS = ("adaptive KL", "no KL penalty")
#: The settings of the packaged ``ppo_kl_sweep.json`` (``--settings sweep``): the fixed-beta sweep.
SWEEP_SETTINGS = tuple(f"fixed beta {beta:g}" for beta in FIXED_KL_COEFS)
N_UPDATES = 60
SEEDS = (0, 1, 2, 3, 4)
N_EVAL_PROMPTS = 128


def course_trainer(seed: int, config: Any = None, trainer_class: Any = None) -> Any:
    """A PPO trainer on the course's models: the tiny GPT-2 policy, the default reward model, the
    "mix" labeler's hidden utility for reporting, and 512 training prompts drawn with ``seed``.
    ``config`` defaults to ``RLHFPPOConfig()``. Shared by this experiment, the demo and the
    critic-free experiment, which passes ``trainer_class`` (``GRPOTrainer``, ``RLOOTrainer``)
    with its config."""
    from rlhf_edu.rlhf.corpus import sample_prompts
    from rlhf_edu.rlhf.lm import load_tiny_lm
    from rlhf_edu.rlhf.ppo import RLHFPPOConfig, RLHFPPOTrainer
    from rlhf_edu.rlhf.preferences import get_labeler
    from rlhf_edu.rlhf.reward_model import load_default_reward_model

    seed_everything(seed)
    policy, tokenizer = load_tiny_lm()
    return (trainer_class or RLHFPPOTrainer)(
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
    results: dict[str, Any] = {
        "n_updates": n_updates,
        "seeds": list(seeds),
        "configs": {},
        "settings": {},
    }
    for label, changes in SETTINGS.items():
        if settings is not None and label not in settings:
            continue
        results["configs"][label] = dict(changes)
        results["settings"][label] = [
            run_ppo(seed, n_updates, changes, show_progress=show_progress) for seed in seeds
        ]
    results["seconds"] = round(time.perf_counter() - started, 1)
    return results


def merge_results(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One result from several ``run_experiment`` results over disjoint (setting, seed) pairs and
    the same number of updates: the file a single run would write, its settings in ``SETTINGS``'
    order and its seeds sorted. Every setting must end up with the same seeds."""
    if not parts:
        raise ValueError("merge_results needs at least one result")
    n_updates = parts[0]["n_updates"]
    runs: dict[str, dict[int, Any]] = {}
    configs: dict[str, Any] = {}
    for part in parts:
        if part["n_updates"] != n_updates:
            raise ValueError(f"cannot merge runs of {n_updates} and {part['n_updates']} updates")
        for label, label_runs in part["settings"].items():
            configs[label] = part.get("configs", {}).get(label, SETTINGS.get(label, {}))
            for seed, run in zip(part["seeds"], label_runs):
                if seed in runs.setdefault(label, {}):
                    raise ValueError(f"setting {label!r}, seed {seed} appears twice")
                runs[label][seed] = run
    seeds = sorted({seed for by_seed in runs.values() for seed in by_seed})
    for label, by_seed in runs.items():
        if sorted(by_seed) != seeds:
            raise ValueError(f"setting {label!r} has seeds {sorted(by_seed)}, others {seeds}")
    order = [label for label in SETTINGS if label in runs]
    order += [label for label in runs if label not in SETTINGS]
    return {
        "n_updates": n_updates,
        "seeds": seeds,
        "configs": {label: configs[label] for label in order},
        "settings": {label: [runs[label][seed] for seed in seeds] for label in order},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--updates", type=int, default=N_UPDATES)
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="default: the packaged ppo_curves.json, or ppo_kl_sweep.json with --settings sweep",
    )
    parser.add_argument(
        "--settings",
        default=",".join(STORED_SETTINGS),
        help=f"comma-separated labels of SETTINGS, 'sweep' (the fixed-beta sweep) or 'all' "
        f"(default: the stored file's); known: {', '.join(SETTINGS)}",
    )
    parser.add_argument(
        "--merge",
        nargs="+",
        type=Path,
        help="combine files written with --settings/--seeds into --out (as one run writes it)",
    )
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = PPO_KL_SWEEP_PATH if args.settings == "sweep" else PPO_CURVES_PATH
    if args.merge:
        merged = merge_results([load_ppo_curves(path) for path in args.merge])
        write_ppo_curves(merged, args.out)
        print(f"merged {list(merged['settings'])} into {args.out}")
        return 0
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.settings in ("all", "sweep"):
        settings = list(SETTINGS) if args.settings == "all" else list(SWEEP_SETTINGS)
    else:
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
                f"{label:16s} seed {seed}: true utility {b['true_utility']:+.3f} -> "
                f"{a['true_utility']:+.3f}, reward {b['reward']:+.3f} -> {a['reward']:+.3f}, "
                f"KL {a['kl']:.2f}"
            )
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
