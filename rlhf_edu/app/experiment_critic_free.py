"""``rlhf-edu experiment critic-free``: PPO against the critic-free GRPO and RLOO on the tiny GPT-2.

Each method fine-tunes the same tiny GPT-2 (``load_tiny_lm``) against the same default reward
model, from the same 512 training prompts (``course_trainer``'s, drawn with the seed), for the
same number of episodes (``N_UPDATES`` updates of ``BATCH_SIZE`` responses), with the same
sampling, optimiser, clipping and epochs (the defaults of ``RLHFPolicyConfig``). What differs is
what each method is about:

- **PPO** (``ppo.RLHFPPOTrainer``): a value head and GAE, the KL penalty folded into the
  per-token reward with the adaptive controller (the course's default ``RLHFPPOConfig``);
- **GRPO** (``grpo.GRPOTrainer``): ``batch_size / G`` prompts sampled ``G = GROUP_SIZE`` times,
  group-standardised scores as advantages, the k3 KL penalty in the loss (beta 0.04);
- **RLOO** (``rloo.RLOOTrainer``): the same groups, leave-one-out advantages of the score minus
  ``0.05`` times the response's sampled KL (the penalty in the reward, as TRL's RLOO).

Every update logs the training rollout's true utility (the "mix" labeler's hidden utility,
never trained on) and sampled KL to the reference; at the end each policy is evaluated on
``N_EVAL_PROMPTS`` held-out prompts. ``results.json`` holds, per method, the final held-out true
utility, KL and reward-model score (per seed, mean and std) and the per-update curves; the plot
places each method's final point in the true-utility-against-KL plane with its curve.
Deterministic on the CPU: the same seeds give the same file. The course's notebook 11 reads the
3-seed run stored in the package (``rlhf_edu.data.load_critic_free``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

N_UPDATES = 24
BATCH_SIZE = 64
GROUP_SIZE = 4
N_EVAL_PROMPTS = 128
METHODS = ("PPO", "GRPO", "RLOO")
#: the per-update fields kept for each run's curve
CURVE_KEYS = ("true_utility", "kl", "reward")


def make_trainer(method: str, seed: int) -> Any:
    """The ``method``'s trainer on the course's models, seed and prompts (``course_trainer``)."""
    from rlhf_edu.app.ppo_experiment import course_trainer
    from rlhf_edu.rlhf.grpo import GRPOConfig, GRPOTrainer
    from rlhf_edu.rlhf.ppo import RLHFPPOConfig, RLHFPPOTrainer
    from rlhf_edu.rlhf.rloo import RLOOConfig, RLOOTrainer

    trainers = {
        "PPO": (RLHFPPOTrainer, RLHFPPOConfig(batch_size=BATCH_SIZE)),
        "GRPO": (GRPOTrainer, GRPOConfig(batch_size=BATCH_SIZE, group_size=GROUP_SIZE)),
        "RLOO": (RLOOTrainer, RLOOConfig(batch_size=BATCH_SIZE, k=GROUP_SIZE)),
    }
    if method not in trainers:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    trainer_class, config = trainers[method]
    return course_trainer(seed, config, trainer_class=trainer_class)


def run_method(
    method: str, seed: int, n_updates: int = N_UPDATES, n_eval_prompts: int = N_EVAL_PROMPTS
) -> dict[str, Any]:
    """One run: ``{"curve": {key: per-update values}, "final": held-out true_utility, kl,
    reward}``; ``n_eval_prompts=0`` skips the evaluation (``final`` is then empty)."""
    from rlhf_edu.app.ppo_experiment import eval_prompts_for

    trainer = make_trainer(method, seed)
    history = trainer.train(n_updates, show_progress=False)
    curve = {key: [float(row[key]) for row in history.rows] for key in CURVE_KEYS}
    final: dict[str, float] = {}
    if n_eval_prompts:
        evaluation = trainer.evaluate(eval_prompts_for(seed, n_eval_prompts), seed=seed)
        final = {key: float(evaluation[key]) for key in CURVE_KEYS}
    return {"curve": curve, "final": final}


def _round(values: Any) -> Any:
    return [float(f"{v:.6g}") for v in values]


def run_critic_free_study(seeds: list[int], n_updates: int = N_UPDATES) -> dict[str, Any]:
    """Every method for every seed; returns the results.json content."""
    from rlhf_edu.utils.progress import progress

    runs: dict[str, list[dict[str, Any]]] = {method: [] for method in METHODS}
    jobs = [(method, seed) for seed in seeds for method in METHODS]
    for method, seed in progress(jobs, desc="critic-free: methods x seeds"):
        runs[method].append(run_method(method, seed, n_updates))
    return summarize_runs(runs, seeds, n_updates)


def summarize_runs(
    runs: dict[str, list[dict[str, Any]]], seeds: list[int], n_updates: int
) -> dict[str, Any]:
    """The results.json content from ``run_method``'s runs, per method in the order of
    ``seeds`` (runs made in separate processes combine into the file one process writes)."""
    results: dict[str, Any] = {
        "experiment": "critic-free",
        "seeds": list(seeds),
        "n_updates": n_updates,
        "batch_size": BATCH_SIZE,
        "episodes": n_updates * BATCH_SIZE,
        "group_size": GROUP_SIZE,
        "n_eval_prompts": N_EVAL_PROMPTS,
        "methods": list(METHODS),
    }
    for key in CURVE_KEYS:
        results[f"final_{key}"] = {
            method: {
                "per_seed": _round(run["final"][key] for run in method_runs),
                "mean": round(float(np.mean([r["final"][key] for r in method_runs])), 6),
                "std": round(float(np.std([r["final"][key] for r in method_runs])), 6),
            }
            for method, method_runs in runs.items()
        }
    results["curves"] = {
        method: {key: [_round(run["curve"][key]) for run in method_runs] for key in CURVE_KEYS}
        for method, method_runs in runs.items()
    }
    return results


def plot_critic_free_study(results: dict[str, Any], out: Path) -> list[Path]:
    """True utility against KL: each method's per-update curve (mean over seeds) and its final
    held-out point (mean, with the seeds' spread as error bars)."""
    import matplotlib.pyplot as plt  # noqa: I001

    from rlhf_edu.viz.figures import save_figure  # first: it picks a backend without a screen

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for index, method in enumerate(results["methods"]):
        colour = f"C{index}"
        curve = results["curves"][method]
        ax.plot(
            np.mean(curve["kl"], axis=0),
            np.mean(curve["true_utility"], axis=0),
            color=colour,
            alpha=0.35,
        )
        utility, kl = results["final_true_utility"][method], results["final_kl"][method]
        ax.errorbar(
            kl["mean"],
            utility["mean"],
            xerr=kl["std"],
            yerr=utility["std"],
            color=colour,
            marker="o",
            capsize=3,
            label=method,
        )
    ax.set_xlabel("KL(policy || reference), nats per response")
    ax.set_ylabel("true utility (the labeler's hidden utility)")
    ax.set_title(
        f"{results['episodes']} episodes each, {len(results['seeds'])} seed(s); faint: per-update "
        "training curve",
        fontsize=10,
    )
    ax.legend()
    fig.tight_layout()
    path = save_figure(fig, out / "true_utility_vs_kl.png")
    plt.close(fig)
    return [path]
