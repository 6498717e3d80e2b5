"""``rlhf-edu experiment sft``: does RLHF do better from a supervised fine-tuned model?

Today's pipelines (InstructGPT, Ouyang et al. 2022) run RLHF from a model first fine-tuned on
demonstrations (SFT), not from the pretrained one. Per seed:

1. **Demonstrations.** ``N_DEMOS`` prompts; for each, the "mix" labeler picks the best of
   ``DEMO_CANDIDATES`` samples of the base tiny GPT-2 under its true utility
   (``sft.labeler_demonstrations``).
2. **SFT.** The base model fine-tuned on them with ``train_sft`` (``SFT_CONFIG``).
3. **RLHF.** Two PPO runs with the same config (``PPO_CHANGES`` to ``RLHFPPOConfig``), reward
   model (the course's default), training prompts (512, drawn with the seed) and number of
   episodes (``N_UPDATES`` x batch): one from the base model, one from the SFT model. Each run's
   KL penalty holds it near *its own* reference (the model it started from).
4. **Evaluation** of the base, SFT and both PPO policies on the same held-out prompts
   (``ppo_experiment.eval_prompts_for``): mean true utility and reward-model score; KL to the
   run's own reference and to the base model (the same samples scored under both); and sample
   quality (distinct-1, distinct-2 and mean words, ``sample_quality``).

Writes ``results.json`` (each measure per policy: per seed and mean; the PPO curves; a few
samples) and ``sft_vs_base.png``. Deterministic: the same seeds give the same file. The packaged
``rlhf_edu/data/sft_vs_base.json`` holds 3 seeds (``python -m rlhf_edu.app.experiment_sft``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from rlhf_edu.utils.progress import progress
from rlhf_edu.utils.seeding import seed_everything

N_DEMOS = 256
DEMO_CANDIDATES = 8
#: SFT on N_DEMOS demonstrations: 2 epochs of 8 batches.
SFT_SETTINGS = {"learning_rate": 5e-4, "batch_size": 32, "epochs": 2}
#: Changes to the default ``RLHFPPOConfig`` (short runs: 15 updates of 32 episodes).
PPO_CHANGES = {"batch_size": 32}
N_UPDATES = 15
N_EVAL_PROMPTS = 128
N_SAMPLES_SHOWN = 4
LABELER = "mix"
#: The policies compared, in the order of every table.
POLICIES = {
    "base": "base model (pretrained)",
    "sft": "SFT model (no RL)",
    "ppo_from_base": "PPO from the base model",
    "ppo_from_sft": "PPO from the SFT model",
}
MEASURES = (
    "true_utility",
    "reward",
    "kl_to_own_reference",
    "kl_to_base",
    "distinct_1",
    "distinct_2",
    "mean_words",
)


def demonstration_prompts(seed: int) -> list[str]:
    """The prompts of seed ``seed``'s demonstrations (disjoint draws from the PPO and eval ones)."""
    from rlhf_edu.rlhf.corpus import sample_prompts

    return sample_prompts(N_DEMOS, seed=20_000 + seed)


def make_demonstrations(seed: int) -> tuple[list[str], list[str], list[float]]:
    """``(prompts, responses, true utilities)``: the labeler's best of ``DEMO_CANDIDATES``."""
    from rlhf_edu.rlhf.lm import load_tiny_lm
    from rlhf_edu.rlhf.preferences import get_labeler
    from rlhf_edu.rlhf.sft import labeler_demonstrations

    base, tokenizer = load_tiny_lm()
    prompts = demonstration_prompts(seed)
    responses, utilities = labeler_demonstrations(
        base, tokenizer, prompts, get_labeler(LABELER).utility, n=DEMO_CANDIDATES, seed=seed
    )
    return prompts, responses, utilities


def evaluate_policy(policy, reference, base, tokenizer, reward_model, seed: int) -> dict[str, Any]:
    """Sample the held-out prompts once and measure (see the module docstring)."""
    from rlhf_edu.app.ppo_experiment import eval_prompts_for
    from rlhf_edu.rlhf.generation import sample_and_score
    from rlhf_edu.rlhf.ppo import RLHFPPOConfig
    from rlhf_edu.rlhf.preferences import get_labeler
    from rlhf_edu.rlhf.sample_quality import sample_quality

    config = RLHFPPOConfig().replace(**PPO_CHANGES)
    prompts = eval_prompts_for(seed, N_EVAL_PROMPTS)
    utility = get_labeler(LABELER).utility

    def measure(ref):  # the same seed: the same samples, scored against ``ref``
        return sample_and_score(
            policy, ref, tokenizer, prompts, reward_model, utility,
            max_new_tokens=config.max_new_tokens, temperature=config.temperature, seed=seed,
            batch_size=config.batch_size,
        )  # fmt: skip

    own = measure(reference)
    to_base = own if reference is base else measure(base)
    if to_base.responses != own.responses:
        raise RuntimeError("sampling is not repeatable: the two evaluations drew other samples")
    return {
        "true_utility": own.true_utility,
        "reward": own.reward,
        "kl_to_own_reference": own.kl,
        "kl_to_base": to_base.kl,
        **sample_quality(own.responses),
        "samples": [[p, r] for p, r in zip(prompts, own.responses)][:N_SAMPLES_SHOWN],
    }


def sft_model(seed: int, prompts: list[str], responses: list[str]):
    """The base tiny GPT-2 fine-tuned on the demonstrations; returns ``(model, history)``."""
    from rlhf_edu.rlhf.lm import load_tiny_lm
    from rlhf_edu.rlhf.sft import SFTConfig, train_sft

    model, tokenizer = load_tiny_lm()
    history = train_sft(model, tokenizer, prompts, responses, SFTConfig(**SFT_SETTINGS), seed=seed)
    return model, history


def ppo_from(policy, seed: int, n_updates: int):
    """A PPO run from ``policy`` (its own reference), as ``ppo_experiment.course_trainer`` builds
    one: the default reward model, the "mix" labeler's utility logged, 512 prompts from ``seed``."""
    from rlhf_edu.rlhf.corpus import sample_prompts
    from rlhf_edu.rlhf.lm import load_tiny_lm
    from rlhf_edu.rlhf.ppo import RLHFPPOConfig, RLHFPPOTrainer
    from rlhf_edu.rlhf.preferences import get_labeler
    from rlhf_edu.rlhf.reward_model import load_default_reward_model

    _, tokenizer = load_tiny_lm()
    trainer = RLHFPPOTrainer(
        policy,
        tokenizer,
        load_default_reward_model(),
        sample_prompts(512, seed=seed),
        RLHFPPOConfig().replace(**PPO_CHANGES),
        seed=seed,
        true_utility=get_labeler(LABELER).utility,
    )
    trainer.train(n_updates, show_progress=False)
    return trainer


def run_seed(seed: int, n_updates: int | None = None) -> dict[str, Any]:
    """One seed of the study: demonstrations, SFT, both PPO runs (``n_updates``, default
    ``N_UPDATES``), the four evaluations."""
    from rlhf_edu.rlhf.lm import load_tiny_lm
    from rlhf_edu.rlhf.reward_model import load_default_reward_model

    n_updates = N_UPDATES if n_updates is None else n_updates
    seed_everything(seed)
    base, tokenizer = load_tiny_lm()
    reward_model = load_default_reward_model()
    prompts, responses, utilities = make_demonstrations(seed)
    sft, sft_history = sft_model(seed, prompts, responses)
    evaluations = {
        "base": evaluate_policy(base, base, base, tokenizer, reward_model, seed),
        "sft": evaluate_policy(sft, sft, base, tokenizer, reward_model, seed),
    }
    curves = {}
    for name, start in (("ppo_from_base", load_tiny_lm()[0]), ("ppo_from_sft", sft)):
        seed_everything(seed)
        trainer = ppo_from(start, seed, n_updates)
        evaluations[name] = evaluate_policy(
            trainer.policy, trainer.ref_policy, base, tokenizer, reward_model, seed
        )
        curves[name] = {
            key: [float(row[key]) for row in trainer.history.rows]
            for key in ("true_utility", "reward", "kl")
        }
    return {
        "demonstrations": {
            "true_utility": float(np.mean(utilities)),
            "samples": [[p, r] for p, r in zip(prompts, responses)][:N_SAMPLES_SHOWN],
        },
        "sft_loss": [float(sft_history["loss"][0]), float(sft_history["loss"][-1])],
        "evaluations": evaluations,
        "curves": curves,
    }


def _round(value: Any, digits: int = 6) -> Any:
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, list):
        return [_round(v, digits) for v in value]
    if isinstance(value, dict):
        return {k: _round(v, digits) for k, v in value.items()}
    return value


def summarize(seeds: Sequence[int], runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The results.json content from one ``run_seed`` result per seed (floats to 6 digits)."""
    from rlhf_edu.rlhf.ppo import RLHFPPOConfig

    if len(seeds) != len(runs) or not runs:
        raise ValueError(f"need one run per seed, got {len(runs)} runs for seeds {list(seeds)}")
    results: dict[str, Any] = {
        "experiment": "sft",
        "seeds": list(seeds),
        "config": {
            "labeler": LABELER,
            "n_demos": N_DEMOS,
            "demo_candidates": DEMO_CANDIDATES,
            "sft": SFT_SETTINGS,
            "ppo_changes": PPO_CHANGES,
            "ppo_config": asdict(RLHFPPOConfig().replace(**PPO_CHANGES)),
            "n_updates": len(runs[0]["curves"]["ppo_from_base"]["kl"]),
            "n_eval_prompts": N_EVAL_PROMPTS,
        },
        "policies": POLICIES,
        "demonstrations": {
            "true_utility": {
                "per_seed": [run["demonstrations"]["true_utility"] for run in runs],
                "mean": float(np.mean([run["demonstrations"]["true_utility"] for run in runs])),
            },
            "samples": runs[0]["demonstrations"]["samples"],
        },
        "sft_loss": {"first_and_last_batch": [run["sft_loss"] for run in runs]},
    }
    for measure in MEASURES:
        results[measure] = {}
        for policy in POLICIES:
            values = [run["evaluations"][policy][measure] for run in runs]
            results[measure][policy] = {
                "per_seed": values,
                "mean": float(np.mean(values)),
                "std": float(np.std(values)),
            }
    results["curves"] = {
        policy: {
            key: [run["curves"][policy][key] for run in runs]
            for key in ("true_utility", "reward", "kl")
        }
        for policy in ("ppo_from_base", "ppo_from_sft")
    }
    results["samples"] = {policy: runs[0]["evaluations"][policy]["samples"] for policy in POLICIES}
    return _round(results)


def run_sft_study(seeds: list[int], n_updates: int | None = None) -> dict[str, Any]:
    """Every seed (see ``run_seed``); returns the results.json content."""
    runs = [run_seed(seed, n_updates) for seed in progress(list(seeds), desc="sft: seeds")]
    return summarize(seeds, runs)


def plot_sft_study(results: dict[str, Any], out: Path) -> list[Path]:
    """``sft_vs_base.png``: true utility over the PPO updates of both runs (per seed and mean,
    with the SFT and base models' levels), and true utility against KL to the base model."""
    import matplotlib.pyplot as plt  # noqa: I001

    from rlhf_edu.viz.figures import save_figure  # first: it picks a backend without a screen

    fig, (ax_curve, ax_kl) = plt.subplots(1, 2, figsize=(11, 4))
    colours = {"base": "grey", "sft": "tab:green", "ppo_from_base": "tab:blue",
               "ppo_from_sft": "tab:orange"}  # fmt: skip
    for policy in ("ppo_from_base", "ppo_from_sft"):
        curves = np.array(results["curves"][policy]["true_utility"])  # (seeds, updates)
        updates = np.arange(1, curves.shape[1] + 1)
        for row in curves:
            ax_curve.plot(updates, row, color=colours[policy], alpha=0.25, linewidth=0.8)
        ax_curve.plot(updates, curves.mean(0), color=colours[policy], label=POLICIES[policy])
    for policy in ("base", "sft"):
        ax_curve.axhline(results["true_utility"][policy]["mean"], color=colours[policy],
                         linestyle="--", label=f"{POLICIES[policy]}, held out")  # fmt: skip
    ax_curve.set_xlabel("PPO update")
    ax_curve.set_ylabel("true utility (training batch)")
    ax_curve.set_title("true utility during PPO, from each starting model", fontsize=10)
    ax_curve.legend(fontsize=8)
    for policy in POLICIES:
        kls = results["kl_to_base"][policy]["per_seed"]
        utilities = results["true_utility"][policy]["per_seed"]
        ax_kl.scatter(kls, utilities, color=colours[policy], label=POLICIES[policy])
    ax_kl.set_xlabel("KL to the base model, nats per response (held out)")
    ax_kl.set_ylabel("true utility (held out)")
    ax_kl.set_title(f"where each policy ends ({len(results['seeds'])} seeds)", fontsize=10)
    ax_kl.legend(fontsize=8)
    fig.tight_layout()
    written = [save_figure(fig, out / "sft_vs_base.png")]
    plt.close(fig)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Run seeds (by default 0, 1, 2) and write the packaged file (or ``--out``).

    ``--raw FILE`` writes the seeds' unsummarised runs instead, and ``--merge FILE...``
    summarises such files into ``--out``: every seed is seeded on its own, so seeds run in
    separate processes give the file of one sequential run.
    """
    import json

    from rlhf_edu.data import SFT_VS_BASE_PATH, write_sft_vs_base

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", type=Path, default=SFT_VS_BASE_PATH)
    parser.add_argument("--raw", type=Path, help="write the unsummarised runs here instead")
    parser.add_argument("--merge", nargs="+", type=Path, help="summarise --raw files into --out")
    args = parser.parse_args(argv)
    if args.merge:
        by_seed: dict[int, Any] = {}
        for path in args.merge:
            for seed, run in json.loads(path.read_text()):
                if seed in by_seed:
                    parser.error(f"seed {seed} appears twice in --merge")
                by_seed[seed] = run
        seeds = sorted(by_seed)
        results = summarize(seeds, [by_seed[seed] for seed in seeds])
    else:
        seeds = [int(s) for s in args.seeds.split(",")]
        runs = [run_seed(seed) for seed in seeds]
        if args.raw:
            args.raw.write_text(json.dumps([[seed, run] for seed, run in zip(seeds, runs)]))
            print(f"runs of seeds {seeds} written to {args.raw}")
            return 0
        results = summarize(seeds, runs)
    write_sft_vs_base(results, args.out)
    for measure in ("true_utility", "kl_to_base", "distinct_2"):
        means = {policy: v["mean"] for policy, v in results[measure].items()}
        print(f"{measure}: {means}")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
