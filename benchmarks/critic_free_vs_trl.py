"""Our GRPO and RLOO against TRL's GRPOTrainer and RLOOTrainer on the identical set-up, on the CPU.

    python benchmarks/critic_free_vs_trl.py --updates 8 --seeds 0
    (in a venv with the ``bench`` extra, e.g. ``python3 -m venv /tmp/benchvenv &&
    /tmp/benchvenv/bin/pip install -c constraints/cpu.txt -e ".[bench]"``; TRL 1.12.0 has both
    ``trl.GRPOTrainer`` and ``trl.RLOOTrainer``)

All four trainers get, in one run: the same tiny GPT-2 (2 layers, 128 wide) and tokenizer (pad !=
EOS), the same reward model (ours: TRL calls it as a reward function on the decoded text, as ours
does), the same 512 training prompts, ``--batch`` completions per update in groups of
``--group-size`` samples of one prompt, 32 new tokens, temperature 1, learning rate 1e-4 held
constant, ``EPOCHS`` passes over each generation batch (TRL's ``num_iterations``, our
``ppo_epochs``), clip range 0.2, and each method's KL set-up at TRL's defaults: GRPO's k3 penalty
in the loss with beta 0.04 (TRL's GRPO default is beta 0; the GRPO paper's 0.04 is set on both),
RLOO's penalty folded into the sequence reward with beta 0.05. No missing-EOS penalty (TRL's GRPO
and RLOO have none). One thread.

Reported: wall seconds per update (an update = one generation batch and its ``EPOCHS`` optimizer
steps; the first update is a warm-up and not timed), episodes (completions) per second, and,
after the same number of episodes, the held-out true utility (the "mix" labeler's hidden
utility, never trained on), reward-model score and KL to the reference of each trained policy on
128 held-out prompts, measured the same way for all four (``generation.sample_and_score``).
Writes benchmarks/results/critic_free_vs_trl.md.

Differences that remain by design: TRL generates with ``transformers``' ``generate``; ours with
its own KV-cache loop. TRL's GRPO averages the loss with its default ``loss_type`` ("dapo": over
all tokens of the batch, as ours); TRL scales GRPO rewards per group (``scale_rewards="group"``),
as ours.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("RLHF_EDU_NO_PROGRESS", "1")
os.environ.setdefault("WANDB_DISABLED", "true")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from rlhf_vs_trl import load_models, write_report  # noqa: E402  (this folder)

NEW_TOKENS, EPOCHS, LR, CLIP = 32, 4, 1e-4, 0.2
GRPO_BETA, RLOO_BETA = 0.04, 0.05
N_EVAL = 128


def held_out(policy, reference, tokenizer, reward_model, seed):
    """True utility, reward-model score and KL of ``policy`` on the held-out prompts."""
    from rlhf_edu.rlhf.corpus import sample_prompts
    from rlhf_edu.rlhf.generation import sample_and_score
    from rlhf_edu.rlhf.preferences import get_labeler

    evaluation = sample_and_score(
        policy.eval(),
        reference,
        tokenizer,
        sample_prompts(N_EVAL, seed=10_000 + seed),
        reward_model,
        get_labeler("mix").utility,
        max_new_tokens=NEW_TOKENS,
        seed=seed,
    )
    return {
        "true_utility": float(np.mean(evaluation.utilities)),
        "reward": float(np.mean(evaluation.scores)),
        "kl": float(np.mean(evaluation.kls)),
    }


def run_ours(method, prompts, n_updates, seed, batch, group_size):
    from rlhf_edu.rlhf.grpo import GRPOConfig, GRPOTrainer
    from rlhf_edu.rlhf.rloo import RLOOConfig, RLOOTrainer

    policy, tokenizer, reward_model = load_models()
    reference = copy.deepcopy(policy).eval()
    shared = dict(
        batch_size=batch,
        max_new_tokens=NEW_TOKENS,
        ppo_epochs=EPOCHS,
        n_minibatches=1,
        learning_rate=LR,
        clip_range=CLIP,
        missing_eos_penalty=None,
    )
    if method == "GRPO":
        config = GRPOConfig(group_size=group_size, beta=GRPO_BETA, **shared)
        trainer_class = GRPOTrainer
    else:
        config = RLOOConfig(k=group_size, kl_coef=RLOO_BETA, **shared)
        trainer_class = RLOOTrainer
    trainer = trainer_class(
        policy, tokenizer, reward_model, prompts, config, seed=seed, ref_policy=reference
    )
    trainer.step()  # warm-up (first-call allocations), not timed
    started = time.perf_counter()
    trainer.train(n_updates, show_progress=False)
    seconds = time.perf_counter() - started
    return {
        "seconds_per_update": seconds / (n_updates - 1),
        **held_out(trainer.policy, reference, tokenizer, reward_model, seed),
    }


def run_trl(method, prompts, n_updates, seed, batch, group_size):
    from datasets import Dataset
    from transformers import TrainerCallback

    policy, tokenizer, reward_model = load_models()
    reference = copy.deepcopy(policy).eval()

    def reward_fn(prompts, completions, **kwargs):
        return [float(s) for s in reward_model.score(list(prompts), list(completions))]

    n_prompts = n_updates * batch // group_size  # TRL repeats each prompt num_generations times
    dataset = Dataset.from_dict({"prompt": [prompts[i % len(prompts)] for i in range(n_prompts)]})
    common = dict(
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=1,
        num_generations=group_size,
        max_completion_length=NEW_TOKENS,
        temperature=1.0,
        learning_rate=LR,
        lr_scheduler_type="constant",
        num_iterations=EPOCHS,
        epsilon=CLIP,
        max_steps=n_updates * EPOCHS,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        use_cpu=True,
        seed=seed,
        dataloader_num_workers=0,
        shuffle_dataset=False,
    )

    class StepTimes(TrainerCallback):
        def __init__(self):
            self.times = []

        def on_step_end(self, args, state, control, **kwargs):
            self.times.append(time.perf_counter())

    step_times = StepTimes()
    with tempfile.TemporaryDirectory() as out:
        if method == "GRPO":
            from trl import GRPOConfig, GRPOTrainer

            args = GRPOConfig(output_dir=out, beta=GRPO_BETA, **common)
            trainer_class = GRPOTrainer
        else:
            from trl import RLOOConfig, RLOOTrainer

            args = RLOOConfig(output_dir=out, beta=RLOO_BETA, **common)
            trainer_class = RLOOTrainer
        trainer = trainer_class(
            model=policy,
            reward_funcs=reward_fn,
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
        )
        trainer.add_callback(step_times)
        trainer.train()
    # an update is EPOCHS optimizer steps on one generation batch; the first is a warm-up
    times = step_times.times
    timed_updates = len(times) // EPOCHS - 1
    seconds = (times[-1] - times[EPOCHS - 1]) / timed_updates
    trained = trainer.model
    return {
        "seconds_per_update": seconds,
        "updates": len(times) // EPOCHS,
        **held_out(trained, reference, tokenizer, reward_model, seed),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--updates", type=int, default=8, help="updates (>= 2; the first warms up)")
    parser.add_argument("--batch", type=int, default=64, help="completions per update")
    parser.add_argument("--group-size", type=int, default=4, help="samples per prompt")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds, e.g. 0,1,2")
    parser.add_argument(
        "--out", default=str(Path(__file__).parent / "results" / "critic_free_vs_trl.md")
    )
    args = parser.parse_args()
    if args.updates < 2:
        parser.error("--updates must be >= 2 (the first update is a warm-up)")
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    import trl

    from rlhf_edu.rlhf.corpus import sample_prompts
    from rlhf_edu.utils.seeding import seed_everything

    seeds = [int(s) for s in args.seeds.split(",")]
    names = [f"{who} {method}" for method in ("GRPO", "RLOO") for who in ("TRL", "rlhf_edu")]
    runs: dict[str, list[dict]] = {name: [] for name in names}
    before: list[dict] = []
    for seed in seeds:
        prompts = sample_prompts(512, seed=seed)
        policy, tokenizer, reward_model = load_models()
        before.append(held_out(policy, policy, tokenizer, reward_model, seed))
        for name in names:
            who, method = name.split()
            seed_everything(seed)
            run = run_trl if who == "TRL" else run_ours
            runs[name].append(run(method, prompts, args.updates, seed, args.batch, args.group_size))
            print(name, runs[name][-1], flush=True)
    lines = [
        f"# Our GRPO and RLOO vs TRL {trl.__version__}'s GRPOTrainer and RLOOTrainer "
        "(tiny GPT-2, CPU, 1 thread)",
        "",
        f"{args.batch} completions/update ({args.batch // args.group_size} prompts x "
        f"{args.group_size} samples), {NEW_TOKENS} new tokens, {EPOCHS} optimizer steps per "
        f"generation batch, lr {LR}, clip {CLIP}, GRPO beta {GRPO_BETA} (k3 in the loss), RLOO "
        f"beta {RLOO_BETA} (in the reward); {args.updates} updates ({args.updates * args.batch} "
        f"episodes) each, the first a warm-up not timed; seeds {args.seeds}. Seconds: median "
        f"over seeds. True utility, reward-model score and KL: the trained policy on {N_EVAL} "
        "held-out prompts after equal episodes, mean over seeds (per seed in brackets); the "
        f"reference policy, before training, scores {np.mean([b['true_utility'] for b in before]):+.3f} "
        f"true utility and {np.mean([b['reward'] for b in before]):+.3f} RM score on them.",
        "",
        "| trainer | s/update | episodes/s | speed vs TRL | true utility | RM score | KL |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in names:
        who, method = name.split()
        results = runs[name]
        seconds = statistics.median(r["seconds_per_update"] for r in results)
        trl_seconds = statistics.median(r["seconds_per_update"] for r in runs[f"TRL {method}"])

        def cell(key, results=results):
            values = [r[key] for r in results]
            return f"{np.mean(values):+.3f} ({', '.join(f'{v:+.3f}' for v in values)})"

        lines.append(
            f"| {name} | {seconds:.2f} | {args.batch / seconds:.1f} | "
            f"{trl_seconds / seconds:.2f}x | {cell('true_utility')} | {cell('reward')} | "
            f"{cell('kl')} |"
        )
    write_report(lines, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
