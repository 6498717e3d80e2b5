"""The RLHF PPO part of ``rlhf-edu demo``: a short PPO run of the tiny GPT-2 against the reward model.

About a minute on the CPU once the tiny LM and the reward model are cached. Writes
``rlhf_ppo.png`` (reward-model score, true utility and KL over updates) and returns
``{"ppo": {"true_utility_before", "true_utility_after", "reward_before", "reward_after", "kl"}}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Updates and prompts per update of the demo run (the library default is 64 prompts).
DEMO_UPDATES = 25
DEMO_BATCH_SIZE = 48
N_EVAL_PROMPTS = 64


def run(out_dir: Path, seed: int) -> dict[str, Any]:
    from rlhf_edu.app.ppo_experiment import course_trainer, eval_prompts_for
    from rlhf_edu.rlhf.ppo import RLHFPPOConfig
    from rlhf_edu.utils import check_seed
    from rlhf_edu.viz.figures import save_figure
    from rlhf_edu.viz.rlhf import plot_ppo_training

    seed = check_seed(seed)
    out_dir = Path(out_dir)
    config = RLHFPPOConfig(batch_size=DEMO_BATCH_SIZE)
    trainer = course_trainer(seed, config)
    eval_prompts = eval_prompts_for(seed, N_EVAL_PROMPTS)
    before = trainer.evaluate(eval_prompts, seed=seed)
    history = trainer.train(DEMO_UPDATES)
    after = trainer.evaluate(eval_prompts, seed=seed)
    fig = plot_ppo_training(
        {"PPO, adaptive KL": [history]},
        kl_target=config.kl_target,
        title=f"RLHF with PPO: tiny GPT-2, {DEMO_UPDATES} updates",
    )
    save_figure(fig, out_dir / "rlhf_ppo.png")
    (out_dir / "rlhf_ppo_samples.txt").write_text(
        "before:\n"
        + "\n".join(p + r for p, r in zip(before["prompts"][:5], before["responses"][:5]))
        + "\n\nafter:\n"
        + "\n".join(p + r for p, r in zip(after["prompts"][:5], after["responses"][:5]))
        + "\n"
    )
    return {
        "ppo": {
            "true_utility_before": round(before["true_utility"], 4),
            "true_utility_after": round(after["true_utility"], 4),
            "reward_before": round(before["reward"], 4),
            "reward_after": round(after["reward"], 4),
            "kl": round(after["kl"], 4),
            "updates": DEMO_UPDATES,
        }
    }
