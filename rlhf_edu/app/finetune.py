"""``rlhf-edu train rlhf`` and ``rlhf-edu train dpo``: fine-tune the LM against the reward model.

    rlhf-edu train rlhf --updates 60 --out runs/ppo            # CPU, tiny GPT-2 (~1 s per update)
    rlhf-edu train rlhf --out runs/ppo --resume                # continue from the last checkpoint
    rlhf-edu train rlhf --kl-coef 0 --out runs/hack            # no KL penalty: reward hacking
    rlhf-edu train rlhf --device cuda --model gpt2-124m-random # a GPT-2 124M-sized policy, bf16
    accelerate launch --multi_gpu --num_processes 2 -m rlhf_edu.app.cli train rlhf --device cuda
    rlhf-edu train dpo --beta 0.1 --out runs/dpo

``--model`` is a local folder (``save_pretrained`` format, e.g. a downloaded ``gpt2``), ``gpt2``
(needs the Hugging Face cache), or ``gpt2-124m-random``: a randomly initialised model of GPT-2
small's shape (12 layers, 768 wide, 1024 positions) over the course tokenizer, enough to time the
GPU path without a download.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from rlhf_edu.utils import History, seed_everything
from rlhf_edu.utils.history import require_tensorboard

#: PPO updates when ``--updates`` is not given (about a minute per 60 updates on one CPU core).
DEFAULT_UPDATES = 60
N_TRAIN_PROMPTS = 512
N_EVAL_PROMPTS = 128
RANDOM_124M = "gpt2-124m-random"


def _default_out(kind: str) -> Path:
    return Path("runs") / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"


def load_policy(model: str | None, seed: int = 0):
    """``(policy, tokenizer)`` for ``--model``: the tiny GPT-2 (None), a 124M random GPT-2, or a
    ``from_pretrained`` path/name."""
    from rlhf_edu.rlhf.lm import load_lm, load_tiny_lm

    if model is None:
        return load_tiny_lm()
    if model == RANDOM_124M:
        from transformers import GPT2LMHeadModel

        from rlhf_edu.rlhf.lm import tiny_gpt2_config

        _, tokenizer = load_tiny_lm()
        # GPT-2 small's shape (124M parameters with its own vocabulary), randomly initialised.
        config = tiny_gpt2_config(tokenizer, n_layer=12, n_embd=768, n_head=12, n_positions=1024)
        torch.manual_seed(seed)
        return GPT2LMHeadModel(config).eval(), tokenizer
    return load_lm(model)


def _accelerator(device: str):
    """An ``accelerate.Accelerator`` when launched as several processes, else None."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    from accelerate import Accelerator

    return Accelerator(cpu=device == "cpu")


def run_train_rlhf(args: argparse.Namespace) -> int:
    """PPO fine-tuning of the policy against the default reward model; see the module doc."""
    from rlhf_edu.rlhf.corpus import sample_prompts
    from rlhf_edu.rlhf.ppo import RLHFPPOConfig, RLHFPPOTrainer, TrainingDivergedError
    from rlhf_edu.rlhf.preferences import get_labeler
    from rlhf_edu.rlhf.reward_model import load_default_reward_model

    seed = seed_everything(args.seed)
    device = args.device
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"--device must be cpu or cuda, got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda, but no CUDA device is available to torch")
    out = Path(args.out) if args.out is not None else _default_out("rlhf-ppo")
    tensorboard_dir = getattr(args, "tensorboard", None)
    if tensorboard_dir is not None:
        require_tensorboard()  # fail now, not after the training run
    checkpoints = out / "checkpoints"
    policy, tokenizer = load_policy(args.model, seed)
    reward_model = load_default_reward_model().to(device)
    labeler = get_labeler("mix")
    config = RLHFPPOConfig()
    if args.kl_coef is not None:
        if args.kl_coef < 0:
            raise ValueError(f"--kl-coef must be >= 0, got {args.kl_coef}")
        config = config.replace(init_kl_coef=args.kl_coef, adaptive_kl=args.kl_coef > 0)
    n_updates = args.updates or DEFAULT_UPDATES
    trainer = RLHFPPOTrainer(
        policy,
        tokenizer,
        reward_model,
        sample_prompts(N_TRAIN_PROMPTS, seed=seed),
        config,
        seed=seed,
        true_utility=labeler.utility,
        device=device,
        accelerator=_accelerator(device),
    )
    if args.resume:
        from rlhf_edu.utils import latest_checkpoint

        last = latest_checkpoint(checkpoints)
        if last is None:
            raise FileNotFoundError(f"--resume: no checkpoint in {checkpoints}")
        trainer.load(last)
        print(f"resumed from {last} (update {trainer.update_index})")
    if tensorboard_dir is not None and trainer.rank == 0:
        # live: each update's row is written as it is logged (a resumed run's rows first)
        trainer.history = History(trainer.history.rows, tensorboard_dir=tensorboard_dir)
    eval_prompts = sample_prompts(N_EVAL_PROMPTS, seed=seed + 10_000)
    before = trainer.evaluate(eval_prompts, seed=seed) if trainer.update_index == 0 else None
    started = time.perf_counter()
    try:
        history = trainer.train(n_updates, checkpoint_dir=checkpoints, checkpoint_every=10)
    except TrainingDivergedError as err:
        print(f"rlhf-edu train rlhf: stopped: {err}")
        return 1
    finally:
        trainer.history.close()  # flush the TensorBoard events (no-op without --tensorboard)
    seconds = time.perf_counter() - started
    after = trainer.evaluate(eval_prompts, seed=seed)
    if trainer.rank != 0:
        return 0
    out.mkdir(parents=True, exist_ok=True)
    history.to_csv(out / "history.csv")
    trainer.policy.save_pretrained(out / "policy")
    tokenizer.save_pretrained(out / "policy")
    summary: dict[str, Any] = {
        "updates": trainer.update_index,
        "seconds": round(seconds, 1),
        "config": asdict(config),
        "after": {k: after[k] for k in ("reward", "true_utility", "kl", "eos_fraction")},
    }
    if before is not None:
        summary["before"] = {k: before[k] for k in ("reward", "true_utility", "kl", "eos_fraction")}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    samples = [f"{p}{r}" for p, r in zip(after["prompts"][:10], after["responses"][:10])]
    (out / "samples.txt").write_text("\n".join(samples) + "\n")
    from rlhf_edu.viz.figures import save_figure
    from rlhf_edu.viz.rlhf import plot_ppo_training

    save_figure(plot_ppo_training(history), out / "ppo_training.png")
    if before is not None:
        print(
            f"true utility {before['true_utility']:.3f} -> {after['true_utility']:.3f}, "
            f"reward {before['reward']:.3f} -> {after['reward']:.3f}, KL {after['kl']:.2f} nats"
        )
    if tensorboard_dir is not None:
        print(f"tensorboard: {tensorboard_dir} (tensorboard --logdir {tensorboard_dir})")
    print(f"PPO run written to {out}")
    return 0


def run_train_dpo(args: argparse.Namespace) -> int:
    """DPO on preference pairs (``--pairs`` JSONL, default: synthetic pairs of the "mix" labeler)."""
    from rlhf_edu.rlhf.corpus import sample_prompts
    from rlhf_edu.rlhf.dpo import DPOConfig, train_dpo
    from rlhf_edu.rlhf.generation import sample_and_score
    from rlhf_edu.rlhf.lm import load_tiny_lm
    from rlhf_edu.rlhf.preferences import get_labeler, make_synthetic_pairs, read_preferences
    from rlhf_edu.rlhf.reward_model import load_default_reward_model

    seed = seed_everything(args.seed)
    out = Path(args.out) if args.out is not None else _default_out("rlhf-dpo")
    tensorboard_dir = getattr(args, "tensorboard", None)
    if tensorboard_dir is not None:
        require_tensorboard()  # fail now, not after the training run
    labeler = get_labeler("mix")
    if args.pairs is not None:
        pairs = read_preferences(args.pairs)
    else:
        pairs = make_synthetic_pairs(labeler, 1024, seed=seed)
    policy, tokenizer = load_tiny_lm()
    reward_model = load_default_reward_model()
    eval_prompts = sample_prompts(N_EVAL_PROMPTS, seed=seed + 10_000)
    result = train_dpo(policy, tokenizer, pairs, DPOConfig(beta=args.beta), seed=seed)

    after = sample_and_score(
        result.policy, result.ref_policy, tokenizer, eval_prompts, reward_model,
        labeler.utility, seed=seed,
    )  # fmt: skip
    before = sample_and_score(
        result.ref_policy, result.ref_policy, tokenizer, eval_prompts, reward_model,
        labeler.utility, seed=seed,
    )  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    result.history.to_csv(out / "history.csv")
    policy.save_pretrained(out / "policy")
    tokenizer.save_pretrained(out / "policy")
    summary = {
        "n_pairs": len(pairs),
        "beta": args.beta,
        "before": {"reward": before.reward, "true_utility": before.true_utility, "kl": 0.0},
        "after": {"reward": after.reward, "true_utility": after.true_utility, "kl": after.kl},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(
        f"true utility {before.true_utility:.3f} -> {after.true_utility:.3f}, "
        f"reward {before.reward:.3f} -> {after.reward:.3f}, KL {after.kl:.2f} nats"
    )
    if tensorboard_dir is not None:
        result.history.to_tensorboard(tensorboard_dir)
        print(f"tensorboard: {tensorboard_dir} (tensorboard --logdir {tensorboard_dir})")
    print(f"DPO run written to {out}")
    return 0


__all__ = ["load_policy", "run_train_dpo", "run_train_rlhf"]
