"""Our RLHF PPO against TRL's PPOTrainer on the identical set-up, on the CPU.

    .venv/bin/python benchmarks/rlhf_vs_trl.py --updates 10 --seeds 0,1,2
    (in a venv with the ``bench`` extra: ``.venv/bin/pip install -c constraints/cpu.txt -e
    ".[dev,bench]"``; TRL 1.12.0 is the last release with PPO, under ``trl.experimental.ppo``)

Both trainers get the same tiny GPT-2 (2 layers, 128 wide) and tokenizer (pad != EOS), the same
reward model (ours, converted to a ``GPT2ForSequenceClassification`` with its head, bias and
normalisation folded into ``score`` so both see identical numbers), the same prompts, 64 prompts
per update, 32 new tokens, temperature 1, 4 PPO epochs, 1 minibatch, learning rate 1e-4, a fixed
KL coefficient 0.05 (TRL's default; ours with ``adaptive_kl=False``) and a missing-EOS penalty of
1. One thread, CPU. The table reports wall seconds per PPO update (everything: sampling, scoring,
training), episodes (responses) per second, and the mean reward-model score (minus the missing-EOS
penalty, as TRL logs ``objective/scores``) and KL of the last 3 updates' rollouts, averaged over
``--seeds``, and ``reward - beta * KL``: the objective both trainers maximise. Writes
benchmarks/results/rlhf_vs_trl.md.

Differences that remain by design: TRL trains a separate value model (a second GPT-2 initialised
from the reward model, as in its recipe); ours is a value head on the policy that starts at zero.
With GAE's lambda < 1 the advantages bootstrap from the critic, so a critic that starts as the
reward model credits early tokens at once, while a zero-initialised head discounts the score by
``lambda^k`` for a token k steps before the end until it has learned. Ours therefore runs twice:
with TRL's lambda = 0.95, and with lambda = 1 (no bootstrapping from an untrained critic). TRL
scores the response as generated; ours re-reads the decoded text through the reward model
(appending EOS).
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

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
os.environ.setdefault("RLHF_EDU_NO_PROGRESS", "1")
os.environ.setdefault("WANDB_DISABLED", "true")

import numpy as np  # noqa: E402
import torch  # noqa: E402

BATCH, NEW_TOKENS, EPOCHS, LR, KL_COEF = 64, 32, 4, 1e-4, 0.05


def load_models():
    from rlhf_edu.rlhf.lm import load_tiny_lm
    from rlhf_edu.rlhf.reward_model import load_default_reward_model

    policy, tokenizer = load_tiny_lm()
    reward_model = load_default_reward_model()
    return policy, tokenizer, reward_model


def as_sequence_classifier(reward_model):
    """Our RewardModel as a GPT2ForSequenceClassification giving the same normalised score."""
    from transformers import GPT2ForSequenceClassification

    config = copy.deepcopy(reward_model.backbone.config)
    config.num_labels = 1
    config.pad_token_id = reward_model.tokenizer.pad_token_id
    model = GPT2ForSequenceClassification(config)
    model.transformer.load_state_dict(reward_model.backbone.state_dict())
    head = torch.nn.Linear(config.n_embd, 1, bias=True)
    std, mean = float(reward_model.reward_std), float(reward_model.reward_mean)
    with torch.no_grad():
        head.weight.copy_(reward_model.head.weight / std)
        head.bias.copy_((reward_model.head.bias - mean) / std)
    model.score = head
    return model.eval()


# the hyperparameters in which our two runs differ (everything else is shared with TRL's run)
OURS_VARIANTS = {"rlhf_edu lam=0.95": {"lam": 0.95}, "rlhf_edu lam=1": {"lam": 1.0}}


def run_ours(prompts, n_updates, seed, changes):
    from rlhf_edu.rlhf.ppo import RLHFPPOConfig, RLHFPPOTrainer

    policy, tokenizer, reward_model = load_models()
    config = RLHFPPOConfig(
        batch_size=BATCH,
        max_new_tokens=NEW_TOKENS,
        ppo_epochs=EPOCHS,
        n_minibatches=1,
        learning_rate=LR,
        init_kl_coef=KL_COEF,
        adaptive_kl=False,
        missing_eos_penalty=1.0,
        **changes,
    )
    trainer = RLHFPPOTrainer(policy, tokenizer, reward_model, prompts, config, seed=seed)
    trainer.step()  # warm-up (first-call allocations), not timed
    started = time.perf_counter()
    trainer.train(n_updates + 1)
    seconds = time.perf_counter() - started
    last = trainer.history.rows[1:][-3:]  # the warm-up update is not counted
    penalty = config.missing_eos_penalty
    # the penalised score, as TRL's objective/scores
    scores = np.array([r["reward"] - penalty * (1 - r["eos_fraction"]) for r in last])
    kls = np.array([r["kl"] for r in last])
    kl_coefs = np.array([r["kl_coef"] for r in last])
    return {
        "seconds_per_update": seconds / n_updates,
        "reward": float(scores.mean()),
        "kl": float(kls.mean()),
        # what PPO maximises: score - beta * KL (TRL's objective/rlhf_reward)
        "rlhf_reward": float((scores - kl_coefs * kls).mean()),
    }


def run_trl(prompts, n_updates, seed):
    from datasets import Dataset
    from trl.experimental.ppo import PPOConfig, PPOTrainer

    policy, tokenizer, reward_model = load_models()
    seq_cls = as_sequence_classifier(reward_model)
    value_model = as_sequence_classifier(reward_model)  # TRL's recipe: critic from the RM
    ref_policy = copy.deepcopy(policy)
    encoded = [tokenizer.encode(p, add_special_tokens=False) for p in prompts]
    n_episodes = BATCH * (n_updates + 1)
    dataset = Dataset.from_dict(
        {"input_ids": [encoded[i % len(encoded)] for i in range(n_episodes)]}
    )
    with tempfile.TemporaryDirectory() as out:
        args = PPOConfig(
            output_dir=out,
            per_device_train_batch_size=BATCH,
            gradient_accumulation_steps=1,
            num_mini_batches=1,
            num_ppo_epochs=EPOCHS,
            response_length=NEW_TOKENS,
            temperature=1.0,
            learning_rate=LR,
            lr_scheduler_type="constant",  # ours keeps the learning rate constant too
            kl_coef=KL_COEF,
            missing_eos_penalty=1.0,
            stop_token="eos",
            total_episodes=n_episodes,
            local_rollout_forward_batch_size=BATCH,
            num_sample_generations=0,
            report_to="none",
            save_strategy="no",
            logging_steps=1,
            use_cpu=True,
            seed=seed,
            dataloader_num_workers=0,
        )
        from transformers import TrainerCallback

        class StepTimes(TrainerCallback):
            def __init__(self):
                self.times = []

            def on_step_end(self, args, state, control, **kwargs):
                self.times.append(time.perf_counter())

        step_times = StepTimes()
        trainer = PPOTrainer(
            args=args,
            processing_class=tokenizer,
            model=policy,
            ref_model=ref_policy,
            reward_model=seq_cls,
            value_model=value_model,
            train_dataset=dataset,
        )
        trainer.add_callback(step_times)
        trainer.train()
    logs = [row for row in trainer.state.log_history if "objective/scores" in row]
    # the first update (warm-up) is not timed, as for ours
    times = step_times.times
    per_update = (times[-1] - times[0]) / (len(times) - 1)
    return {
        "seconds_per_update": per_update,
        "reward": float(np.mean([r["objective/scores"] for r in logs[-3:]])),
        "kl": float(np.mean([r["objective/kl"] for r in logs[-3:]])),
        "rlhf_reward": float(np.mean([r["objective/rlhf_reward"] for r in logs[-3:]])),
        "updates": len(logs),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--updates", type=int, default=10)
    parser.add_argument("--seeds", default="0", help="comma-separated seeds, e.g. 0,1,2")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "rlhf_vs_trl.md"))
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    from rlhf_edu.rlhf.corpus import sample_prompts

    seeds = [int(s) for s in args.seeds.split(",")]
    runs: dict[str, list[dict]] = {"TRL 1.12": [], **{name: [] for name in OURS_VARIANTS}}
    for seed in seeds:
        prompts = sample_prompts(512, seed=seed)
        runs["TRL 1.12"].append(run_trl(prompts, args.updates, seed))
        for name, changes in OURS_VARIANTS.items():
            runs[name].append(run_ours(prompts, args.updates, seed, changes))
    trl_seconds = statistics.median(r["seconds_per_update"] for r in runs["TRL 1.12"])
    lines = [
        "# Our RLHF PPO vs TRL 1.12's PPOTrainer (tiny GPT-2, CPU, 1 thread)",
        "",
        f"{BATCH} prompts/update, {NEW_TOKENS} new tokens, {EPOCHS} PPO epochs, 1 minibatch, "
        f"lr {LR}, fixed KL coef {KL_COEF}; {args.updates} timed updates after one warm-up; "
        f"seeds {args.seeds}. Seconds: median over seeds; reward (penalised score) and KL: "
        "mean of the last 3 updates, averaged over seeds (per-seed values in brackets). "
        "reward - beta KL is the KL-penalised objective PPO maximises (TRL's "
        "objective/rlhf_reward).",
        "",
        "| trainer | s/update | episodes/s | speed-up vs TRL | reward | KL | reward - beta KL |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, results in runs.items():
        seconds = statistics.median(r["seconds_per_update"] for r in results)
        rewards = [r["reward"] for r in results]
        kls = [r["kl"] for r in results]
        objective = [r["rlhf_reward"] for r in results]
        lines.append(
            f"| {name} | {seconds:.3f} | {BATCH / seconds:.1f} | {trl_seconds / seconds:.2f}x | "
            f"{np.mean(rewards):.3f} ({', '.join(f'{x:.3f}' for x in rewards)}) | "
            f"{np.mean(kls):.3f} ({', '.join(f'{x:.3f}' for x in kls)}) | "
            f"{np.mean(objective):.3f} ({', '.join(f'{x:.3f}' for x in objective)}) |"
        )
    write_report(lines, args.out)
    return 0


def write_report(lines: list[str], out: str | Path) -> Path:
    """Print the table's lines and write them to ``out`` (shared with critic_free_vs_trl.py)."""
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"written to {out}")
    return out


if __name__ == "__main__":
    raise SystemExit(main())
