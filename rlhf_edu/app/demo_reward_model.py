"""The reward-model part of ``rlhf-edu demo``: the default reward model against the Bayes ceiling.

Builds (once, into the cache) the tiny GPT-2 and the default reward model, then writes
``rlhf_reward_model_accuracy.png`` (held-out accuracy against the Bayes-optimal ceiling: the
numbers of the summary entry) and ``reward_vs_utility.png`` (learned reward against the
labeler's hidden utility), and returns the summary entry
``{"reward_model": {"accuracy", "bayes_optimal_accuracy", "n_pairs", ...}}``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def run(out_dir: Path, seed: int = 0) -> dict:
    """Run the reward-model demo into ``out_dir``; return the summary entry."""
    import matplotlib.pyplot as plt

    from rlhf_edu.rlhf.preferences import get_labeler, make_synthetic_pairs
    from rlhf_edu.rlhf.reward_model import (
        RewardModel,
        default_reward_model_dir,
        ensure_default_reward_model,
    )
    from rlhf_edu.viz import save_figure
    from rlhf_edu.viz.rlhf import plot_reward_model_accuracy, plot_reward_vs_utility

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    folder = ensure_default_reward_model(seed=seed)
    model = RewardModel.load(folder)
    info = RewardModel.metadata(default_reward_model_dir(seed=seed))
    labeler = get_labeler(info["labeler"], info["temperature"])

    # learned reward vs true utility on fresh responses (chosen and rejected alike)
    pairs = make_synthetic_pairs(labeler, 300, seed=seed + 30_000)
    prompts = [p.prompt for p in pairs] * 2
    responses = [p.chosen for p in pairs] + [p.rejected for p in pairs]
    learned = model.score(prompts, responses).numpy()
    true = labeler.utilities(prompts, responses)
    correlation = round(float(np.corrcoef(true, learned)[0, 1]), 3)
    fig = plot_reward_vs_utility(true, learned)
    save_figure(fig, out_dir / "reward_vs_utility.png")
    plt.close(fig)
    entry = {
        "accuracy": round(float(info["accuracy"]), 4),
        "bayes_optimal_accuracy": round(float(info["bayes_optimal_accuracy"]), 4),
        "expected_accuracy": round(float(info["expected_accuracy"]), 4),
        "n_pairs": int(info["n_pairs"]),
        "n_eval_pairs": int(info["n_eval_pairs"]),
        "labeler": f"{labeler.name} (T={labeler.temperature:g})",
        "reward_utility_correlation": correlation,
    }
    # the plot shows the summary's own (rounded) numbers
    fig = plot_reward_model_accuracy(
        entry["accuracy"],
        entry["bayes_optimal_accuracy"],
        expected_accuracy=entry["expected_accuracy"],
        n_eval_pairs=entry["n_eval_pairs"],
        title=f"Reward model ({entry['n_pairs']} pairs, labeler {entry['labeler']})",
    )
    save_figure(fig, out_dir / "rlhf_reward_model_accuracy.png")
    plt.close(fig)
    return {"reward_model": entry}
