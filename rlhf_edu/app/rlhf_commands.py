"""``rlhf-edu train lm``, ``rlhf-edu train reward-model`` and ``rlhf-edu label``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def run_train_lm(args: argparse.Namespace) -> int:
    """Build the corpus, tokenizer and tiny GPT-2 into the cache (once; ``--force`` rebuilds)."""
    from rlhf_edu.rlhf.lm import ensure_tiny_lm, tiny_lm_dir

    folder = tiny_lm_dir(args.cache_dir, args.seed)
    if folder.exists() and not args.force:
        print(f"tiny LM already built: {folder} (use --force to rebuild)")
        return 0
    print(f"building the tiny LM into {folder} (about a minute on the CPU)...", flush=True)
    folder = ensure_tiny_lm(args.cache_dir, args.seed, force=args.force)
    import json

    info = json.loads((folder / "build_info.json").read_text())
    print(
        f"done: {info['n_parameters']:,} parameters, vocabulary {info['vocab_size']}, "
        f"final loss {info['final_loss']:.3f} nats/token, {info['build_seconds']} s -> {folder}"
    )
    return 0


def run_train_reward_model(args: argparse.Namespace) -> int:
    """Train a Bradley-Terry reward model on a JSONL file of pairs or on synthetic pairs.

    Without ``--pairs`` and ``--out`` (and with the default labeler) this builds the course's
    default reward model into the cache, as ``load_default_reward_model()`` would. Otherwise
    checkpoints go to ``OUT/checkpoints`` and running the same command again resumes from them.
    """
    from rlhf_edu.rlhf.preferences import get_labeler, make_synthetic_pairs, read_preferences
    from rlhf_edu.rlhf.reward_model import (
        DEFAULT_CONFIG,
        DEFAULT_N_EVAL_PAIRS,
        DEFAULT_N_PAIRS,
        RewardModelConfig,
        held_out_metrics,
        train_reward_model,
    )
    from rlhf_edu.utils import seed_everything

    seed_everything(args.seed)
    tensorboard_dir = getattr(args, "tensorboard", None)
    if tensorboard_dir is not None:
        from rlhf_edu.utils.history import require_tensorboard

        require_tensorboard()  # fail now, not after the training run
    if args.pairs is None and args.out is None and args.labeler == "mix" and not tensorboard_dir:
        return _ensure_default_reward_model(args.seed)
    out = args.out or Path("runs") / "reward-model"
    labeler = None
    if args.pairs is not None:
        pairs = read_preferences(args.pairs)
        if len(pairs) < 10:
            raise ValueError(f"{args.pairs} has {len(pairs)} pairs; need at least 10 to train")
        order = np.random.default_rng(args.seed).permutation(len(pairs))
        n_eval = max(1, len(pairs) // 10)
        eval_pairs = [pairs[i] for i in order[:n_eval]]
        pairs = [pairs[i] for i in order[n_eval:]]
        config = RewardModelConfig(epochs=3, eval_every=max(1, len(pairs) // 32))
        source = str(args.pairs)
    else:
        labeler = get_labeler(args.labeler)
        pairs = make_synthetic_pairs(labeler, DEFAULT_N_PAIRS, seed=args.seed)
        eval_pairs = make_synthetic_pairs(labeler, DEFAULT_N_EVAL_PAIRS, seed=args.seed + 10_000)
        config = DEFAULT_CONFIG
        source = f"synthetic labeler {labeler.name!r} (T={labeler.temperature})"
    print(f"training a reward model on {len(pairs)} pairs from {source}...", flush=True)
    model, history = train_reward_model(
        pairs,
        config,
        eval_pairs=eval_pairs,
        seed=args.seed,
        checkpoint_dir=out / "checkpoints",
        resume=True,
    )
    metrics = held_out_metrics(model, eval_pairs, labeler)
    line = f"held-out accuracy {metrics['accuracy']:.3f} on {len(eval_pairs)} pairs"
    if labeler is not None:
        line += f" (Bayes-optimal {metrics['bayes_optimal_accuracy']:.3f})"
    print(line)
    # normalize: mean 0, std 1 under the reference policy's (the tiny LM's) own samples
    from rlhf_edu.rlhf.corpus import sample_prompts
    from rlhf_edu.rlhf.lm import load_tiny_lm, sample_responses

    lm_model, tokenizer = load_tiny_lm()
    prompts = sample_prompts(256, seed=args.seed + 20_000)
    model.normalize_under(prompts, sample_responses(lm_model, tokenizer, prompts, seed=args.seed))
    model.save(out, metadata={"source": source, "n_pairs": len(pairs), **metrics})
    history.to_csv(out / "history.csv")
    if tensorboard_dir is not None:
        history.to_tensorboard(tensorboard_dir)
        print(f"tensorboard: {tensorboard_dir} (tensorboard --logdir {tensorboard_dir})")
    print(f"saved to {out}")
    return 0


def _ensure_default_reward_model(seed: int) -> int:
    """No --pairs and no --out: build the course's default reward model into the cache (once)."""
    from rlhf_edu.rlhf.reward_model import (
        RewardModel,
        default_reward_model_dir,
        ensure_default_reward_model,
    )

    folder = default_reward_model_dir(seed=seed)
    if not folder.exists():
        print(f"training the default reward model into {folder} (about a minute or two)...")
    folder = ensure_default_reward_model(seed=seed)
    info = RewardModel.metadata(folder)
    print(
        f"default reward model ({info['labeler']} labeler, {info['n_pairs']} pairs): held-out "
        f"accuracy {info['accuracy']:.3f}, Bayes-optimal {info['bayes_optimal_accuracy']:.3f} "
        f"on {info['n_eval_pairs']} pairs -> {folder}"
    )
    return 0


def run_label(args: argparse.Namespace) -> int:
    """Label pairs of tiny-LM responses in the terminal, appending to a JSONL file."""
    from rlhf_edu.rlhf.labeling import label_in_terminal

    if not sys.stdin.isatty():
        print(
            "rlhf-edu label: reading choices from standard input (not a terminal)", file=sys.stderr
        )
    label_in_terminal(args.out, n=args.n, seed=args.seed)
    return 0
