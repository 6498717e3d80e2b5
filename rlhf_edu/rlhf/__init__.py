"""The RLHF track: a tiny GPT-2, preferences, reward models, PPO for language models, DPO.

Modules, one concept each: ``corpus``, ``lm`` (the tiny GPT-2), ``generation``, ``preferences``,
``labeling``, ``reward_model``, ``kl_control``, ``ppo``, ``dpo``, ``best_of_n``, ``sft``,
``grpo``, ``rloo``, ``overoptimization`` (Gao et al.'s fits), ``sample_quality`` (distinct-n),
``compute_cost`` (FLOPs, energy and person cost), ``feedback`` (a package: every form of human
feedback, annotators, cost, personalisation).

The names below are imported from their modules on first use, so ``import rlhf_edu.rlhf`` (and
``from rlhf_edu.rlhf.kl_control import ...``) loads neither torch nor transformers until a name
that needs them is used.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> the module that defines it
_EXPORTS = {
    "generate_corpus": "corpus",
    "sample_prompts": "corpus",
    "default_cache_dir": "lm",
    "load_lm": "lm",
    "load_tiny_lm": "lm",
    "PreferencePair": "preferences",
    "bayes_optimal_accuracy": "preferences",
    "get_labeler": "preferences",
    "read_preferences": "preferences",
    "write_preferences": "preferences",
    "RewardModel": "reward_model",
    "bradley_terry_loss": "reward_model",
    "load_default_reward_model": "reward_model",
    "pairwise_accuracy": "reward_model",
    "train_reward_model": "reward_model",
    "best_of_n": "best_of_n",
    "best_of_n_kl": "best_of_n",
    "DPOConfig": "dpo",
    "dpo_loss": "dpo",
    "train_dpo": "dpo",
    "AdaptiveKLController": "kl_control",
    "FixedKLController": "kl_control",
    "adaptive_kl_update": "kl_control",
    "RLHFPPOConfig": "ppo",
    "RLHFPPOTrainer": "ppo",
    "clipped_policy_loss": "ppo",
    "clipped_value_loss": "ppo",
    "kl_penalized_rewards": "ppo",
    "token_gae": "ppo",
    "whiten": "ppo",
    "GRPOConfig": "grpo",
    "GRPOTrainer": "grpo",
    "group_advantages": "grpo",
    "RLOOConfig": "rloo",
    "RLOOTrainer": "rloo",
    "rloo_advantages": "rloo",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
