"""Run by test_accelerate_ppo.py as two processes (``torchrun --nproc_per_node 2``).

Each process trains the tiny random GPT-2 for two PPO updates on its own prompts (checkpointing
after each), then a fresh trainer resumes from the first update's checkpoint and trains to two
updates again. Each process writes both runs' parameter checksums and metrics to
``OUT/rank<k>.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from accelerate import Accelerator
from helpers.tiny_gpt2 import PROMPTS, letter_reward, tiny_policy, tiny_tokenizer

from rlhf_edu.rlhf.ppo import RLHFPPOConfig, RLHFPPOTrainer


def main(out: Path) -> None:
    torch.set_num_threads(1)
    accelerator = Accelerator(cpu=True)
    config = RLHFPPOConfig(batch_size=4, max_new_tokens=6, ppo_epochs=2, learning_rate=1e-3)

    def make_trainer() -> RLHFPPOTrainer:
        return RLHFPPOTrainer(
            tiny_policy(),
            tiny_tokenizer(),
            letter_reward,
            PROMPTS,
            config,
            seed=0,
            accelerator=accelerator,
        )

    trainer = make_trainer()
    history = trainer.train(2, checkpoint_dir=out / "ckpt", checkpoint_every=1)
    params = torch.cat([p.detach().flatten() for p in trainer._unwrapped().parameters()])

    # resume from the checkpoint written after update 1 (every rank reads rank 0's file)
    resumed = make_trainer()
    resumed.load(out / "ckpt" / "ckpt-000000001.pt")
    resumed_update = resumed.update_index
    resumed.train(2)
    resumed_params = torch.cat([p.detach().flatten() for p in resumed._unwrapped().parameters()])
    initial = torch.cat([p.detach().flatten() for p in tiny_policy().parameters()])
    record = {
        "rank": accelerator.process_index,
        "world_size": accelerator.num_processes,
        "param_sum": float(params.double().sum()),
        "param_abs_sum": float(params.double().abs().sum()),
        "changed": bool(
            trainer.policy.transformer.wte.weight.ne(tiny_policy().transformer.wte.weight).any()
        ),
        "n_initial": int(initial.numel()),
        "responses": trainer.rollout(
            PROMPTS[:2], torch.Generator().manual_seed(accelerator.process_index)
        ).responses,
        "history": history.rows,
        "resumed_update": resumed_update,
        "resumed_param_sum": float(resumed_params.double().sum()),
        "resumed_equal": bool(torch.equal(params, resumed_params)),
        "resumed_history": resumed.history.rows,
    }
    (out / f"rank{accelerator.process_index}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
