"""``rlhf-edu experiment NAME --seeds N --out DIR``: the course's multi-seed studies.

Each experiment is a module with a study, ``run_NAME_study(seeds) -> dict`` (the content of
``results.json``, deterministic for given seeds), and ``plot_NAME_study(results, out)``; this
module checks the arguments, runs the study, writes ``DIR/results.json`` atomically, draws the
plots beside it and prints where everything went. The studies:

- ``feedback``: every feedback form at equal annotator cost, aggregation of disagreeing
  annotators, active selection (``rlhf_edu.app.experiment_feedback``);
- ``personalization``: a single, a user-conditioned and per-user reward models, scored per
  group and used to steer best-of-n (``rlhf_edu.app.experiment_personalization``);
- ``cost``: person-seconds, FLOPs, time and energy of each stage at the course's operating
  points, and the true utility each pipeline buys per unit (``rlhf_edu.app.experiment_cost``);
- ``sft``: RLHF PPO from a supervised fine-tuned model against PPO from the base model
  (``rlhf_edu.app.experiment_sft``);
- ``irl``: MaxEnt IRL from demonstrations against T-REX from comparisons on the colour
  gridworld (``rlhf_edu.app.experiment_irl``);
- ``critic-free``: PPO, GRPO and RLOO from the same tiny GPT-2, reward model, prompts and
  number of episodes, true utility against KL (``rlhf_edu.app.experiment_critic_free``);
- ``overoptimization``: proxy reward models from few to many labels, optimised by best-of-n and
  PPO; gold (true utility) and proxy scores against sqrt(KL), with Gao et al.'s fits
  (``rlhf_edu.app.experiment_overoptimization``).

A hyphen in NAME is an underscore in the functions' names (``run_critic_free_study``).
"""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

from rlhf_edu.utils.checkpoint import atomic_write_bytes

#: name -> (module with ``run_NAME_study`` and ``plot_NAME_study``, one line for ``--help``)
EXPERIMENTS: dict[str, tuple[str, str]] = {
    "feedback": (
        "rlhf_edu.app.experiment_feedback",
        "reward models from each feedback form at equal cost, merging disagreeing annotators, "
        "active vs random labelling",
    ),
    "personalization": (
        "rlhf_edu.app.experiment_personalization",
        "one reward model for everyone vs conditioned on the user vs one per user, per group",
    ),
    "irl": (
        "rlhf_edu.app.experiment_irl",
        "MaxEnt IRL (demonstrations) vs T-REX (comparisons) on the colour gridworld",
    ),
    "cost": (
        "rlhf_edu.app.experiment_cost",
        "labels, FLOPs, time and energy of reward model, PPO, DPO and best-of-n, and the true "
        "utility each buys per person-hour and per joule",
    ),
    "sft": (
        "rlhf_edu.app.experiment_sft",
        "RLHF PPO from a model fine-tuned on labeler-picked demonstrations vs from the base model",
    ),
    "critic-free": (
        "rlhf_edu.app.experiment_critic_free",
        "PPO vs GRPO vs RLOO on the tiny GPT-2 at equal episodes: true utility against KL",
    ),
    "overoptimization": (
        "rlhf_edu.app.experiment_overoptimization",
        "Gao et al.'s reward over-optimisation: gold and proxy scores against sqrt(KL) for "
        "best-of-n and PPO, proxies trained on 30 to 3000 labels, with the paper's fits",
    ),
}


def run_experiment(args: argparse.Namespace) -> int:
    """Run ``args.name`` with ``args.seeds`` seeds (0 .. N-1) into ``args.out``."""
    if args.name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {args.name!r}; known: {', '.join(EXPERIMENTS)}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out must be a folder, but {out} is a file")
    module_name, _ = EXPERIMENTS[args.name]
    module = importlib.import_module(module_name)
    study = args.name.replace("-", "_")
    results = getattr(module, f"run_{study}_study")(list(range(args.seeds)))
    atomic_write_bytes((json.dumps(results, indent=1) + "\n").encode(), out / "results.json")
    getattr(module, f"plot_{study}_study")(results, out)
    print(f"experiment {args.name}: {args.seeds} seed(s); results in {out / 'results.json'}")
    for plot in sorted(out.glob("*.png")):
        print(f"  plot: {plot}")
    for measure, by_method in results.items():
        if not isinstance(by_method, dict):
            continue
        for method, value in by_method.items():
            if isinstance(value, dict) and "mean" in value:  # a measure: mean per budget
                print(f"  {measure} {method}: {json.dumps(value['mean'])}")
    return 0
