"""The RLHF PPO part of ``rlhf-edu demo``: a short PPO run of the tiny GPT-2 against the reward model.

About a minute on the CPU once the tiny LM and the reward model are cached. Writes

- ``rlhf_ppo.png``: this run's reward-model score, true utility and KL over updates;
- ``rlhf_utility_vs_kl.png``: true utility against KL from the reference, for this run (adaptive
  KL penalty) and for the stored 5-seed runs without a penalty (``rlhf_edu/data/ppo_curves.json``);
- ``rlhf_reward_hacking.png``: the stored runs with and without the KL penalty: without it the
  reward-model score keeps rising while the true utility turns down;
- ``rlhf_ppo_samples.txt``: five held-out responses before and after training,

and returns ``{"ppo": {...}, "reward_hacking": {...}}``; every number a plot marks is in it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

#: Updates and prompts per update of the demo run (the library default is 64 prompts).
DEMO_UPDATES = 25
DEMO_BATCH_SIZE = 48
N_EVAL_PROMPTS = 64


def _mean_after(runs: list[dict[str, Any]], key: str) -> float:
    return round(float(np.mean([run["after"][key] for run in runs])), 4)


def run(out_dir: Path, seed: int) -> dict[str, Any]:
    import matplotlib.pyplot as plt

    from rlhf_edu.app.ppo_experiment import course_trainer, eval_prompts_for
    from rlhf_edu.data import load_ppo_curves
    from rlhf_edu.rlhf.ppo import RLHFPPOConfig
    from rlhf_edu.utils import check_seed
    from rlhf_edu.viz.figures import save_figure
    from rlhf_edu.viz.rlhf import plot_ppo_training, plot_reward_hacking, plot_utility_vs_kl

    seed = check_seed(seed)
    out_dir = Path(out_dir)
    config = RLHFPPOConfig(batch_size=DEMO_BATCH_SIZE)
    trainer = course_trainer(seed, config)
    eval_prompts = eval_prompts_for(seed, N_EVAL_PROMPTS)
    before = trainer.evaluate(eval_prompts, seed=seed)
    history = trainer.train(DEMO_UPDATES)
    after = trainer.evaluate(eval_prompts, seed=seed)
    ppo = {
        "true_utility_before": round(before["true_utility"], 4),
        "true_utility_after": round(after["true_utility"], 4),
        "reward_before": round(before["reward"], 4),
        "reward_after": round(after["reward"], 4),
        "kl": round(after["kl"], 4),
        "updates": DEMO_UPDATES,
    }

    fig = plot_ppo_training(
        {"PPO, adaptive KL": [history]},
        kl_target=config.kl_target,
        title=f"RLHF with PPO: tiny GPT-2, {DEMO_UPDATES} updates (training batches)",
    )
    save_figure(fig, out_dir / "rlhf_ppo.png")
    plt.close(fig)

    stored = load_ppo_curves()
    settings = stored["settings"]
    hacking = {
        label.replace(" ", "_"): {
            "reward_after": _mean_after(runs, "reward"),
            "true_utility_after": _mean_after(runs, "true_utility"),
            "kl_after": _mean_after(runs, "kl"),
        }
        for label, runs in settings.items()
    }
    hacking["seeds"] = list(stored["seeds"])
    hacking["updates"] = int(stored["n_updates"])
    fig = plot_reward_hacking(
        {label: [run["history"] for run in runs] for label, runs in settings.items()},
        final={
            label: {
                "reward": hacking[label.replace(" ", "_")]["reward_after"],
                "true_utility": hacking[label.replace(" ", "_")]["true_utility_after"],
            }
            for label in settings
        },
        title=f"Reward hacking without a KL penalty (stored runs, mean of seeds {stored['seeds']})",
    )
    save_figure(fig, out_dir / "rlhf_reward_hacking.png")
    plt.close(fig)

    rows = history.rows
    no_kl = settings["no KL penalty"]
    n = min(len(run["history"]) for run in no_kl)
    no_kl_curve = (
        np.mean([[row["kl"] for row in run["history"][:n]] for run in no_kl], axis=0),
        np.mean([[row["true_utility"] for row in run["history"][:n]] for run in no_kl], axis=0),
    )
    fig = plot_utility_vs_kl(
        {
            "this run, adaptive KL (per update, training batch)": (
                [row["kl"] for row in rows],
                [row["true_utility"] for row in rows],
            ),
            "this run, held-out after training": (ppo["kl"], ppo["true_utility_after"]),
            "stored runs, no KL penalty (per update, seed mean)": no_kl_curve,
            "stored runs, no KL penalty, held-out after training": (
                hacking["no_KL_penalty"]["kl_after"],
                hacking["no_KL_penalty"]["true_utility_after"],
            ),
        },
        ylabel="true utility (the labeler's hidden goal)",
        title="True utility against KL from the reference policy",
        baseline=ppo["true_utility_before"],
        symlog_kl=True,
    )
    save_figure(fig, out_dir / "rlhf_utility_vs_kl.png")
    plt.close(fig)

    (out_dir / "rlhf_ppo_samples.txt").write_text(
        "before:\n"
        + "\n".join(p + r for p, r in zip(before["prompts"][:5], before["responses"][:5]))
        + "\n\nafter:\n"
        + "\n".join(p + r for p, r in zip(after["prompts"][:5], after["responses"][:5]))
        + "\n"
    )
    return {"ppo": ppo, "reward_hacking": hacking}
